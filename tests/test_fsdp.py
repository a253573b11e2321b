"""FSDP2 for real on CPUs (gloo), as a user launches it: `accelerate launch --config_file configs/accelerate/fsdp2.yaml
--num_processes 2 --mixed_precision no scripts/pretrain.py ...`. One uninterrupted 2-rank run (the module's fixture) is the
reference of every case:
- it really shards: the engine line names the FSDP units, the checkpoint holds the optimizer state per shard (2 DCP files whose
  chunks split each tensor's rows), not an optimizer.pt (what a silent fall-back to DDP writes); the ranks' hashes of the gathered
  weights agree with model.safetensors; it trains as DDP does (close, not bit for bit: the reductions differ);
- SIGKILL mid-way, the same command again: bit-identical final weights; without the data position: not (negative control);
- SIGTERM on 2 ranks: a complete checkpoint (both shards), exit; a second launch on the live run's folder is refused;
- another number of ranks (2 -> 1, 1 -> 2) is refused in one line (the data positions cannot be re-split);
- the sharded optimizer state read whole (what a DDP run resuming it does) equals torch's own conversion of the checkpoint;
- export and GLUE fine-tuning start from the FSDP2 checkpoint; a DeepSpeed launch stops with one line."""
import os, json, random, shutil, signal, hashlib
import pytest, torch
from conftest import ROOT, run_script
from test_pretrain import args as tiny_args, weights, same, TINY

def args(*a, **kw):
    "test_pretrain's tiny run, untied (FSDP2 refuses model.tie_word_embeddings, which configs/pretrain_tiny.yaml sets)."
    return [*tiny_args(*a, **kw), "--model.tie_word_embeddings", "false"]
from test_checkpoints import ckpts, HOOKED
from launch_util import accelerate, run, start as start_launch
from neobert.checkpoint import verify_checkpoint

STEPS, SAVE = 8, 3                                   # args() saves every 3 steps: checkpoints 3, 6, 8

def launch(script_args, config="configs/accelerate/fsdp2.yaml"): return accelerate(*script_args, config=config)

def start(cmd):
    "A launch in its own process group (so that a SIGKILL takes the launcher and its ranks at once, as a node dying)."
    return start_launch(cmd, start_new_session=True)

@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    "An uninterrupted 2-rank FSDP2 run: (run folder, its stdout)."
    out = tmp_path_factory.mktemp("fsdp") / "ref"
    r = run(launch(args(out, steps=STEPS)))
    assert r.returncode == 0, r.stderr[-3000:]
    return out, r.stdout

def test_fsdp2_really_shards(ref):
    out, stdout = ref
    line = next(l for l in stdout.splitlines() if l.startswith("engine:"))
    assert line.startswith("engine: FSDP2 (2 ranks, gloo, params sharded per") and "NeoBERTBlock x2" in line, line
    ck = out / "checkpoints" / f"step-{STEPS}"
    verify_checkpoint(ck)                                              # every shard file is in COMPLETE.json, by content
    assert not (ck / "optimizer.pt").exists()                          # negative control: DDP's layout
    assert sorted(p.name for p in (ck / "optimizer").iterdir()) == [".metadata", "__0_0.distcp", "__1_0.distcp"]
    from torch.distributed.checkpoint import FileSystemReader
    md = FileSystemReader(ck / "optimizer").read_metadata().state_dict_metadata
    exp_avg = md["optimizer.state.model.encoder.weight.exp_avg"]
    assert tuple(exp_avg.size) == (30522, 32) and [tuple(c.offsets) for c in exp_avg.chunks] == [(0, 0), (15261, 0)]
    assert sorted(p.name for p in (ck / "data").iterdir()) == ["rank-0.json", "rank-1.json"]
    # the per-rank hashes are of the gathered weights: equal on both ranks and to the hash of model.safetensors
    s = json.loads((out / "summary.json").read_text())
    h = hashlib.sha256()
    for n, p in sorted(weights(out, STEPS).items()): h.update(n.encode()); h.update(p.float().numpy().tobytes())
    assert [d["weights_sha256"] for d in s["processes_detail"]] == [h.hexdigest()] * 2

LR = float(TINY[TINY.index("--optimizer.lr") + 1])   # test_pretrain's tiny run's peak learning rate

