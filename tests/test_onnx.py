"""ONNX export end to end: scripts/export.py --onnx on a tiny checkpoint, ONNX Runtime against the PyTorch model on shapes
other than the export's, the validator's ONNX lines (pass, tampered, onnxruntime missing) and --onnx without the extra."""
import re, shutil, subprocess, sys
import numpy as np
import pytest, torch
from conftest import ROOT, run_script, tokenizer_dir

import onnx, onnxruntime as ort                                 # neobert[onnx], part of [dev]: CI has them
EXPORT, VALIDATE = ROOT / "scripts" / "export.py", ROOT / "scripts" / "validate_export.py"
TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, vocab_size=30522,
            max_length=512)

@pytest.fixture(scope="module")
def work(tmp_path_factory):
    "A tiny NeoBERTLMHead checkpoint (random weights, the bert-base-uncased tokenizer) and its export with --onnx."
    from transformers import AutoTokenizer
    from neobert.model import NeoBERTConfig, NeoBERTLMHead
    d = tmp_path_factory.mktemp("onnx")
    torch.manual_seed(0)
    lm = NeoBERTLMHead(NeoBERTConfig(**TINY)).eval()
    lm.save_pretrained(d / "ck"); AutoTokenizer.from_pretrained(tokenizer_dir()).save_pretrained(d / "ck")
    r = run_script(EXPORT, d / "ck", d / "out", "--onnx")
    assert r.returncode == 0, r.stderr[-3000:]
    return d, lm, d / "out"

def test_layout_and_signature(work):
    from neobert.onnx import OPSET, graph_signature
    d, lm, out = work
    assert (out / "config.json").exists() and (out / "tokenizer.json").exists()       # beside the HF files
    assert sorted(p.name for p in (out / "onnx").iterdir()) == ["model.onnx", "model_mlm.onnx"]
    io = [("input_ids", "int64", ["batch", "sequence"]), ("attention_mask", "int64", ["batch", "sequence"])]
    for f, name, last in (("model.onnx", "last_hidden_state", 64), ("model_mlm.onnx", "logits", 30522)):
        sig = graph_signature(out / "onnx" / f)
        assert sig["opset"] == OPSET == 18 and sig["inputs"] == io
        assert sig["outputs"] == [(name, "float32", ["batch", "sequence", last])]
        assert sig["props"]["neobert.export_shape"] == "2x8"                              # traced at another shape
    card = (out / "README.md").read_text()
    assert "## ONNX" in card and f"opset {OPSET}" in card and "cu_seqlens" in card

