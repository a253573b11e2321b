"""Every notebook runs top to bottom in a real Jupyter kernel on a CPU ("Run All"): `make test` runs all of them through
scripts/run_nb_kernel.py (nbclient + ipykernel) in place of nbdev-test; here the mechanism, on a notebook with GPU cells."""
import json, re, subprocess, sys
from pathlib import Path
import pytest, torch
from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import run_nb_kernel

def _nb(path, cells):
    import nbformat
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "python3", "language": "python"}
    nbformat.write(nb, path)
    return path

@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU behaviour")
def test_gpu_cells_skip_in_a_kernel(tmp_path):
    "A `#| cuda` cell says it was skipped and the next cells run; without skip_gpu_cells the same notebook stops there."
    gpu = "#| cuda\nimport torch\ntorch.zeros(1).cuda()"
    ok = run_nb_kernel.run_one(str(_nb(tmp_path / "ok.ipynb", ["from neobert.config import skip_gpu_cells; skip_gpu_cells()", gpu, "print(41 + 1)"])), 120)
    assert (ok["status"], ok["cells"], ok["code_cells"], ok["cuda_skipped"]) == ("ok", 3, 3, 1), ok
    bad = run_nb_kernel.run_one(str(_nb(tmp_path / "bad.ipynb", ["x = 1", gpu, "print(41 + 1)"])), 120)
    assert bad["status"] == "failed" and "CUDA" in bad["error"], bad

def test_every_gpu_notebook_registers_the_skip():
    "Each notebook with `#| cuda` cells calls skip_gpu_cells() in a cell before its first GPU cell."
    found = 0
    for p in sorted((ROOT / "nbs").glob("*.ipynb")):
        cells = ["".join(c["source"]) for c in json.loads(p.read_text())["cells"] if c["cell_type"] == "code"]
        gpu = [i for i, s in enumerate(cells) if re.match(r"(\s*#.*\n)*\s*#\s*\|\s*cuda\b", s)]
        if not gpu: continue
        found += 1
        assert any("skip_gpu_cells()" in s for s in cells[:gpu[0]]), p.name
    assert found >= 4

def test_make_test_runs_every_notebook_in_a_kernel():
    "make test's notebook step is the kernel runner over all of nbs/ (no notebook list: every notebook)."
    rule = re.search(r"^test: .*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M).group(1)
    assert re.search(r"scripts/run_nb_kernel\.py --n-workers \d+\n", rule), rule

def test_a_real_notebook_in_a_kernel():
    "02_attention (two GPU cells) runs top to bottom in a real kernel: every cell executed, the GPU ones skipped on a CPU."
    rec = run_nb_kernel.run_one(str(ROOT / "nbs" / "02_attention.ipynb"), 300)
    assert rec["status"] == "ok" and rec["cells"] == rec["code_cells"], rec
    assert rec["cuda_skipped"] == (0 if torch.cuda.is_available() else 2), rec
