"""The ablation runner (scripts/ablate.py, nbs/06c_ablate.ipynb) on a tiny config, through its command line:
- the table, csv and plot hold one row per variant with the numbers of its summary.json;
- two variants with the same overrides reach the same held-out loss (same data and seed); another lr does not;
- a second invocation trains nothing (run folders untouched) and says so; an interrupted variant resumes;
- a bad ablation file is one line on stderr, exit 2, before any variant runs;
- the shipped ablation files validate without the network (embedded.yaml once the switches it compares exist)."""
import csv, json, re, shutil
from pathlib import Path
import pytest, yaml
from conftest import ROOT, run_script

SCRIPT = ROOT / "scripts" / "ablate.py"
SMALL = {"model.hidden_size": 32, "model.num_hidden_layers": 2, "model.num_attention_heads": 2,
         "model.intermediate_size": 64, "data.max_length": 64, "trainer.batch_size": 4, "trainer.max_steps": 8,
         "trainer.log_steps": 2, "trainer.eval_steps": 4, "trainer.save_steps": 4, "trainer.eval_batches": 2,
         "trainer.progress": False, "trainer.cpu_threads": 1, "scheduler.warmup_steps": 2}
VARIANTS = {"baseline": {"optimizer.lr": 3e-3}, "twin": {"optimizer.lr": 3e-3}, "low_lr": {"optimizer.lr": 1e-3}}
SWITCHES = ("optimizer.name", "scheduler.name", "model.ffn", "model.norm", "model.position")   # one per compared variant

def ablation_file(tmp_path, name="tiny.yaml", **over):
    d = {**dict(base=str(ROOT / "configs" / "pretrain_tiny.yaml"), common=SMALL, variants=VARIANTS), **over}
    p = tmp_path / name; p.write_text(yaml.safe_dump(d, sort_keys=False)); return p

def ablate(*args):
    r = run_script(SCRIPT, *map(str, args))
    assert r.returncode == 0, r.stderr[-3000:]
    return [l for l in r.stdout.splitlines() if l.startswith(("[ablate]", "resumed from"))]

@pytest.fixture(scope="module")
def done(tmp_path_factory):
    "Three variants run through scripts/ablate.py."
    tmp = tmp_path_factory.mktemp("ablate")
    path, out = ablation_file(tmp), tmp / "out"
    return path, out, ablate("--config", path, "--output_dir", out)

def summary(out, name): return json.loads((out / name / "summary.json").read_text())

def test_table_csv_and_plot(done):
    path, out, lines = done
    assert sum(": starting (" in l for l in lines) == 3 and sum(": done, held-out loss" in l for l in lines) == 3, lines
    with open(out / "ablations.csv") as f: rows = list(csv.DictReader(f))
    assert [r["variant"] for r in rows] == list(VARIANTS)
    for r in rows:
        s = summary(out, r["variant"])
        for k in ("val_mlm_loss", "val_mlm_accuracy", "unigram_baseline_loss", "tokens_per_second", "wall_time"):
            assert float(r[k]) == s[k], (r["variant"], k)
        assert int(r["parameters"]) == s["parameters"] and int(r["tokens"]) == s["tokens"]
        assert float(r["delta_loss_vs_baseline"]) == s["val_mlm_loss"] - summary(out, "baseline")["val_mlm_loss"]
    assert rows[2]["overrides"] == "optimizer.lr=0.001"
    md = (out / "ablations.md").read_text().splitlines()
    assert len(md) == 2 + 3 and md[4].startswith("| low_lr | optimizer.lr=0.001 | "
                                                   f"{summary(out, 'low_lr')['val_mlm_loss']:.4f} |"), md
    assert (out / "ablations.png").stat().st_size > 5000

def test_same_overrides_same_loss(done):
    path, out, _ = done
    assert summary(out, "twin")["val_mlm_loss"] == summary(out, "baseline")["val_mlm_loss"]
    assert summary(out, "low_lr")["val_mlm_loss"] != summary(out, "baseline")["val_mlm_loss"]    # negative control

def test_second_invocation_trains_nothing(done):
    path, out, _ = done
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.parent != out}
    lines = ablate("--config", path, "--output_dir", out)
    assert sum("skipped, finished" in l for l in lines) == 3 and not any("starting" in l for l in lines), lines
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.parent != out} == before

