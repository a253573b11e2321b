"GLUE end to end through scripts/glue.py and scripts/summarize_glue.py, on local files and a tiny NeoBERT checkpoint."
import csv, json, math, random
from pathlib import Path
import numpy as np
import pytest
import torch
from conftest import ROOT, run_script, tiny_checkpoint

ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}   # tiny models: one thread beats several on a busy CPU
TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, vocab_size=30522, max_length=512)

def glue(*args, **kw):
    return run_script(ROOT/"scripts"/"glue.py", *args, env=ONE_THREAD, **kw)

def write(path, rows, delimiter=None):
    path = Path(path)
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows)); return path
    with open(path, "w", newline="") as f:
        tsv = path.suffix == ".tsv"
        w = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter="\t" if tsv else ",", quoting=csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL)
        w.writeheader(); w.writerows(rows)
    return path

FILLER = "the a movie film plot actor scene story was it this and with of to in very quite rather".split()
POS, NEG = "good great excellent wonderful superb lovely".split(), "bad awful terrible boring dreadful poor".split()

def sentiment(n, seed, p_pos=0.35):
    "Learnable toy sentences: filler words plus one cue word that decides the label (65% negative)."
    r = random.Random(seed); out = []
    for _ in range(n):
        y = int(r.random() < p_pos)
        w = r.choices(FILLER, k=r.randint(5, 10)); w.insert(r.randint(0, len(w)), r.choice(POS if y else NEG))
        out.append((" ".join(w), y))
    return out

@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    "A tiny NeoBERT saved like a pretraining checkpoint: NeoBERTLMHead weights + tokenizer files."
    return tiny_checkpoint(tmp_path_factory.mktemp("pre")/"checkpoints"/"step-5", **TINY)

QUICK = ["--trainer.batch_size", "16", "--optimizer.lr", "2e-3", "--optimizer.weight_decay", "0.01", "--trainer.seed", "0",
         "--glue.eval_per_epoch", "2", "--glue.warmup_ratio", "0.1", "--trainer.progress", "false"]