def close(a, b):
    """The same weights up to float rounding: all but 1 in 10,000 elements within rtol 1e-4 / atol 1e-5, and none further
    than one learning rate. Adam scales each element's step by its own gradient size, so an element whose gradient is at
    the rounding level can step either way when the reductions add in another order (a dozen of 2M elements in 8 steps)."""
    def one(x, y):
        off = ~torch.isclose(x, y, rtol=1e-4, atol=1e-5)
        return off.float().mean() <= 1e-4 and (x - y).abs().max() <= LR
    return a.keys() == b.keys() and all(one(a[k], b[k]) for k in a)

def whole_optimizer(ck, tmp):
    "Checkpoint `ck`'s optimizer state keyed by parameter name: torch's own DCP -> torch.save conversion, or optimizer.pt named."
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save
    if (ck / "optimizer").is_dir():
        dcp_to_torch_save(ck / "optimizer", tmp); return torch.load(tmp, weights_only=False)["optimizer"]
    from neobert.config import load_config
    from neobert.model import NeoBERTLMHead
    from neobert.optim import build_optimizer
    from neobert.engines import optimizer_names, optimizer_state_by_name
    model = NeoBERTLMHead.from_pretrained(ck)                       # numbered in the optimizer's order: rebuild it to name them
    names = optimizer_names(model, build_optimizer(model, load_config(ck / "config.yaml", []).optimizer))
    return optimizer_state_by_name(torch.load(ck / "optimizer.pt", weights_only=True), names)

def test_fsdp2_trains_as_ddp_does_and_takes_over_its_checkpoint(ref, tmp_path):
    """The same run under DDP: the same weights up to float rounding (sharded reductions add in another order). DDP's step-6
    checkpoint (optimizer.pt) resumed under FSDP2: its optimizer state and weights at step 8 are DDP's, up to rounding."""
    ddp = tmp_path / "ddp"
    r = run(launch(args(ddp, steps=STEPS), config="configs/accelerate/ddp.yaml"))
    assert r.returncode == 0 and "engine: DDP (2 ranks, gloo)" in r.stdout, r.stderr[-3000:]
    assert close(weights(ref[0], STEPS), weights(ddp, STEPS))
    assert not close(weights(ref[0], 2 * SAVE), weights(ddp, STEPS))       # negative control: two steps apart
    out = tmp_path / "switched"; shutil.copytree(ddp, out); shutil.rmtree(out / "checkpoints" / f"step-{STEPS}")
    r = run(launch(args(out, steps=STEPS)))
    assert r.returncode == 0 and f"resumed from {out / 'checkpoints' / f'step-{2 * SAVE}'}" in r.stdout, r.stderr[-3000:]
    assert close(weights(out, STEPS), weights(ddp, STEPS))
    a = whole_optimizer(out / "checkpoints" / f"step-{STEPS}", tmp_path / "a.pt")
    b = whole_optimizer(ddp / "checkpoints" / f"step-{STEPS}", tmp_path / "b.pt")
    assert set(a["state"]) == set(b["state"]) and len(a["state"]) == len(weights(ddp, STEPS))
    assert all(torch.allclose(a["state"][n]["exp_avg_sq"], b["state"][n]["exp_avg_sq"], rtol=1e-3, atol=1e-12) and
               torch.allclose(a["state"][n]["exp_avg"], b["state"][n]["exp_avg"], rtol=1e-3, atol=1e-8) for n in a["state"])
    other = whole_optimizer(ref[0] / "checkpoints" / f"step-{2 * SAVE}", tmp_path / "c.pt")  # negative control: step 6's moments
    assert not all(torch.allclose(a["state"][n]["exp_avg"], other["state"][n]["exp_avg"], rtol=1e-3, atol=1e-8) for n in a["state"])

def test_sigkill_then_resume_is_bit_identical(ref, tmp_path):
    out, kill_at = tmp_path / "killed", random.Random().randint(SAVE + 1, 2 * SAVE)   # after the first checkpoint
    p = start(launch(args(out, steps=STEPS)))
    for line in p.stdout:
        if line.startswith(f"[train] step {kill_at} "): os.killpg(p.pid, signal.SIGKILL); break
    p.wait(timeout=60); p.stdout.close(); p.stderr.close()
    assert p.returncode == -signal.SIGKILL, f"the run ended before step {kill_at}"
    assert not (out / "checkpoints" / f"step-{STEPS}").exists()
    # the killed ranks' lock may still be going away while we copy: the control run does not need it
    control = tmp_path / "control"; shutil.copytree(out, control, ignore=shutil.ignore_patterns("run.lock"))
    r = run(launch(args(out, steps=STEPS)))
    assert r.returncode == 0, r.stderr[-3000:]
    resumed = [l for l in r.stdout.splitlines() if l.startswith("resumed from")]
    assert resumed and "optimizer" in str(list((out / "checkpoints").glob("step-*/optimizer"))), r.stdout[-2000:]
    assert same(weights(out, STEPS), weights(ref[0], STEPS)), f"killed at step {kill_at}: weights differ from the uninterrupted run"
    # negative control: everything restored but the data position must NOT reproduce the weights
    r = run(launch([HOOKED, '{"restore_data": false}', *args(control, steps=STEPS)[1:]]))
    assert r.returncode == 0, r.stderr[-3000:]
    assert not same(weights(control, STEPS), weights(ref[0], STEPS)), "negative control: weights equal without the data position"

