"""Every shipped accelerate config (configs/accelerate/*.yaml) launched as a user would, at its real process count
(8), on this CPU: `accelerate launch --config_file FILE --mixed_precision no scripts/pretrain.py` with a tiny model and
2 steps. The run must finish on every rank, and its held-out loss, evaluated sharded over 8 ranks on 3 validation
batches (5 ranks get none), must be the loss of 1 process on the same checkpoint.
On a machine without CUDA, accelerate runs ddp.yaml's MULTI_GPU over gloo (the trainer's Accelerator(cpu=True) makes
it MULTI_CPU: DDP on CPU processes), so the DDP checks are real: identical replicas trained on different data."""
import sys, json
import pytest, yaml
from conftest import ROOT
from launch_util import TINY_RUN, accelerate, run, check_replicas_and_eval, check_eval

CONFIGS = [pytest.param(p, id=p.name) for p in sorted((ROOT / "configs" / "accelerate").glob("*.yaml"))]

@pytest.mark.parametrize("config", CONFIGS)
def test_shipped_config_at_its_process_count(config, tmp_path):
    n = yaml.safe_load(config.read_text())["num_processes"]
    out = tmp_path / "run"
    r = run(accelerate("scripts/pretrain.py", *TINY_RUN, "--trainer.output_dir", out, n=n, config=config))
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"{n} process(es) on cpu" in r.stdout
    kind = yaml.safe_load(config.read_text())["distributed_type"]
    engine = {"MULTI_GPU": f"engine: DDP ({n} ranks", "FSDP": f"engine: FSDP2 ({n} ranks"}[kind]   # never silently another
    assert engine in r.stdout, r.stdout[:2000]
    if kind == "MULTI_GPU": check_replicas_and_eval(out, n)
    if kind == "FSDP":                                   # sharded: one gathered model file, the optimizer per shard
        s = json.loads((out / "summary.json").read_text())
        assert s["processes"] == n and len(s["processes_detail"]) == n
        ck = out / "checkpoints" / "step-2"
        assert (ck / "model.safetensors").is_file() and (ck / "optimizer").is_dir()
        check_eval(out)                                  # every rank ran as many forwards: no hang, the 1-rank loss

def test_fine_tuning_evaluations_on_more_ranks_than_rows(tmp_path):
    """GLUE's, token classification's and contrastive's validation (tests/eval_ranks.py) on 3 processes: 2 validation
    rows (sst2: 5 in batches of 2, uneven shards) give each loss and metric of 1 process on the same models, every
    row once; models of another seed differ (the comparison can fail)."""
    for cmd in (accelerate("tests/eval_ranks.py", tmp_path / "3.json", n=3),
                [sys.executable, "tests/eval_ranks.py", str(tmp_path / "1.json")],
                [sys.executable, "tests/eval_ranks.py", str(tmp_path / "other.json"), "1"]):
        r = run(cmd)
        assert r.returncode == 0, r.stderr[-3000:]
    many, one, other = (json.loads((tmp_path / f"{k}.json").read_text()) for k in ("3", "1", "other"))
    assert (many["processes"], one["processes"]) == (3, 1)
    assert (many["sst2"]["rows"], many["stsb"]["rows"]) == (5, 2)                    # no row lost or doubled
    for k in ("sst2", "stsb", "tokens", "contrastive"):
        a, b = (d[k] if k == "contrastive" else d[k]["metrics"] | {"loss": d[k]["loss"]} for d in (many, one))
        assert a.keys() == b.keys() and all(abs(a[m] - b[m]) <= 1e-6 * max(1, abs(b[m])) for m in a), (k, a, b)
        c = other[k]["loss"]
        assert abs(c - b["loss"]) > 1e-4, (k, c, b["loss"])                           # negative control