def _run(path, ids, mask, name):
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return s.run([name], {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]

@pytest.mark.parametrize("shape", [(3, 17, [17, 9, 4]), (1, 40, [40])], ids=["3x17-padded", "1x40"])
def test_dynamic_axes_match_pytorch(work, shape):
    "Batch and length differ from the traced 2x8: ONNX Runtime equals the original PyTorch model on real tokens."
    d, lm, out = work
    B, S, lens = shape
    g = torch.Generator().manual_seed(B * S)
    mask = (torch.arange(S)[None] < torch.tensor(lens)[:, None]).long()
    ids = torch.randint(1, 30522, (B, S), generator=g).masked_fill(mask == 0, 0)
    real = mask.bool().numpy()
    with torch.no_grad(): o = lm(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    h = _run(out / "onnx" / "model.onnx", ids, mask, "last_hidden_state")
    lg = _run(out / "onnx" / "model_mlm.onnx", ids, mask, "logits")
    assert h.shape == (B, S, 64) and lg.shape == (B, S, 30522)
    assert np.abs(h - o.hidden_states[-1].numpy())[real].max() < 1e-4
    assert np.abs(lg - o.logits.numpy())[real].max() < 1e-4
    if B > 1:                                        # negative control: the mask is in the graph, not ignored
        h1 = _run(out / "onnx" / "model.onnx", ids, torch.ones_like(mask), "last_hidden_state")
        assert np.abs(h1 - o.hidden_states[-1].numpy())[real].max() > 1e-3

def test_validator_reports_onnx_figures(work):
    d, lm, out = work
    r = run_script(VALIDATE, out)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    lines = [l for l in r.stdout.splitlines() if " vs PyTorch, " in l]
    assert len(lines) == 6 and all(l.startswith("PASS  onnx/") for l in lines), lines
    for case in ("padded batch 3x", "batch 3x17, lengths [17, 11, 5]", "single unpadded sequence 1x40"):
        assert sum(case in l for l in lines) == 2, case
    figs = [float(re.search(r"max \|diff\| (\S+)", l).group(1)) for l in lines]
    assert all(0 <= f < 1e-4 for f in figs), figs
    assert "PASS  onnx/model.onnx graph" in r.stdout and "PASS  onnx/model_mlm.onnx graph" in r.stdout

def test_validator_fails_on_tampered_onnx(work):
    "One weight column changed in model.onnx, bytes overwritten in model_mlm.onnx: failed lines, exit 1, no traceback."
    d, lm, out = work
    bad = d / "tampered"; shutil.copytree(out, bad)
    m = onnx.load(str(bad / "onnx" / "model.onnx"))
    w = next(t for t in m.graph.initializer if t.data_type == onnx.TensorProto.FLOAT and len(t.dims) == 2)
    a = onnx.numpy_helper.to_array(w).copy(); a[:, 0] += 0.5
    w.CopyFrom(onnx.numpy_helper.from_array(a, w.name)); onnx.save(m, str(bad / "onnx" / "model.onnx"))
    raw = bytearray((bad / "onnx" / "model_mlm.onnx").read_bytes()); raw[10:4000] = b"x" * 3990
    (bad / "onnx" / "model_mlm.onnx").write_bytes(bytes(raw))
    r = run_script(VALIDATE, bad)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stdout[-4000:] + r.stderr[-2000:]
    fails = [l for l in r.stdout.splitlines() if l.startswith("FAIL")]
    assert len([l for l in fails if l.startswith("FAIL  onnx/model.onnx vs PyTorch")]) == 3, fails
    assert any(l.startswith("FAIL  onnx/model_mlm.onnx ") and "ONNX Runtime cannot load it" in l for l in fails), fails
    assert all(l.startswith("FAIL  onnx/") for l in fails)                # the rest of the folder is untouched
    assert "PASS  onnx/model.onnx graph" in r.stdout                      # same signature: only the numbers caught it

def test_missing_onnxruntime_is_a_failed_check(work, monkeypatch):
    "ONNX files present but onnxruntime not importable: one failed line naming the extra, not a skip."
    from neobert.onnx import onnx_checks
    d, lm, out = work
    monkeypatch.setitem(sys.modules, "onnxruntime", None)                # importing it now raises ImportError
    rows = onnx_checks(out, {"last_hidden_state": lm.model, "logits": lm}, {})
    assert len(rows) == 1 and rows[0][1] is False, rows
    assert "onnxruntime" in rows[0][2] and "pip install 'neobert[onnx]'" in rows[0][2] and "\n" not in rows[0][2]

def test_onnx_flag_without_the_extra(work, tmp_path):
    "--onnx where onnxscript is not importable: exit 2, one line naming pip install 'neobert[onnx]', nothing written."
    d, lm, out = work
    code = ("import sys; sys.modules['onnxscript'] = None; "
            f"sys.argv = ['export.py', {str(d / 'ck')!r}, {str(tmp_path / 'o')!r}, '--onnx']; "
            f"import runpy; runpy.run_path({str(EXPORT)!r}, run_name='__main__')")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.strip() == "error: --onnx needs onnxscript (not installed): pip install 'neobert[onnx]'"
    assert not (tmp_path / "o").exists()

def test_bare_encoder_has_no_mlm_graph(tmp_path):
    "A checkpoint without the MLM head gets model.onnx only; the validator's checks want no logits file from it."
    from neobert.model import NeoBERTConfig, NeoBERT
    from neobert.onnx import export_onnx, onnx_checks
    enc = NeoBERT(NeoBERTConfig(**{**TINY, "vocab_size": 100})).eval()
    files = export_onnx(enc, tmp_path)
    assert [str(f.relative_to(tmp_path)) for f in files] == ["onnx/model.onnx"]
    shutil.copyfile(files[0], tmp_path / "onnx" / "model_mlm.onnx")      # a stray logits file is reported
    rows = onnx_checks(tmp_path, {"last_hidden_state": enc}, {})
    assert ("onnx/model_mlm.onnx", False, "present, but the checkpoint has no such head") in rows

def test_static_graph_is_refused(tmp_path):
    "Negative control for the axes: a graph exported without dynamic shapes fails the signature and the other shapes."
    from neobert.model import NeoBERTConfig, NeoBERT
    from neobert.onnx import OnnxGraph, example_batch, onnx_checks
    enc = NeoBERT(NeoBERTConfig(**{**TINY, "vocab_size": 100})).eval()
    (tmp_path / "onnx").mkdir()
    torch.onnx.export(OnnxGraph(enc).eval(), example_batch(100, 2, 8, [8, 4]), str(tmp_path / "onnx" / "model.onnx"),
                      input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"], dynamo=True,
                      external_data=False, verbose=False)
    cases = {"2x8": example_batch(100, 2, 8, [8, 4], seed=3), "3x17": example_batch(100, 3, 17, [17, 11, 5])}
    rows = {n: (ok, d) for n, ok, d in onnx_checks(tmp_path, {"last_hidden_state": enc}, cases)}
    assert rows["onnx/model.onnx graph"][0] is False and "[2, 8]" in rows["onnx/model.onnx graph"][1]
    assert rows["onnx/model.onnx vs PyTorch, 2x8"][0] is True                # its own shape still runs
    assert rows["onnx/model.onnx vs PyTorch, 3x17"][0] is False              # another shape does not