def test_sigterm_on_two_ranks_and_one_writer(tmp_path):
    "SIGTERM to the launcher: both ranks stop at one step with a complete sharded checkpoint; meanwhile a second launch is refused."
    out = tmp_path / "run"
    p = start(launch([*args(out, steps=100000), "--trainer.save_steps", "100000"]))
    for line in p.stdout:
        if line.startswith("[train] step 1 "): break
    second = run(launch(args(out, steps=4)))
    p.send_signal(signal.SIGTERM)
    o, e = p.communicate(timeout=120)
    assert second.returncode != 0 and "in use by pid" in second.stderr and "[rank0]: Traceback" not in second.stderr, second.stderr[-2000:]
    assert p.returncode != 0 and "stopped by SIGTERM after step" in e, e[-3000:]
    at = int(e.split("stopped by SIGTERM after step ")[1].split(":")[0])
    ck = out / "checkpoints" / f"step-{at}"
    assert ckpts(out) == [f"step-{at}"]
    verify_checkpoint(ck)
    assert sorted(p.name for p in (ck / "optimizer").iterdir()) == [".metadata", "__0_0.distcp", "__1_0.distcp"]
    assert sorted(p.name for p in (ck / "rng").iterdir()) == ["rank-0.pt", "rank-1.pt"]

