"""The fused kernels of `model.kernels` (nbs/03c_kernels.ipynb): their checks against the eager ops run on a CPU
through Triton's interpreter in a subprocess (tests/kernel_checks.py); here, the refusals where they cannot run."""
import importlib.util, re
import pytest
import torch
from conftest import ROOT, run_script
from neobert.config import UserError, ConfigError, load_config
from neobert.model import NeoBERTConfig, NeoBERTLMHead
from neobert import kernels as K

HAVE = all(importlib.util.find_spec(p) for p in ("triton", "liger_kernel"))

@pytest.mark.skipif(not HAVE, reason="the kernels need triton and liger-kernel: pip install 'neobert[kernels]'")
def test_kernels_match_eager_under_interpreter():
    "Every kernel, forward and backward, and a whole model with all of them, against the eager ops (float32)."
    r = run_script("-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "tests/kernel_checks.py",
                   env={"TRITON_INTERPRET": "1"}, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert re.search(r"\b7 passed\b", r.stdout), r.stdout[-2000:]

def tiny():
    return NeoBERTLMHead(NeoBERTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                                       vocab_size=60, decoder_on_masked_only=True))

def test_refusals(monkeypatch):
    "Without a GPU (and without the interpreter) asking for a kernel stops with one line; so do unknown names."
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    m = tiny()
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match=r"^model.kernels \['rope'\]: (Triton kernels need a CUDA GPU|needs triton)"):
            K.use_kernels(m, ["rope"])
        assert m.model.transformer_encoder[0].rope is not K.rope_triton       # nothing swapped
    with pytest.raises(UserError, match="unknown kernel 'fast'"): K.use_kernels(m, ["fast"])
    with pytest.raises(ConfigError, match="unknown kernel 'fast'"): load_config(None, ["--model.kernels", "[fast]"])
    assert load_config(None, []).model.kernels == []                            # default: none

def test_trainer_refuses_on_cpu(tmp_path):
    "The trainer's command line with a kernel on a CPU: exit code 2 and the one line, no traceback."
    if torch.cuda.is_available(): pytest.skip("a GPU is here")
    r = run_script("scripts/pretrain.py", "--config", "configs/pretrain_tiny.yaml", "--model.kernels", "[rmsnorm]",
                   "--trainer.output_dir", tmp_path / "run", "--trainer.max_steps", "1", timeout=300)
    assert r.returncode == 2 and "model.kernels ['rmsnorm']" in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]

def test_gpu_check_plan(tmp_path):
    "The kernel lever's GPU check: with and without the kernels at 1,024 and 4,096 tokens, then 03c's #| cuda cells."
    from neobert.gpu_check import check_config, gpu_check
    d = tmp_path / "data"; (d / "shards").mkdir(parents=True); (d / "shards/meta.json").write_text("{}")
    (d / "tokenizer").mkdir(); (d / "tokenizer/tokenizer.json").write_text("{}")
    cfg = check_config(ROOT / "configs/bench/gpu_check_kernels.yaml", ["--check.trainer_force", "true", "--check.data_dir", str(d)])
    plan = gpu_check(cfg, tmp_path / "out", dry_run=True)["parts"]
    assert [p["part"] for p in plan] == ["trainer_fast_1k", "trainer_fast_1k_kernels", "trainer_fast_4k", "trainer_fast_4k_kernels", "notebooks"]
    args = {p["part"]: dict(zip(p["argv"][4::2], p["argv"][5::2])) for p in plan[:4]}
    assert "--model.kernels" not in args["trainer_fast_1k"] and "--model.kernels" not in args["trainer_fast_4k"]
    for k in ("trainer_fast_1k_kernels", "trainer_fast_4k_kernels"):
        assert load_config(ROOT / "configs/pretrain_neobert_fast.yaml", [a for kv in args[k].items() for a in kv]).model.kernels == ["rmsnorm", "rope", "swiglu", "linear_ce"]
    assert args["trainer_fast_4k"]["--data.max_length"] == "4096" and "nbs/03c_kernels.ipynb" in plan[-1]["argv"]

def test_other_scripts(monkeypatch):
    "Fine-tuning applies model.kernels (so refuses on a CPU); the evaluation scripts refuse it: nothing is silently ignored."
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    from conftest import tokenizer_dir
    from neobert.glue import load_classifier
    cfg = load_config(None, ["--model.kernels", "[rope]", "--model.hidden_size", "32", "--model.num_hidden_layers", "1",
                             "--model.num_attention_heads", "2", "--model.intermediate_size", "64",
                             "--tokenizer.name_or_path", str(tokenizer_dir())])
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match=r"^model.kernels \['rope'\]: "): load_classifier(cfg, None, dict(num_labels=2))
    r = run_script("scripts/perplexity.py", "--model.name_or_path", "x", "--model.kernels", "[rope]", timeout=120)
    assert r.returncode == 2 and "model.kernels: the fused kernels are a training option" in r.stderr, r.stderr[-1000:]
