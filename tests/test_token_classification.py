"Token classification end to end: scripts/token_classification.py on local CoNLL and JSON-lines files, bad input, resume."
import json, random
from pathlib import Path
import pytest, torch
from conftest import ROOT, run_script, tiny_checkpoint

ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, vocab_size=30522, max_length=128)
PEOPLE, PLACES, VERBS = "Maria John Aiko Omar Lena Pedro Chen Fatima".split(), "Paris Lagos Kyoto Lima Oslo Quito".split(), "visited left loves saw".split()

def sentences(n, seed):
    "(words, tags): a person, a verb, a place (sometimes 'New X'), a full stop; IOB2 tags."
    r, out = random.Random(seed), []
    for _ in range(n):
        w = [(r.choice(PEOPLE), "B-PER"), (r.choice(VERBS), "O"), (r.choice(PLACES), "B-LOC"), (".", "O")]
        if r.random() < 0.5: w[2:3] = [("New", "B-LOC"), (w[2][0], "I-LOC")]
        out.append(([x for x, _ in w], [t for _, t in w]))
    return out

def conll(path, sents):
    path.write_text("-DOCSTART- O\n\n" + "\n".join("".join(f"{w}\t{t}\n" for w, t in zip(*s)) for s in sents)); return path

def jsonl(path, sents):
    path.write_text("".join(json.dumps({"tokens": w, "tags": t}) + "\n" for w, t in sents)); return path

@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    "A tiny NeoBERT saved like a pretraining checkpoint (MLM weights and the tokenizer)."
    return tiny_checkpoint(tmp_path_factory.mktemp("pre")/"checkpoints"/"step-5", **TINY)

QUICK = ["--trainer.batch_size", "8", "--trainer.num_epochs", "2", "--optimizer.lr", "2e-3", "--tokens.eval_per_epoch", "2",
         "--trainer.progress", "false"]

def tokens(*args): return run_script(ROOT/"scripts"/"token_classification.py", "--config",
                                     "configs/token_classification/conll2003.yaml", *args, *QUICK, env=ONE_THREAD)

def test_conll_and_jsonl_end_to_end(ckpt, tmp_path):
    "The script on CoNLL files and on the same sentences as JSON lines: the same run, results.json and best/ as promised."
    tr, dev = sentences(64, 0), sentences(16, 1)
    runs = {}
    for kind, write in (("conll", conll), ("jsonl", jsonl)):
        ext = "conll" if kind == "conll" else "jsonl"
        r = tokens("--model.name_or_path", ckpt, "--data.train_file", write(tmp_path/f"train.{ext}", tr),
                   "--data.validation_file", write(tmp_path/f"dev.{ext}", dev), "--trainer.output_dir", tmp_path/kind)
        assert r.returncode == 0, r.stderr[-3000:]
        runs[kind] = json.loads((tmp_path/kind/"results.json").read_text())
        assert json.loads(r.stdout.strip().splitlines()[-1])["best"] == runs[kind]["best"]
    a, b = runs["conll"], runs["jsonl"]
    assert a["finished"] and a["labels"] == ["O", "B-LOC", "B-PER", "I-LOC"] and a["scheme"] == "BIO"
    assert {"accuracy", "precision", "recall", "f1", "f1_PER", "f1_LOC"} <= set(a["best"])
    assert a["evaluations"] == b["evaluations"] and a["best"] == b["best"]     # the two formats are one dataset
    assert a["majority_baseline"]["f1"] == 0.0 and a["num_examples"] == {"train": 64, "validation": 16}
    from transformers import AutoModelForTokenClassification
    best = AutoModelForTokenClassification.from_pretrained(tmp_path/"conll"/"best")
    assert type(best).__name__ == "NeoBERTForTokenClassification" and best.config.label2id["I-LOC"] == 3
    assert not (tmp_path/"conll"/"checkpoints").exists()                     # a finished run keeps no checkpoints
    again = tokens("--model.name_or_path", ckpt, "--data.train_file", tmp_path/"train.conll",
                   "--data.validation_file", tmp_path/"dev.conll", "--trainer.output_dir", tmp_path/"conll")
    assert again.returncode == 0 and "already finished" in again.stderr

def test_bad_input_is_one_line(ckpt, tmp_path):
    (tmp_path/"bad.conll").write_text("Maria\tB-PER\nvisited\nParis\tB-LOC\n")
    good = conll(tmp_path/"dev.conll", sentences(4, 2))
    cases = [(["--data.train_file", tmp_path/"bad.conll", "--data.validation_file", good], "bad.conll, line 2: the word 'visited' has no tag"),
             (["--data.train_file", tmp_path/"none.conll", "--data.validation_file", good], "data file not found"),
             (["--data.train_file", good], "data.validation_file is needed"),
             (["--data.train_file", good, "--data.validation_file", good, "--tokens.tag_column", "x"], "did you mean 'tokens.tags_column'")]
    for args, msg in cases:
        r = tokens("--model.name_or_path", ckpt, *args, "--trainer.output_dir", tmp_path/"out")
        assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr, (args, r.stderr[-2000:])
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr

class Interrupted(Exception): pass

def test_unseen_words_and_tags_are_counted_and_resume_is_exact(ckpt, tmp_path):
    "A tag seen only in validation and sentences longer than max_length are errors in the metrics; an interrupted run resumes bit for bit."
    from neobert.config import load_config
    from neobert.token_finetune import run_tokens
    from neobert.train import TrainHooks
    from safetensors.torch import load_file
    dev = sentences(12, 4) + [(["Tom", "met", "Maria", "in", "Rome"], ["B-MISC", "O", "B-PER", "O", "B-LOC"])]
    tr, dv = conll(tmp_path/"train.conll", sentences(48, 3)), conll(tmp_path/"dev.conll", dev)
    def run(name, hooks=None):
        cfg = load_config(None, {"model": {"name_or_path": str(ckpt)}, "data": {"train_file": str(tr), "validation_file": str(dv)},
                                 "tokens": {"eval_per_epoch": 2, "keep_checkpoints": True},
                                 "trainer": {"num_epochs": 2, "batch_size": 8, "output_dir": str(tmp_path/name), "progress": False},
                                 "optimizer": {"lr": 2e-3}})
        return run_tokens(cfg, hooks=hooks)
    torch.set_num_threads(1)
    ref = run("ref")
    assert ref["coverage"]["validation"]["unknown_tags"] == {"B-MISC": 1} and ref["hyperparameters"]["total_steps"] == 12
    assert any("B-MISC (1)" in n for n in ref["notes"])
    assert all(e["metrics"]["recall"] <= 1 - 1 / 27 for e in ref["evaluations"])     # 27 entities, MISC never found
    def stop_at_7(step):
        if step == 7: raise Interrupted(step)
    with pytest.raises(Interrupted): run("cut", TrainHooks(after_step=stop_at_7))
    res = run("cut")
    assert res["evaluations"] == ref["evaluations"] and res["best"] == ref["best"]
    a, b = (load_file(tmp_path/n/"checkpoints"/"step-12"/"model.safetensors") for n in ("ref", "cut"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    # negative control: resumed without the data position, the same steps train on other batches
    with pytest.raises(Interrupted): run("nodata", TrainHooks(after_step=stop_at_7))
    run("nodata", TrainHooks(restore_data=False))
    c = load_file(tmp_path/"nodata"/"checkpoints"/"step-12"/"model.safetensors")
    assert not all(torch.equal(a[k], c[k]) for k in a)
