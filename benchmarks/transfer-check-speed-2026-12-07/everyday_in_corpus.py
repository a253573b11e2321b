"""How often the pretraining corpus shows each everyday fill-mask sentence's context followed by (or, for a blank near
the start, preceded by) an accepted word: what the embedded default could have learned them from.

    python benchmarks/transfer-check-speed-2026-12-07/everyday_in_corpus.py [SUMMARY_JSON] > everyday_in_corpus.json

Context: the (up to) three words before the blank; where the blank has fewer than two words before it, the two words
after it. Counts are over the prepared training split of data.embedded_parts (configs/pretrain_tiny.yaml), in words
(lowercased, punctuation split off). SUMMARY_JSON (a pretraining run's summary.json) adds whether its first word was an
accepted one."""
import json, re, sys
from pathlib import Path
from collections import Counter
from neobert.config import load_config
from neobert.data import prepare_embedded_corpus
from neobert.train import EVERYDAY

words = lambda s: re.findall(r"\w+|[^\w\s]", s.lower())
cfg = load_config("configs/pretrain_tiny.yaml")
path = prepare_embedded_corpus(cfg.data.cache_dir, progress=False, parts=cfg.data.embedded_parts)["train"]
docs, by_part = [], Counter()
for line in open(path, encoding="utf8"):
    r = json.loads(line); w = words(r["text"]); by_part[r["part"]] += len(w); docs.append(" ".join(w))
first = {}
if len(sys.argv) > 1:
    first = {r["text"]: r["first"] for r in json.load(open(sys.argv[1]))["everyday_fill_mask"]["rows"]}
rows = []
for text, ok in EVERYDAY.items():
    left, right = (words(x) for x in text.split("[MASK]"))
    after = len(left) < 2
    ctx = " ".join(right[:2] if after else left[-3:])
    # the word beside the context, at every (overlapping) place the context stands as whole words
    pat = re.compile(rf"(?<!\S)(?=(\S+) {re.escape(ctx)}(?!\S))" if after else rf"(?<!\S)(?={re.escape(ctx)} (\S+))")
    hits = Counter(w for d in docs for w in pat.findall(d))
    acc = {w: c for w, c in hits.items() if w in ok}
    rows.append(dict(text=text, context=ctx, blank="before" if after else "after",
                     any_word=sum(hits.values()), accepted=sum(acc.values()),
                     accepted_words=dict(sorted(acc.items(), key=lambda x: -x[1])[:5]),
                     most_common=dict(sorted(hits.items(), key=lambda x: -x[1])[:3]), first_accepted=first.get(text)))
rel = Path(path).resolve()
rel = rel.relative_to(Path.cwd()) if rel.is_relative_to(Path.cwd()) else rel
print(json.dumps(dict(corpus=str(rel), words=dict(by_part), rows=rows), indent=1))