def test_rank_count_change_is_refused(ref, tmp_path):
    "2 -> 1 and 1 -> 2: one line, nothing written (a new run starts from the gathered weights: see the export and GLUE test)."
    out = tmp_path / "two"; shutil.copytree(ref[0], out)
    r = run_script(*args(out, steps=STEPS + 2), timeout=300)
    assert r.returncode == 2 and "written by 2 processes, this run has 1" in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert ckpts(out) == ckpts(ref[0])
    one = tmp_path / "one"
    r = run_script(*args(one, steps=SAVE), timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    r = run(launch(args(one, steps=SAVE + 2)))
    assert r.returncode != 0 and "written by 1 processes, this run has 2" in r.stderr, r.stderr[-2000:]
    assert "[rank0]: Traceback" not in r.stderr and ckpts(one) == [f"step-{SAVE}"]

def test_sharded_optimizer_state_read_whole(ref, tmp_path):
    "load_optimizer on one process (a DDP rank's path) against torch's own DCP -> torch.save conversion; another step's differs."
    from accelerate import Accelerator
    from neobert.config import load_config
    from neobert.model import NeoBERTLMHead
    from neobert.optim import build_optimizer
    from neobert.engines import load_optimizer, optimizer_names
    import neobert.model  # noqa: F401 (Auto classes)
    whole = lambda step: whole_optimizer(ref[0] / "checkpoints" / f"step-{step}", tmp_path / f"{step}.pt")
    ck = ref[0] / "checkpoints" / f"step-{STEPS}"
    model = NeoBERTLMHead.from_pretrained(ck)
    opt = build_optimizer(model, load_config(ck / "config.yaml", []).optimizer)
    load_optimizer(ck, Accelerator(cpu=True), model, opt)
    mine, names = opt.state_dict(), optimizer_names(model, opt)
    want, other = whole(STEPS), whole(2 * SAVE)
    assert set(want["state"]) == set(names) and len(names) == len(list(model.parameters()))
    def equal(w):
        return all(torch.equal(torch.as_tensor(mine["state"][i][k]), torch.as_tensor(v))
                   for i, n in enumerate(names) for k, v in w["state"][n].items())
    assert equal(want)
    assert not equal(other)                                            # negative control: step 6's state is another
    assert [g["lr"] for g in mine["param_groups"]] == [g["lr"] for g in want["param_groups"]]

def test_export_and_glue_from_fsdp2_checkpoint(ref, tmp_path):
    from safetensors.torch import load_file
    from test_glue import write, sentiment, QUICK, ONE_THREAD
    ck = ref[0] / "checkpoints" / f"step-{STEPS}"
    r = run_script(ROOT / "scripts" / "export.py", ck, tmp_path / "export", timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    exported, w = load_file(tmp_path / "export" / "model.safetensors"), weights(ref[0], STEPS)
    common = [k for k in exported if k in w or f"model.{k}" in w]
    assert common and all(torch.equal(exported[k], w[k] if k in w else w[f"model.{k}"]) for k in common)
    tr = write(tmp_path / "train.tsv", [{"sentence": s, "label": y} for s, y in sentiment(64, 0)])
    dev = write(tmp_path / "dev.tsv", [{"sentence": s, "label": y} for s, y in sentiment(32, 1)])
    r = run_script(ROOT / "scripts" / "glue.py", "--config", "configs/glue/sst2.yaml", "--model.name_or_path", ck,
                   "--data.train_file", tr, "--data.validation_file", dev, "--trainer.output_dir", tmp_path / "sst2",
                   "--trainer.num_epochs", "1", *QUICK, env=ONE_THREAD, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((tmp_path / "sst2" / "results.json").read_text())
    assert res["finished"] and res["model"] == str(ck)

def test_deepspeed_is_refused(monkeypatch):
    "DeepSpeed could not be tested here, so it is not supported: a launch asking for it (the variable `accelerate launch` sets) stops, not DDP in its place."
    from neobert.config import UserError, TrainerConfig
    from neobert.train import make_accelerator
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    with pytest.raises(UserError, match="DeepSpeed is not supported"): make_accelerator(TrainerConfig())

class Planted:
    def __reduce__(self): return (os.system, ("touch planted-ran",))

@pytest.mark.parametrize("where", [".metadata", "item"])
def test_planted_pickle_in_sharded_optimizer_is_refused(ref, tmp_path, where, monkeypatch):
    "DCP unpickles its .metadata and its non-tensor items: a planted object is refused unread (CorruptCheckpoint), its code never runs."
    import pickle
    from accelerate import Accelerator
    from neobert.checkpoint import CorruptCheckpoint
    from neobert.config import load_config
    from neobert.model import NeoBERTLMHead
    from neobert.optim import build_optimizer
    from neobert.engines import load_optimizer
    monkeypatch.chdir(tmp_path)
    ck = tmp_path / "ck"; shutil.copytree(ref[0] / "checkpoints" / f"step-{STEPS}", ck)
    md = ck / "optimizer" / ".metadata"
    if where == ".metadata": md.write_bytes(pickle.dumps(Planted()))
    else:                                                 # the first non-tensor item (a parameter group) made a planted object
        from torch.distributed.checkpoint import FileSystemReader
        m = FileSystemReader(ck / "optimizer").read_metadata()
        idx = next(k for k, v in m.state_dict_metadata.items() if type(v).__name__ == "BytesStorageMetadata")
        info = next(v for k, v in m.storage_data.items() if k.fqn == idx)
        f = ck / "optimizer" / info.relative_path; b = bytearray(f.read_bytes())
        import io; buf = io.BytesIO(); torch.save(Planted(), buf); new = buf.getvalue()
        b[info.offset:info.offset + info.length] = b"\0" * info.length; f.write_bytes(bytes(b[:info.offset]) + new + bytes(b[info.offset + info.length:]))
        info.length = len(new); md.write_bytes(pickle.dumps(m))
    model = NeoBERTLMHead.from_pretrained(ck)
    opt = build_optimizer(model, load_config(ck / "config.yaml", []).optimizer)
    with pytest.raises(CorruptCheckpoint, match="refused unread"): load_optimizer(ck, Accelerator(cpu=True), model, opt)
    assert not (tmp_path / "planted-ran").exists()
    # negative control: torch's own DCP load runs the planted code
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict
    try: dcp.load({"optimizer": get_optimizer_state_dict(model, opt)}, checkpoint_id=ck / "optimizer", no_dist=True)
    except BaseException: pass                                            # (what it loaded is not a state; it ran first)
    assert (tmp_path / "planted-ran").exists()

def test_tied_embeddings_are_refused(tmp_path):
    "model.tie_word_embeddings under FSDP2 (one parameter in two modules, untested sharded): one line, before any step."
    out = tmp_path / "tied"
    r = run(launch([*args(out, steps=2), "--model.tie_word_embeddings", "true"]))
    assert r.returncode != 0 and "model.tie_word_embeddings: not supported under FSDP2" in r.stderr, r.stderr[-2000:]
    assert "[rank0]: Traceback" not in r.stderr and not list(out.glob("checkpoints/step-*"))
