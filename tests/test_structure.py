"Issue 17's structure budgets, held for the whole tree (the measures are in tests/structure_budgets.py)."
import ast, json, re
from pathlib import Path
import pytest
import structure_budgets as sb

NBS = sorted((sb.ROOT / "nbs").glob("*.ipynb"))

def test_measures_see_what_they_measure(tmp_path):
    "Negative controls: an 81-line function, a 130-character line and a notebook mostly made of outputs are caught."
    pkg = tmp_path / "pkg"; pkg.mkdir()
    (pkg / "m.py").write_text("def long():\n" + "    x = 1\n" * 80 + "def short(): pass\n" + "y = '" + "a" * 130 + "'\n")
    assert dict(sb.function_lengths(pkg)) == {"m.long": 81, "m.short": 1}
    assert sb.package_long_share(pkg) == pytest.approx(1 / 83)
    nb = dict(cells=[dict(cell_type="code", source="#| export\ndef f():\n    return 1", outputs=[dict(text="z" * 5000)],
                          metadata={}, execution_count=1)], metadata={}, nbformat=4, nbformat_minor=5)
    (tmp_path / "n.ipynb").write_text(json.dumps(nb))
    s = sb.notebook_stats(tmp_path / "n.ipynb")
    assert s["export_median"] == 2 and s["output_share"] > 0.9 and s["cells"] == 1

def test_no_function_over_80_lines():
    over = [(n, k) for n, k in sb.function_lengths() if k > sb.MAX_FUNC]
    assert not over, f"functions over {sb.MAX_FUNC} lines: {over}"

def test_median_export_cell():
    cells = [n for nb in NBS for n in sb.export_cell_lines(nb)]
    assert sorted(cells)[len(cells) // 2] <= sb.MAX_CELL_MEDIAN

@pytest.mark.parametrize("nb", NBS, ids=[p.stem for p in NBS])
def test_notebook_budgets(nb):
    s = sb.notebook_stats(nb)
    assert s["cells"] <= sb.MAX_CELLS, f"{nb.name}: {s['cells']} cells"
    assert s["output_share"] < sb.MAX_OUTPUT_SHARE, f"{nb.name}: stored outputs {s['output_share']:.0%} of its bytes"
    assert s["long_share"] < sb.MAX_LONG_SHARE, f"{nb.name}: {s['long_share']:.1%} of code lines over 120 characters"

def test_package_lines():
    assert sb.package_long_share() < sb.MAX_LONG_SHARE

def test_no_private_imports_across_modules():
    "No module of the package imports another module's private names."
    bad = []
    for f in sorted((sb.ROOT / "neobert").glob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("neobert")):
                bad += [f"{f.name}: {a.name} from {node.module}" for a in node.names if a.name.startswith("_")]
    assert not bad, bad

def test_no_test_switches_in_the_package():
    hits = [f.name for f in (sb.ROOT / "neobert").glob("*.py") if re.search(r"NEOBERT_TEST", f.read_text())]
    assert not hits, hits
