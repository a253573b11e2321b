"Every config-driven script rejects a mistyped key before doing any work: exit 2, the dotted key, a suggestion, no traceback."
import re, importlib, inspect
import pytest
from conftest import ROOT, run_script

def _config_driven(p):
    "True if the script's entry point (the neobert function it calls) builds its config with `cli_config`."
    m = re.search(r"from (neobert[\w.]*) import (\w+)", p.read_text())
    if not m: return False
    fn = getattr(importlib.import_module(m.group(1)), m.group(2))
    return "cli_config(" in inspect.getsource(inspect.unwrap(fn))

SCRIPTS = sorted(p for p in (ROOT / "scripts").glob("*.py") if _config_driven(p))

def test_pretrain_is_config_driven(): assert "pretrain.py" in [p.name for p in SCRIPTS], SCRIPTS

@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_typo_exits_2(script):
    r = run_script(script, "--model.hiden_size", "64", timeout=300)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "model.hiden_size" in r.stderr and "did you mean 'model.hidden_size'" in r.stderr, r.stderr[-2000:]
    assert "Traceback" not in r.stderr

@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_bad_value_exits_2(script):
    r = run_script(script, "--model.norm_eps", "-1", timeout=300)
    assert r.returncode == 2 and "model.norm_eps" in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]

@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_unknown_section_exits_2(script):
    r = run_script(script, "--optimiser.lr", "1e-3", timeout=300)
    assert r.returncode == 2 and "did you mean 'optimizer'" in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]

def test_unavailable_attention_backend_exits_2(tmp_path):
    "An attention backend this machine cannot run (no GPU here) is a one-line error naming it, before any work."
    r = run_script(ROOT / "scripts" / "pretrain.py", "--config", "configs/pretrain_tiny.yaml", "--model.attn_backend", "cudnn",
                   "--trainer.output_dir", tmp_path / "run", timeout=300)
    assert r.returncode == 2 and "attn_backend='cudnn'" in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert not (tmp_path / "run" / "checkpoints").exists()

def test_pretrain_configs_resolve():
    "Every pretraining config resolves strictly; the fast one is the paper recipe with exactly its speed settings changed."
    from neobert.config import load_config
    cfgs = {p.name: load_config(p).to_dict() for p in sorted((ROOT / "configs").glob("pretrain_*.yaml"))}
    assert len(cfgs) >= 4, sorted(cfgs)
    paper, fast = cfgs["pretrain_neobert.yaml"], cfgs["pretrain_neobert_fast.yaml"]
    diff = {f"{s}.{k}": (v, fast[s][k]) for s, sec in paper.items() if isinstance(sec, dict) for k, v in sec.items() if v != fast[s][k]}
    assert diff == {"model.attn_backend": ("sdpa", "cudnn"), "model.residual_in_fp32": (True, False), "data.batching": ("paper", "concat"),
                    "trainer.batch_size": (32, 64), "trainer.output_dir": ("runs/neobert", "runs/neobert-fast")}, diff

@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_help_lists_every_key(script):
    "--help shows every config key of every section with its type, default and help text, not only --config."
    from neobert.config import SECTIONS
    r = run_script(script, "--help", timeout=300)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "--config" in r.stdout and "--optimizer.lr FLOAT" in r.stdout, r.stdout[:2000]
    assert "Peak learning rate. (default: 0.0006; > 0)" in r.stdout
    assert "--model.name_or_path STR|None" in r.stdout and "--collator.strategy STR" in r.stdout
    for s in ("model", "data", "optimizer", "trainer"): assert f"\n{s}: " in r.stdout, s
    if script.name in ("perplexity.py", "mteb.py", "glue.py", "contrastive.py"):
        sec = {"perplexity.py": "perplexity", "mteb.py": "mteb", "glue.py": "glue", "contrastive.py": "contrastive"}[script.name]
        assert f"\n{sec}: " in r.stdout and f"--{sec}." in r.stdout, sec

def test_override_values_as_typed():
    "A one-element list is a list; a str field keeps the text typed (YAML 1.1 would read 80_10_10 as 801010)."
    import neobert.perplexity  # registers the perplexity section
    from neobert.config import load_config
    c = load_config(None, ["--perplexity.lengths", "32", "--collator.strategy", "80_10_10", "--optimizer.betas", "0.9,0.98"])
    assert c.perplexity.lengths == [32] and c.collator.strategy == "80_10_10" and c.optimizer.betas == [0.9, 0.98]
    assert load_config(None, ["--perplexity.lengths", "32,64"]).perplexity.lengths == [32, 64]
    with pytest.raises(Exception, match="must be one of"): load_config(None, ["--collator.strategy", "80_10"])

@pytest.mark.parametrize("script,args", [("glue.py", ["--config", "configs/glue/sst2.yaml"]), ("contrastive.py", ["--contrastive.datasets", "PAIRS"])],
                         ids=["glue.py", "contrastive.py"])
def test_missing_model_folder_exits_2(script, args, tmp_path):
    "A local model path that does not exist: 'model folder not found', not a hub repo-id error."
    (tmp_path / "pairs.jsonl").write_text('{"query": "a cat", "positive": "a small cat"}\n' * 4)
    args = [str(tmp_path / "pairs.jsonl") if a == "PAIRS" else a for a in args]
    r = run_script(ROOT / "scripts" / script, *args, "--model.name_or_path", tmp_path / "runs" / "step-9",
                   "--trainer.output_dir", tmp_path / "out", timeout=300)
    assert r.returncode == 2 and "model folder not found" in r.stderr, r.stderr[-2000:]
    assert "Repo id" not in r.stderr and "Traceback" not in r.stderr