def test_interrupted_variant_resumes(done, tmp_path):
    path, out, _ = done
    out2 = tmp_path / "out"; shutil.copytree(out, out2)
    # as if stopped after step 4..7: no summary, no final checkpoint
    (out2 / "twin" / "summary.json").unlink(); shutil.rmtree(out2 / "twin" / "checkpoints" / "step-8")
    lines = ablate("--config", path, "--output_dir", out2, "--only", "twin")
    assert any("twin: resuming" in l for l in lines) and any("checkpoints/step-4" in l for l in lines), lines
    assert summary(out2, "twin")["val_mlm_loss"] == summary(out, "twin")["val_mlm_loss"]

BAD = {"file key": (dict(variantz={}), "unknown key 'variantz' (did you mean 'variants'?)"),
       "config key": (dict(variants={**VARIANTS, "bad": {"optimizer.lrr": 1}}),
                      "variant 'bad': unknown config key 'optimizer.lrr' (did you mean 'optimizer.lr'?)"),
       "budget": (dict(variants={**VARIANTS, "short": {"trainer.max_steps": 4}}),
                  "variant 'short' overrides trainer.max_steps: every variant must see the same token budget"),
       "base": (dict(base="no_such.yaml"), "base config not found"),
       "seed": (dict(variants={**VARIANTS, "seed": {"trainer.seed": 1}}),
                "overrides trainer.seed: every variant must see the same initialisation")}

@pytest.mark.parametrize("case", ["file key", "config key", "budget"])
def test_bad_file_is_one_line_exit_2_and_nothing_runs(tmp_path, case):
    over, message = BAD[case]
    p = ablation_file(tmp_path, "bad.yaml", **over)
    r = run_script(SCRIPT, "--config", p, "--output_dir", tmp_path / "out")
    assert r.returncode == 2 and message in r.stderr, r.stderr[-2000:]
    assert r.stderr.strip().count("\n") == 0 and r.stderr.startswith("error: ") and str(p) in r.stderr
    assert not (tmp_path / "out").exists()                               # no variant ran

@pytest.mark.parametrize("case", ["base", "seed"])
def test_bad_file_in_process(tmp_path, case):
    "The same checks without a process each: the error is raised by `plan_ablation`, before `ablate` runs anything."
    from neobert.config import ConfigError
    from neobert.ablate import read_ablation, plan_ablation
    over, message = BAD[case]
    with pytest.raises(ConfigError, match=re.escape(message)):
        plan_ablation(read_ablation(ablation_file(tmp_path, "bad.yaml", **over)), tmp_path / "out")

def test_allow_unlocks_a_fixed_key(tmp_path):
    from neobert.ablate import read_ablation, plan_ablation
    p = ablation_file(tmp_path, variants={**VARIANTS, "long": {"data.max_length": 128}}, allow=["data.max_length"])
    plan = plan_ablation(read_ablation(p), tmp_path / "out")
    assert [(n, c.data.max_length, s) for n, c, s in plan][-1] == ("long", 128, "new")

@pytest.mark.parametrize("name", ["embedded", "gpu_100m"])
def test_shipped_ablation_files_validate(name, tmp_path):
    "Every variant's config builds offline, with the same data and seed."
    from neobert.ablate import read_ablation, plan_ablation
    ab = read_ablation(ROOT / "configs" / "ablations" / f"{name}.yaml")
    assert list(ab.variants) == ["baseline", "muon", "wsd", "gelu", "layernorm", "learned_positions"]
    assert [k for ov in ab.variants.values() for k in ov] == list(SWITCHES)
    plan = plan_ablation(ab, tmp_path)
    cfgs = [c for _, c, _ in plan]
    assert all(c.data == cfgs[0].data and c.trainer.seed == cfgs[0].trainer.seed for c in cfgs)
    if name == "gpu_100m":
        c = cfgs[0]
        assert (c.model.num_hidden_layers, c.model.hidden_size, c.data.source) == (12, 768, "hub")
        assert c.trainer.max_steps * c.trainer.tokens_per_step > 2e9
