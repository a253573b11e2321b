"""Checkpoints that never lose work (issue: integrity by content, preemption, one writer per run), end to end through
scripts/pretrain.py on the tiny config of test_pretrain.py. Each case starts from the reproduction that found it:
- a corrupt newest checkpoint is moved to checkpoints/corrupt/ and never pruned into the only copy; pruning keeps the verified one;
- every checkpoint corrupt: refused (exit 2), never a silent restart from step 0;
- SIGTERM / SIGINT: the step finishes, a complete checkpoint is written, exit 143 / 130; resuming is bit-identical; also on 2 ranks;
- one writer: a second launch on a live run's folder exits 2 naming the holder; a dead holder's lock is taken over with a warning;
- export refuses a corrupt checkpoint and skips a corrupt newest one of a run folder;
- a changed optimizer.lr on resume is applied from the next step and said;
- a full disk is one line naming the folder; the previous checkpoint stays;
- small ones: an empty COMPLETE.json, an output_dir that is a file, a pickle planted in a checkpoint."""
import os, sys, json, math, shutil, signal, socket, subprocess
from pathlib import Path
import pytest, torch
from conftest import ROOT, OFFLINE, run_script
from test_pretrain import SCRIPT, STEPS, SAVE, TINY, args, weights, same, reference  # noqa: F401 (the reference fixture)
from launch_util import accelerate, run, start
from neobert.checkpoint import sha256_file, verify_checkpoint, MARKER

HOOKED = ROOT / "tests" / "hooked_pretrain.py"

def ckpts(out): return sorted((p.name for p in (Path(out) / "checkpoints").glob("step-*")), key=lambda n: int(n.split("-")[1]))
def corrupt(out): return sorted(p.name for p in (Path(out) / "checkpoints" / "corrupt").iterdir()) if (Path(out) / "checkpoints" / "corrupt").exists() else []
def flip_byte(f, at=-100):
    b = bytearray(Path(f).read_bytes()); b[at] ^= 0xFF; Path(f).write_bytes(bytes(b))

def test_corrupt_newest_is_moved_aside_and_pruning_keeps_the_verified_one(reference, tmp_path):
    "step-12 flipped (same size), save_total_limit 1: resume from step-9, step-12 kept in corrupt/, the rewritten step-12 is the reference's."
    out = tmp_path / "run"; shutil.copytree(reference, out)
    good12 = weights(reference)
    flip_byte(out / "checkpoints" / f"step-{STEPS}" / "model.safetensors")
    r = run_script(*args(out, steps=STEPS + SAVE), "--trainer.save_total_limit", "1")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "skipping checkpoint" in r.stderr and "model.safetensors do not match" in r.stderr and "corrupt/step-12" in r.stderr, r.stderr[-2000:]
    assert f"resumed from {out / 'checkpoints' / f'step-{STEPS - SAVE}'}" in r.stdout
    assert ckpts(out) == [f"step-{STEPS + SAVE}"] and corrupt(out) == [f"step-{STEPS}"]
    verify_checkpoint(out / "checkpoints" / f"step-{STEPS + SAVE}")
    r2 = run_script(*args(tmp_path / "control", steps=STEPS))                     # where the new step-12 must have been: the reference
    assert r2.returncode == 0
    assert same(good12, weights(tmp_path / "control"))
    # before the fix, pruning judged by sizes: the flipped file kept its size (negative control for the size check)
    verify_checkpoint(out / "checkpoints" / "corrupt" / f"step-{STEPS}", hashes=False)

def test_every_checkpoint_corrupt_is_refused(reference, tmp_path):
    "The two newest (all) corrupt: exit 2 with one line; both kept in corrupt/; metrics.jsonl untouched (no steps 1-12 then 1-8)."
    out = tmp_path / "run"; shutil.copytree(reference, out)
    for s in (STEPS - SAVE, STEPS): flip_byte(out / "checkpoints" / f"step-{s}" / "model.safetensors")
    before = (out / "metrics.jsonl").read_text()
    r = run_script(*args(out, steps=STEPS + 4))
    assert r.returncode == 2, r.stderr[-2000:]
    assert "refusing to start over from step 0" in r.stderr and "Traceback" not in r.stderr
    assert corrupt(out) == [f"step-{STEPS}", f"step-{STEPS - SAVE}"] and ckpts(out) == []
    assert (out / "metrics.jsonl").read_text() == before
    r = run_script(*args(out, steps=STEPS + 4))                                   # and again: still refused, not restarted
    assert r.returncode == 2 and "refusing to start over" in r.stderr

