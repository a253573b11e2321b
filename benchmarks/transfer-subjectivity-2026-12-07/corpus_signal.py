"""Does the pretraining corpus carry the signal a task needs? (issue 21)

Word vectors trained on the embedded corpus alone (gensim's word2vec, skip-gram, 64 dimensions: the strongest cheap way
to take word meaning from 0.9M words), averaged over a sentence's words, with a logistic regression on the labelled
sentences (C picked on dev), against the bag-of-words reference with no pretraining (`neobert.transfer.bag_of_words`),
on the transfer check's own splits. Run from the repository root:

    python benchmarks/transfer-subjectivity-2026-12-07/corpus_signal.py

writes corpus_signal.json beside this file."""
import json, re, sys
from pathlib import Path
import numpy as np
from gensim.models import Word2Vec
from sklearn.linear_model import LogisticRegression
from neobert.data import prepare_embedded_corpus
from neobert.transfer import load_snippets, split_snippets, bag_of_words

PARTS = ["wikipedia", "news", "speeches", "debates"]          # configs/pretrain_tiny.yaml
tok = lambda s: re.findall(r"[a-z']+|[.,!?;]", s.lower())

def sentences(path):
    for line in open(path):
        for s in re.split(r"(?<=[.!?])\s+", json.loads(line)["text"]): yield tok(s)

def mean_vectors(wv, texts):
    return np.array([np.mean([wv[w] for w in tok(t) if w in wv] or [np.zeros(wv.vector_size)], 0) for t in texts])

def nbow(wv, sp):
    x = {k: mean_vectors(wv, sp[k][0]) for k in ("train", "dev", "test")}
    fits = [LogisticRegression(C=c, max_iter=3000).fit(x["train"], sp["train"][1]) for c in (0.1, 1, 10, 100)]
    best = max(fits, key=lambda f: f.score(x["dev"], sp["dev"][1]))
    return float(best.score(x["test"], sp["test"][1]))

if __name__ == "__main__":
    corpus = [s for s in sentences(prepare_embedded_corpus(parts=PARTS, progress=False)["train"]) if s]
    wv = Word2Vec(corpus, vector_size=64, window=5, min_count=3, workers=2, epochs=5, sg=1, seed=0).wv
    out = dict(parts=PARTS, corpus_words=sum(map(len, corpus)), vocabulary=len(wv), tasks={})
    for task in ("subjectivity", "polarity"):
        texts, labels = load_snippets(task=task)
        for n in (250, 500):
            sp = split_snippets(texts, labels, n, 1000, 4000, 0)
            out["tasks"][f"{task}_n{n}"] = dict(word2vec_mean=nbow(wv, sp), bag_of_words=bag_of_words(sp)["test"])
    out["neighbours"] = {w: [x for x, _ in wv.most_similar(w, topn=6)] for w in ("good", "boring", "brilliant", "city")
                         if w in wv}
    Path(__file__).with_name("corpus_signal.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))
