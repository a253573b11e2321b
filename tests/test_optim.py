"""Muon and the cooldown schedules end to end (nbs/05c_optim.ipynb on the engine of nbs/06a_trainer.ipynb), through the
pretraining run on the tiny config of test_pretrain.py (6 steps, a checkpoint every 3):
- resuming under optimizer.name=muon and scheduler.name=wsd ends bit-identical to the uninterrupted run: the chain's
  state (AdamW's moments, Muon's momentum) goes through accelerate.prepare, clipping, save and restore;
  negative controls: the same resume with Muon's momentum zeroed in the checkpoint, or without the data position,
  ends with other weights;
- the learning rate the run logs is optimizer.lr * lr_at at every step (wsd);
- a changed optimizer.name on resume is refused (it regroups the optimizer's state)."""
import json, math, shutil
import pytest, torch
from conftest import ROOT
from test_pretrain import args, weights, same
from neobert.checkpoint import MARKER, sha256_file
from neobert.config import UserError, load_config
from neobert.train import pretrain, TrainHooks, lr_at

STEPS = 6
MUON = ["--optimizer.name", "muon", "--scheduler.name", "wsd", "--scheduler.decay_fraction", "0.5"]

def cfg_for(out, *extra):
    return load_config(ROOT / "configs" / "pretrain_tiny.yaml", [str(a) for a in args(out, steps=STEPS)[3:]] + MUON + list(extra))

def resume_from_3(ref, out, hooks=None, edit=None):
    "Copy the reference run without its last checkpoint (`edit` may change step-3 first), and run it again to step 6."
    shutil.copytree(ref, out); shutil.rmtree(out / "checkpoints" / f"step-{STEPS}")
    if edit: edit(out / "checkpoints" / "step-3")
    pretrain(cfg_for(out), hooks)
    return weights(out, STEPS)

def zero_muon_momentum(ck):
    "Zero Muon's momentum buffers in `ck`'s optimizer.pt and re-seal the checkpoint's marker (a planted change)."
    sd = torch.load(ck / "optimizer.pt", weights_only=True)
    bufs = [s["momentum_buffer"] for s in sd["state"].values() if "momentum_buffer" in s]
    assert bufs and all(b.abs().max() > 0 for b in bufs)
    for b in bufs: b.zero_()
    torch.save(sd, ck / "optimizer.pt")
    m = json.loads((ck / MARKER).read_text())
    m["files"]["optimizer.pt"] = dict(size=(ck / "optimizer.pt").stat().st_size, sha256=sha256_file(ck / "optimizer.pt"))
    (ck / MARKER).write_text(json.dumps(m))

@pytest.fixture(scope="module")
def muon_ref(tmp_path_factory):
    out = tmp_path_factory.mktemp("muon") / "ref"
    pretrain(cfg_for(out))
    return out

def test_muon_resume_is_bit_identical(muon_ref, tmp_path):
    sd = torch.load(muon_ref / "checkpoints" / "step-3" / "optimizer.pt", weights_only=True)
    assert len(sd["param_groups"]) == 3 and sd["param_groups"][2]["adjust_lr_fn"] == "match_rms_adamw"
    assert same(resume_from_3(muon_ref, tmp_path / "resumed"), weights(muon_ref, STEPS))
    # negative controls: without Muon's momentum, or without the data position, the resume ends elsewhere
    assert not same(resume_from_3(muon_ref, tmp_path / "no_momentum", edit=zero_muon_momentum), weights(muon_ref, STEPS))
    assert not same(resume_from_3(muon_ref, tmp_path / "no_data", TrainHooks(restore_data=False)), weights(muon_ref, STEPS))

def test_logged_lr_follows_the_schedule(muon_ref):
    cfg = cfg_for(muon_ref)
    lrs = {json.loads(l)["step"]: json.loads(l)["lr"] for l in (muon_ref / "metrics.jsonl").read_text().splitlines()
           if '"train"' in l}
    assert sorted(lrs) == list(range(1, STEPS + 1))
    for s, lr in lrs.items(): assert math.isclose(lr, cfg.optimizer.lr * lr_at(s - 1, cfg.scheduler, STEPS, 1.0), rel_tol=1e-9)
    assert len({round(v, 12) for v in lrs.values()}) > 2                   # warmup, stable and decay: not a constant

def test_changed_optimizer_name_is_refused(muon_ref, tmp_path):
    out = tmp_path / "run"; shutil.copytree(muon_ref, out)
    with pytest.raises(UserError, match="optimizer.name changed from muon to adamw"):
        pretrain(cfg_for(out, "--optimizer.name", "adamw", "--trainer.max_steps", str(STEPS + 1)))

def test_muon_under_sharding_is_refused(monkeypatch, var="ACCELERATE_USE_FSDP", engine="FSDP"):
    "accelerate launch (or an Accelerator given a plugin) sets it: Muon would see shards, not matrices (DeepSpeed is refused for all optimizers)."
    from neobert.config import OptimizerConfig
    from neobert.model import NeoBERTConfig, NeoBERTLMHead
    from neobert.train import build_optimizer
    m = NeoBERTLMHead(NeoBERTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                                    vocab_size=50))
    monkeypatch.setenv(var, "true")
    with pytest.raises(UserError, match=f"optimizer.name=muon is not supported under {engine}"):
        build_optimizer(m, OptimizerConfig(name="muon"))
    assert len(build_optimizer(m, OptimizerConfig()).param_groups) == 2    # AdamW is unaffected