def _signal_at(out, sig, at, extra=()):
    "Run the script, send `sig` once the log shows step `at`; return (returncode, stdout, stderr)."
    p = subprocess.Popen([sys.executable, *map(str, args(out)), *extra], cwd=ROOT, env={**os.environ, **OFFLINE},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in p.stdout:
        lines.append(line)
        if line.startswith(f"[train] step {at} "): p.send_signal(sig); break
    o, e = p.communicate(timeout=300)
    return p.returncode, "".join(lines) + o, e

@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_signal_saves_then_resume_is_bit_identical(reference, tmp_path, sig, code):
    out = tmp_path / "run"
    rc, o, e = _signal_at(out, sig, 4)                                            # step 4: no periodic checkpoint (every 3)
    assert rc == code, (rc, e[-2000:])
    assert "Traceback" not in e and f"stopped by {sig.name} after step" in e, e[-2000:]
    at = int(e.split("after step ")[1].split(":")[0])
    assert 4 <= at < STEPS and ckpts(out)[-1] == f"step-{at}", (at, ckpts(out))
    verify_checkpoint(out / "checkpoints" / f"step-{at}")
    if sig == signal.SIGINT: return                                               # the resume is the same code path as SIGTERM's
    r = run_script(*args(out))
    assert r.returncode == 0 and f"resumed from {out / 'checkpoints' / f'step-{at}'}" in r.stdout, r.stderr[-2000:]
    assert same(weights(out), weights(reference)), "signal, checkpoint and resume differ from the uninterrupted run"

def test_sigterm_on_two_ranks(tmp_path):
    "SIGTERM to the launcher (as a scheduler sends it): both ranks stop at the same step with one complete checkpoint; resuming ends bit-identical to an uninterrupted 2-rank run."
    steps, ref, out = 8, tmp_path / "ref", tmp_path / "run"
    r = run(accelerate(*args(ref, steps=steps)), timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    p = start(accelerate(*args(out, steps=steps)))
    for line in p.stdout:
        if line.startswith("[train] step 2 "): p.send_signal(signal.SIGTERM); break
    o, e = p.communicate(timeout=300)
    assert p.returncode != 0 and "stopped by SIGTERM after step" in e, e[-3000:]
    at = int(e.split("stopped by SIGTERM after step ")[1].split(":")[0])
    assert ckpts(out)[-1] == f"step-{at}" and at < steps
    verify_checkpoint(out / "checkpoints" / f"step-{at}")
    assert sorted(p.name for p in (out / "checkpoints" / f"step-{at}" / "data").iterdir()) == ["rank-0.json", "rank-1.json"]
    r = run(accelerate(*args(out, steps=steps)), timeout=600)
    assert r.returncode == 0 and f"resumed from {out / 'checkpoints' / f'step-{at}'}" in r.stdout, r.stderr[-3000:]
    assert same(weights(out, steps), weights(ref, steps))

def test_one_writer_per_run_folder(tmp_path):
    out = tmp_path / "run"
    p = subprocess.Popen([sys.executable, *map(str, args(out, steps=100000)), "--trainer.save_steps", "100000"], cwd=ROOT,
                         env={**os.environ, **OFFLINE}, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in p.stdout:
        if line.startswith("[train] step 1 "): break
    r = run_script(*args(out, steps=4))                                           # a second launch on the live run's folder
    holder = json.loads((out / "run.lock").read_text())
    p.send_signal(signal.SIGKILL); p.wait(); p.stdout.close()
    assert r.returncode == 2 and f"in use by pid {p.pid}" in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert holder["pid"] == p.pid and holder["host"] == socket.gethostname()
    assert not (out / "checkpoints").exists() or not ckpts(out)                   # the refused launch wrote nothing
    r = run_script(*args(out, steps=4))                                           # the holder died (kill -9): its lock is stale
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"took over the stale lock {out / 'run.lock'} of pid {p.pid}" in r.stderr
    assert not (out / "run.lock").exists()                                        # released at the end
    steps = [json.loads(l)["step"] for l in (out / "metrics.jsonl").read_text().splitlines() if '"train"' in l]
    assert steps == [1, 2, 3, 4]                                                  # the killed attempt's records are gone

def test_export_refuses_corrupt_checkpoints(reference, tmp_path):
    run = tmp_path / "run"; shutil.copytree(reference, run)
    f = run / "checkpoints" / f"step-{STEPS}" / "model.safetensors"
    b = bytearray(f.read_bytes()); b[-4096:] = bytes(4096); f.write_bytes(bytes(b))     # zero 4 KiB: same size
    r = run_script(ROOT / "scripts" / "export.py", run / "checkpoints" / f"step-{STEPS}", tmp_path / "e1")
    assert r.returncode == 2 and "model.safetensors do not match" in r.stderr and not (tmp_path / "e1" / "model.safetensors").exists(), r.stderr[-2000:]
    r = run_script(ROOT / "scripts" / "export.py", run, tmp_path / "e2")          # a run folder: the newest verified checkpoint
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"skipping checkpoint {run / 'checkpoints' / f'step-{STEPS}'}" in r.stderr
    from safetensors.torch import load_file
    exported, good9 = load_file(tmp_path / "e2" / "model.safetensors"), weights(reference, STEPS - SAVE)
    assert all(torch.equal(exported[k], good9[k]) for k in exported if k in good9) and any(k in good9 for k in exported)

def test_changed_lr_on_resume_is_applied(reference, tmp_path):
    out = tmp_path / "run"; shutil.copytree(reference, out); shutil.rmtree(out / "checkpoints" / f"step-{STEPS}")
    r = run_script(*args(out), "--optimizer.lr", "3e-2")
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"optimizer.lr changed from 0.003 to 0.03 since step-{STEPS - SAVE}: applied from step {STEPS - SAVE + 1}" in r.stderr
    from neobert.config import load_config
    from neobert.train import lr_at
    cfg = load_config(ROOT / "configs" / "pretrain_tiny.yaml", [str(a) for a in args(out)[3:]])
    lrs = {json.loads(l)["step"]: json.loads(l)["lr"] for l in (out / "metrics.jsonl").read_text().splitlines() if '"train"' in l}
    for s in range(1, STEPS + 1):
        peak = 3e-2 if s > STEPS - SAVE else 3e-3
        assert math.isclose(lrs[s], peak * lr_at(s - 1, cfg.scheduler, STEPS, 1.0), rel_tol=1e-9), (s, lrs[s])
    assert not same(weights(out), weights(reference))                            # negative control: the new lr changed the training

def test_full_disk_is_one_line(tmp_path):
    mnt = tmp_path / "small"; mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=36m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root): the full-disk case is tested in 05a_checkpoint only")
    try:
        out = mnt / "run"
        # untied: one checkpoint (~24 MB) fits, two do not (tied, a checkpoint is half that)
        r = run_script(*args(out, steps=6), "--trainer.save_total_limit", "1", "--model.tie_word_embeddings", "false")
        assert r.returncode == 2, r.stderr[-2000:]
        assert "Traceback" not in r.stderr and f"no space left in {out / 'checkpoints'} for checkpoint step-6" in r.stderr, r.stderr[-2000:]
        assert f"step-3 is intact" in r.stderr and ckpts(out) == ["step-3"] and not list((out / "checkpoints").glob(".tmp-*"))
        verify_checkpoint(out / "checkpoints" / "step-3")
    finally: subprocess.run(["umount", str(mnt)])

def test_small_cases(reference, tmp_path):
    "An empty COMPLETE.json falls back; an output_dir that is a file exits 2; a pickle planted in a checkpoint is refused unread."
    out = tmp_path / "empty_marker"; shutil.copytree(reference, out)
    (out / "checkpoints" / f"step-{STEPS}" / MARKER).write_text("{}")
    r = run_script(*args(out, steps=STEPS + 1))
    assert r.returncode == 0 and "unreadable or empty COMPLETE.json" in r.stderr and f"resumed from {out / 'checkpoints' / f'step-{STEPS - SAVE}'}" in r.stdout, r.stderr[-2000:]
    (tmp_path / "a_file").write_text("x")
    for bad in (tmp_path / "a_file", tmp_path / "a_file" / "below"):
        r = run_script(*args(bad, steps=2))
        assert r.returncode == 2 and "Traceback" not in r.stderr and f"trainer.output_dir {bad}" in r.stderr, r.stderr[-2000:]
    out = tmp_path / "pickled"; shutil.copytree(reference, out)
    ck = out / "checkpoints" / f"step-{STEPS}"
    import types
    torch.save(types.SimpleNamespace(x=1), ck / "optimizer.pt")                  # not a plain tensor file: unpickling would run its code
    m = json.loads((ck / MARKER).read_text()); m["files"]["optimizer.pt"] = dict(size=(ck / "optimizer.pt").stat().st_size, sha256=sha256_file(ck / "optimizer.pt"))
    (ck / MARKER).write_text(json.dumps(m))                                       # a planted file with a matching marker
    r = run_script(*args(out, steps=STEPS + 1))
    assert r.returncode == 2 and "refused unread" in r.stderr and "weights_only=False" not in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]

def test_loss_spike_policies(tmp_path, capsys):
    "A loss made 50x at step 8: off applies it; skip drops that update; rollback returns to step-6 and goes on with the next data; no spike, no action."
    from neobert.config import load_config
    from neobert.train import pretrain, TrainHooks
    def spike_once():                                                             # as a bad batch would: once, not at every step 8
        seen = set()
        return TrainHooks(loss_scale=lambda s: 50.0 if s == 8 and not seen and not seen.add(s) else 1.0)
    base = [str(a) for a in args(tmp_path / "x", steps=10)[3:]] + ["--trainer.loss_spike_window", "4"]
    def run(name, *extra, hooks=None):
        cfg = load_config(ROOT / "configs" / "pretrain_tiny.yaml", base + ["--trainer.output_dir", str(tmp_path / name), *extra])
        return pretrain(cfg, hooks or spike_once()), tmp_path / name
    (off, d_off), (skip, d_skip) = run("off"), run("skip", "--trainer.loss_spike_policy", "skip")
    (rb, d_rb), (quiet, d_quiet) = run("rollback", "--trainer.loss_spike_policy", "rollback"), run("quiet", "--trainer.loss_spike_policy", "rollback", hooks=TrainHooks())
    err = capsys.readouterr().err
    assert (off["skipped_steps"], skip["skipped_steps"], rb["rollbacks"], quiet["rollbacks"]) == (0, 1, 1, 0)
    assert "loss spike at step 8" in err and "update skipped" in err and "rolled back to step-6; the data of steps 7-8 is skipped" in err, err[-2000:]
    assert not same(weights(d_skip, 10), weights(d_off, 10))                      # skipping the spiked update changed the run
    recs = [json.loads(l) for l in (d_rb / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs if r["split"] == "train"] == list(range(1, 11))      # no step logged twice
    assert [(r["step"], r["rolled_back_from"]) for r in recs if r["split"] == "event"] == [(6, 8)]
    assert rb["steps"] == 10 and math.isfinite(rb["val_mlm_loss"])

def test_skipped_rows_are_reported(tmp_path):
    "Empty and malformed rows of a local file: counted in the log lines, the summary and the closing lines."
    rows = [json.dumps({"text": f"document number {i} about cats, dogs and the weather in the valley."}) for i in range(40)]
    rows[5], rows[9], rows[14] = json.dumps({"text": ""}), json.dumps({"text": None}), json.dumps({"text": 7})
    (tmp_path / "train.jsonl").write_text("\n".join(rows) + "\n")
    out = tmp_path / "run"
    r = run_script(*args(out, steps=3), "--data.source", "files", "--data.train_file", tmp_path / "train.jsonl", "--data.validation_fraction", "0.25")
    assert r.returncode == 0, r.stderr[-2000:]
    s = json.loads((out / "summary.json").read_text())
    ds = s["data_stats"]
    assert ds["skipped_empty"] + ds["bad_rows"] == s["skipped_rows"] > 0, ds
    assert f"rows skipped ({ds['skipped_empty']:,} empty, {ds['bad_rows']:,} malformed)" in r.stdout
    assert "| skipped_rows " in r.stdout                                          # in the log lines too

def test_tied_embeddings_resume_and_export(tmp_path):
    """model.tie_word_embeddings: checkpoints hold the shared matrix once; a resume ends bit-identical to the
    uninterrupted run; resuming untied is refused in one line; the export unties (the hub layout: two equal matrices)."""
    tie, steps = ["--model.tie_word_embeddings", "true"], 2 * SAVE
    ref, out = tmp_path / "ref", tmp_path / "run"
    r = run_script(*args(ref, steps=steps), *tie)
    assert r.returncode == 0, r.stderr[-2000:]
    shutil.copytree(ref, out); shutil.rmtree(out / "checkpoints" / f"step-{steps}")  # as if stopped after step SAVE
    r = run_script(*args(out, steps=steps), *tie)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"resumed from {out / 'checkpoints' / f'step-{SAVE}'}" in r.stdout
    w = weights(out, steps)
    assert "decoder.weight" not in w and same(w, weights(ref, steps))
    assert not same(w, weights(ref, SAVE))                                      # negative control: another step differs
    r = run_script(*args(out, steps=steps + 1), "--model.tie_word_embeddings", "false")   # the same run, untied
    assert r.returncode == 2 and "model.tie_word_embeddings: checkpoint True vs now False" in r.stderr, r.stderr[-2000:]
    r = run_script(ROOT / "scripts" / "export.py", out, tmp_path / "export")
    assert r.returncode == 0, r.stderr[-2000:]
    from safetensors.torch import load_file
    e = load_file(tmp_path / "export" / "model.safetensors")
    emb = next(k for k in e if k.endswith("encoder.weight") and "transformer" not in k)
    assert torch.equal(e["decoder.weight"], e[emb]) and torch.equal(e[emb], w["model.encoder.weight"])