def test_glue_end_to_end(ckpt, tmp_path):
    tr = write(tmp_path/"train.tsv", [{"sentence": s, "label": y} for s, y in sentiment(400, 0)])
    dev_rows = [{"sentence": s, "label": y} for s, y in sentiment(150, 1)]
    dev = write(tmp_path/"dev.tsv", dev_rows)
    out = tmp_path/"runs"
    r = glue("--config", "configs/glue/sst2.yaml", "--model.name_or_path", ckpt, "--data.train_file", tr, "--data.validation_file", dev,
             "--trainer.output_dir", out/"sst2", "--trainer.num_epochs", "3", *QUICK)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((out/"sst2"/"results.json").read_text())
    hp = res["hyperparameters"]
    assert (res["task"], res["model"], res["finished"]) == ("sst2", str(ckpt), True)
    assert (hp["batch_size"], hp["lr"], hp["weight_decay"], hp["num_epochs"], hp["seed"]) == (16, 2e-3, 0.01, 3, 0)
    assert hp["total_steps"] == 3 * math.ceil(400 / 16) and hp["eval_interval"] == math.ceil(400 / 16) // 2
    assert len(res["evaluations"]) == hp["total_steps"] // hp["eval_interval"] + (hp["total_steps"] % hp["eval_interval"] > 0)
    at_best = next(e for e in res["evaluations"] if e["step"] == res["best_step"])
    assert at_best["metrics"] == res["best"] and at_best["score"] == max(e["score"] for e in res["evaluations"])
    assert res["best"]["accuracy"] > res["majority_baseline"]["accuracy"] + 0.1, (res["best"], res["majority_baseline"])
    # the saved best checkpoint (safetensors only) reproduces the recorded accuracy, computed by scikit-learn
    best = out/"sst2"/"best"
    assert (best/"model.safetensors").exists() and not list(best.glob("*.bin")) and not list(best.glob("*.pt"))
    from sklearn.metrics import accuracy_score
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    import neobert.model  # registers the Auto classes
    m = AutoModelForSequenceClassification.from_pretrained(best).eval(); tok = AutoTokenizer.from_pretrained(best)
    with torch.no_grad():
        enc = tok([d["sentence"] for d in dev_rows], padding=True, return_tensors="pt")
        pred = m(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits.argmax(-1).numpy()
    assert accuracy_score([d["label"] for d in dev_rows], pred) == res["best"]["accuracy"]
    assert "glue:" in (out/"sst2"/"config.yaml").read_text()

    # a regression task (STS-B shape, jsonl) and a task of one's own declared in YAML (csv with label names)
    def sts(n, seed):
        r = random.Random(seed); rows = []
        for _ in range(n):
            a = r.choices(FILLER + POS, k=6); k = r.randint(0, 6)
            b = a[:k] + r.choices(NEG, k=6 - k)
            rows.append({"sentence1": " ".join(a), "sentence2": " ".join(b), "label": 5 * k / 6, "idx": 0})
        return rows
    write(tmp_path/"sts_train.jsonl", sts(200, 2)); write(tmp_path/"sts_dev.jsonl", sts(80, 3))
    r = glue("--config", "configs/glue/stsb.yaml", "--model.name_or_path", ckpt, "--data.train_file", tmp_path/"sts_train.jsonl",
             "--data.validation_file", tmp_path/"sts_dev.jsonl", "--trainer.output_dir", out/"stsb", "--trainer.num_epochs", "1", *QUICK)
    assert r.returncode == 0, r.stderr[-3000:]
    sres = json.loads((out/"stsb"/"results.json").read_text())
    assert set(sres["best"]) == {"pearson", "spearmanr"} and sres["hyperparameters"]["total_steps"] == math.ceil(200 / 16)

    (tmp_path/"reviews.yaml").write_text(f"extends: {ROOT/'configs'/'glue'/'base.yaml'}\n"
        "glue:\n  task: reviews\n  text_columns: [review]\n  label_column: verdict\n  label_names: [rotten, fresh]\n  metrics: [accuracy, f1]\n")
    rv = lambda n, s: [{"review": t, "verdict": ["rotten", "fresh"][y]} for t, y in sentiment(n, s)]
    write(tmp_path/"rv_train.csv", rv(160, 4)); write(tmp_path/"rv_dev.csv", rv(60, 5))
    r = glue("--config", tmp_path/"reviews.yaml", "--model.name_or_path", ckpt, "--data.train_file", tmp_path/"rv_train.csv",
             "--data.validation_file", tmp_path/"rv_dev.csv", "--trainer.output_dir", out/"reviews", "--trainer.num_epochs", "1", *QUICK)
    assert r.returncode == 0, r.stderr[-3000:]
    cres = json.loads((out/"reviews"/"results.json").read_text())
    assert set(cres["best"]) == {"accuracy", "f1"}
    assert json.loads((out/"reviews"/"best"/"config.json").read_text())["id2label"] == {"0": "rotten", "1": "fresh"}

    # the summary table: best per task x100, two-metric tasks averaged, the paper beside, md + csv + png
    r = run_script(ROOT/"scripts"/"summarize_glue.py", out)
    assert r.returncode == 0, r.stderr[-3000:]
    acc = 100 * res["best"]["accuracy"]; sts_score = 100 * (sres["best"]["pearson"] + sres["best"]["spearmanr"]) / 2
    assert f"| SST-2 | acc | {acc:.1f} | 95.6 |" in r.stdout, r.stdout
    assert f"| STS-B | Pearson/Spearman | {sts_score:.1f} (" in r.stdout and "| 91.8 |" in r.stdout, r.stdout
    assert "| reviews | acc/F1 |" in r.stdout and "**GLUE average**" in r.stdout
    rows = {row["task"]: row for row in csv.DictReader(open(out/"glue_summary.csv"))}
    assert set(rows) == {"sst2", "stsb", "reviews", "average"}
    assert float(rows["sst2"]["score"]) == pytest.approx(acc, abs=0.006) and rows["sst2"]["NeoBERT-4096 (paper)"] == "95.6"
    assert rows["average"]["score"] == "–"                 # 2 of the 8 GLUE tasks: no GLUE average
    assert (out/"glue_summary.md").read_text().strip() == r.stdout.strip()
    assert (out/"glue_summary.png").stat().st_size > 1000

def test_grid_then_transfer(ckpt, tmp_path):
    "A 2-point grid on an MNLI-shaped task (every run recorded), then RTE starting from the grid's best MNLI model."
    rows = lambda n, s: [{"premise": t, "hypothesis": "so it was", "label": 2 * y, "idx": i} for i, (t, y) in enumerate(sentiment(n, s))]
    write(tmp_path/"mnli_train.jsonl", rows(160, 6)); write(tmp_path/"mnli_m.jsonl", rows(50, 7)); write(tmp_path/"mnli_mm.jsonl", rows(40, 8))
    common = ["--model.name_or_path", ckpt, "--trainer.num_epochs", "1", *QUICK]
    grid = tmp_path/"mnli"
    r = glue("--config", "configs/glue/mnli.yaml", "--data.train_file", tmp_path/"mnli_train.jsonl", "--data.validation_file", tmp_path/"mnli_m.jsonl",
             "--glue.validation_mismatched_file", tmp_path/"mnli_mm.jsonl", "--trainer.output_dir", grid, "--glue.grid_lr", "1e-3,3e-3", *common)
    assert r.returncode == 0, r.stderr[-3000:]
    g = json.loads((grid/"grid.json").read_text())
    assert [x["run"] for x in g["runs"]] == ["bs16_lr0.001_wd0.01_seed0", "bs16_lr0.003_wd0.01_seed0"]
    for x in g["runs"]:
        res = json.loads((grid/x["run"]/"results.json").read_text())
        assert res["hyperparameters"]["lr"] == x["hyperparameters"]["optimizer.lr"] and res["finished"]
        assert set(res["best"]) == {"accuracy", "accuracy_mismatched"} and res["num_examples"] == {"train": 160, "validation_matched": 50, "validation_mismatched": 40}
        assert res["best_score"] == pytest.approx((res["best"]["accuracy"] + res["best"]["accuracy_mismatched"]) / 2)
    assert g["best"]["best_score"] == max(x["best_score"] for x in g["runs"])

    write(tmp_path/"rte_train.tsv", [{"sentence1": t, "sentence2": "so", "label": y} for t, y in sentiment(60, 9)])
    write(tmp_path/"rte_dev.tsv", [{"sentence1": t, "sentence2": "so", "label": y} for t, y in sentiment(30, 10)])
    r = glue("--config", "configs/glue/rte.yaml", "--glue.transfer_from", grid, "--data.train_file", tmp_path/"rte_train.tsv",
             "--data.validation_file", tmp_path/"rte_dev.tsv", "--trainer.output_dir", tmp_path/"rte", *common)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((tmp_path/"rte"/"results.json").read_text())
    assert res["init_from"] == str(grid/g["best_run"]/"best") and res["transfer_from"] == str(grid)
    assert res["loading"]["mismatched_keys"] == ["classifier.bias", "classifier.weight"]       # 3-way head -> new 2-way head
    assert res["loading"]["missing_keys"] == [] and res["loading"]["unexpected_keys"] == []   # encoder and dense came from MNLI

    # rerunning a finished grid skips its points; a dry run prints one command per point
    r = glue("--config", "configs/glue/mnli.yaml", "--data.train_file", tmp_path/"mnli_train.jsonl", "--data.validation_file", tmp_path/"mnli_m.jsonl",
             "--trainer.output_dir", grid, "--glue.grid_lr", "1e-3,3e-3", "--glue.grid_dry_run", "true", *common)
    assert r.returncode == 0 and r.stdout.count("--glue.grid_index") == 2, r.stdout + r.stderr[-2000:]

@pytest.mark.parametrize("case", ["missing_column", "bad_label", "unknown_task", "custom_without_files"])
def test_user_errors(ckpt, tmp_path, case):
    good = write(tmp_path/"good.tsv", [{"sentence": "fine", "label": 1}, {"sentence": "bad", "label": 0}])
    args = {"missing_column": ("--config", "configs/glue/mrpc.yaml", "--data.train_file", good, "--data.validation_file", good),
            "bad_label": ("--config", "configs/glue/sst2.yaml", "--data.train_file", good,
                          "--data.validation_file", write(tmp_path/"bad.tsv", [{"sentence": "x", "label": 1}, {"sentence": "y", "label": "maybe"}])),
            "unknown_task": ("--config", "configs/glue/sst2.yaml", "--glue.task", "sst-3"),
            "custom_without_files": ("--config", "configs/glue/sst2.yaml", "--glue.task", "mine", "--glue.text_columns", "text,",
                                     "--glue.num_labels", "3")}[case]
    want = {"missing_column": "column 'sentence1' not found (task mrpc needs sentence1, sentence2, label); columns found: sentence, label",
            "bad_label": "bad.tsv, row 2: label 'maybe' is outside the declared set of task sst2",
            "unknown_task": "unknown GLUE task 'sst-3' (did you mean 'sst2'?)",
            "custom_without_files": "task mine is not a GLUE task: give its files with --data.train_file"}[case]
    r = glue(*args, "--model.name_or_path", ckpt, "--trainer.output_dir", tmp_path/"out")
    assert r.returncode == 2 and want in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert not (tmp_path/"out"/"results.json").exists()

def test_compiled_fine_tuning_matches_eager(ckpt, tmp_path):
    "trainer.compile in fine-tuning (NeoBERT per block, in place): the eager run's evaluations, float32 rounding aside."
    tr = write(tmp_path/"train.tsv", [{"sentence": s, "label": y} for s, y in sentiment(96, 6)])
    dev = write(tmp_path/"dev.tsv", [{"sentence": s, "label": y} for s, y in sentiment(48, 7)])
    res = {}
    for name, extra in (("eager", []), ("compiled", ["--trainer.compile", "true"])):
        r = glue("--config", "configs/glue/sst2.yaml", "--model.name_or_path", ckpt, "--data.train_file", tr, "--data.validation_file", dev,
                 "--trainer.output_dir", tmp_path/name, "--trainer.num_epochs", "1", *QUICK, *extra)
        assert r.returncode == 0, r.stderr[-3000:]
        res[name] = json.loads((tmp_path/name/"results.json").read_text())
    e, c = ([l for ev in res[k]["evaluations"] for l in (ev["train_loss"], *ev["eval_loss"].values())] for k in ("eager", "compiled"))
    assert len(e) == len(c) >= 2 and e[0] != e[-1]                          # several evaluations, and training moved the loss
    assert np.allclose(c, e, rtol=1e-4), (c, e)
    assert (tmp_path/"compiled"/"best"/"model.safetensors").exists()

# ---- GLUE on the training engine: exact resume, the non-finite policy, early stopping (in-process, through TrainHooks)

class Interrupted(Exception): pass

@pytest.fixture
def toy_run(ckpt, tmp_path):
    "run(name, hooks=None, **glue/trainer overrides) -> results of a 2-epoch fine-tune (26 steps, evaluations every 6)."
    from neobert.config import load_config
    from neobert.glue_finetune import run_one
    tr = write(tmp_path/"train.tsv", [{"sentence": s, "label": y} for s, y in sentiment(200, 11)])
    dev = write(tmp_path/"dev.tsv", [{"sentence": s, "label": y} for s, y in sentiment(60, 12)])
    def run(name, hooks=None, glue=None, trainer=None, lr=2e-3):
        cfg = load_config(None, {"glue": {"task": "sst2", "warmup_ratio": 0.1, "eval_per_epoch": 2, **(glue or {})},
                                 "model": {"name_or_path": str(ckpt)},
                                 "data": {"train_file": str(tr), "validation_file": str(dev)},
                                 "trainer": {"num_epochs": 2, "batch_size": 16, "output_dir": str(tmp_path/name),
                                             "progress": False, **(trainer or {})},
                                 "optimizer": {"lr": lr, "weight_decay": 0.01}})
        return run_one(cfg, hooks=hooks)
    threads = torch.get_num_threads(); torch.set_num_threads(1)
    yield run
    torch.set_num_threads(threads)

def weights(folder):
    from safetensors.torch import load_file
    return load_file(Path(folder)/"model.safetensors")

def test_interrupted_fine_tune_resumes_bit_identical(toy_run, tmp_path):
    from neobert.train import TrainHooks
    def stop_at(n):
        def after(step):
            if step == n: raise Interrupted(step)
        return TrainHooks(after_step=after)
    keep = {"keep_checkpoints": True}
    ref = toy_run("ref", glue=keep)
    hp = ref["hyperparameters"]
    assert (hp["total_steps"], hp["eval_interval"], ref["steps"], len(ref["evaluations"])) == (26, 6, 26, 5)
    with pytest.raises(Interrupted): toy_run("cut", stop_at(21), glue=keep)     # after step 21: checkpoint step-18 is the last
    cut = tmp_path/"cut"
    assert max(int(p.name[5:]) for p in (cut/"checkpoints").glob("step-*")) == 18
    partial_res = json.loads((cut/"results.json").read_text())
    assert not partial_res["finished"] and [e["step"] for e in partial_res["evaluations"]] == [6, 12, 18]
    res = toy_run("cut", glue=keep)                                             # the same command again: resumes
    assert res["evaluations"] == ref["evaluations"] and (res["best"], res["best_step"]) == (ref["best"], ref["best_step"])
    a, b = weights(tmp_path/"ref"/"checkpoints"/"step-26"), weights(cut/"checkpoints"/"step-26")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert all(torch.equal(x, weights(cut/"best")[k]) for k, x in weights(tmp_path/"ref"/"best").items())
    # SIGTERM (a preemption) after step 21 writes checkpoint step-21 and stops (exit status 143 from the script)
    import os, signal
    from neobert.checkpoint import Preempted
    sigterm_at_21 = TrainHooks(after_step=lambda s: os.kill(os.getpid(), signal.SIGTERM) if s == 21 else None)
    with pytest.raises(Preempted) as e: toy_run("nodata", sigterm_at_21, glue=keep)
    assert e.value.exit_code == 143 and (tmp_path/"nodata"/"checkpoints"/"step-21").is_dir()
    # negative control: resumed without the data position (epoch 1, batch 8), the same steps see other batches
    toy_run("nodata", TrainHooks(restore_data=False), glue=keep)
    c = weights(tmp_path/"nodata"/"checkpoints"/"step-26")
    assert not all(torch.equal(a[k], c[k]) for k in a)
    # a finished run is reported, not rerun; without glue.keep_checkpoints its checkpoints are removed
    assert toy_run("cut")["finished"] and (cut/"checkpoints").exists()
    assert toy_run("plain")["evaluations"] == ref["evaluations"] and not (tmp_path/"plain"/"checkpoints").exists()

def test_nonfinite_policy_applies_to_fine_tuning(toy_run, tmp_path):
    from neobert.train import TrainHooks, NonFiniteError
    nan_at_3 = TrainHooks(loss_scale=lambda s: float("nan") if s == 3 else 1.0)
    with pytest.raises(NonFiniteError) as e: toy_run("halt", nan_at_3)
    msg = str(e.value)
    assert "non-finite loss (nan)" in msg and "at step 3; stopped (no checkpoint was written yet)" in msg and "\n" not in msg
    assert not (tmp_path/"halt"/"results.json").exists()
    # skip: step 3 is not applied, the run goes on
    res = toy_run("skip", nan_at_3, glue={"keep_checkpoints": True}, trainer={"nonfinite_policy": "skip"})
    assert res["finished"] and res["steps"] == 26 and len(res["evaluations"]) == 5
    state = json.loads((tmp_path/"skip"/"checkpoints"/"step-26"/"trainer_state.json").read_text())
    assert state["skipped_steps"] == 1 and len(state["glue"]["evaluations"]) == 4      # the last one follows the save

def test_early_stopping_ends_the_run(toy_run, tmp_path):
    "A learning rate too small to change a prediction: the score never improves, patience 2 stops at the third evaluation."
    res = toy_run("early", glue={"early_stopping_patience": 2}, lr=1e-12)
    assert res["stopped_early"] and res["finished"] and res["steps"] == 18 < res["hyperparameters"]["total_steps"]
    assert [e["step"] for e in res["evaluations"]] == [6, 12, 18] and res["best_step"] == 6
    assert len({e["score"] for e in res["evaluations"]}) == 1
    assert (tmp_path/"early"/"best"/"model.safetensors").exists() and not (tmp_path/"early"/"checkpoints").exists()
