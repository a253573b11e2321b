"""Measure the structure budgets of issue 17: function length, export-cell size, stored outputs, long lines.

Run `python tests/structure_budgets.py` for the report; `tests/test_structure.py` holds the tree to it."""
import ast, json, statistics, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_FUNC, MAX_CELL_MEDIAN, MAX_OUTPUT_SHARE, MAX_LONG_SHARE, MAX_CELLS = 80, 15, 0.20, 0.02, 60

def function_lengths(pkg=ROOT/"neobert"):
    "Every function (nested ones too) in the package, as `(module.qualname, lines)`."
    out = []
    for f in sorted(pkg.glob("*.py")):
        if f.name == "_modidx.py": continue
        tree = ast.parse(f.read_text())
        def walk(node, prefix):
            for ch in ast.iter_child_nodes(node):
                if isinstance(ch, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    out.append((f"{f.stem}.{prefix}{ch.name}", ch.end_lineno - ch.lineno + 1))
                    walk(ch, f"{prefix}{ch.name}.")
                elif isinstance(ch, ast.ClassDef): walk(ch, f"{prefix}{ch.name}.")
        walk(tree, "")
    return out

def _src(c): return "".join(c["source"]) if isinstance(c["source"], list) else c["source"]

def _is_export(c): return c["cell_type"] == "code" and _src(c).lstrip().startswith(("#| export", "#|export"))

def _code_lines(c): return sum(1 for l in _src(c).splitlines() if l.strip() and not l.startswith("#|"))

def export_cell_lines(path):
    "Code lines (directives and blank lines aside) of each export cell of a notebook."
    return [_code_lines(c) for c in json.loads(Path(path).read_text())["cells"] if _is_export(c)]

def notebook_stats(path):
    "Cells, export-cell sizes (code lines without directives), output share and long-line share (code cells) of one notebook."
    raw = Path(path).read_text(); nb = json.loads(raw)
    cells = nb["cells"]
    export = [_code_lines(c) for c in cells if _is_export(c)]
    out_bytes = sum(len(json.dumps(c.get("outputs", []))) for c in cells if c["cell_type"] == "code")
    lines = [l for c in cells if c["cell_type"] == "code" for l in _src(c).splitlines()]   # prose lines are paragraphs
    return dict(cells=len(cells), export_cells=len(export),
                export_median=statistics.median(export) if export else 0, export_max=max(export, default=0),
                output_share=out_bytes/len(raw), long_share=sum(len(l) > 120 for l in lines)/max(len(lines), 1))

def package_long_share(pkg=ROOT/"neobert"):
    lines = [l for f in pkg.glob("*.py") if f.name != "_modidx.py" for l in f.read_text().splitlines()]
    return sum(len(l) > 120 for l in lines)/len(lines)

def report():
    fl = function_lengths(); over = sorted([x for x in fl if x[1] > MAX_FUNC], key=lambda x: -x[1])
    print(f"functions over {MAX_FUNC} lines: {len(over)}")
    for n, k in over: print(f"  {n}: {k}")
    allcells = []
    print(f"\n{'notebook':28} cells  export  median  max  outputs  long")
    for nb in sorted((ROOT/"nbs").glob("*.ipynb")):
        s = notebook_stats(nb)
        print(f"{nb.name:28} {s['cells']:5} {s['export_cells']:7} {s['export_median']:7} {s['export_max']:4} "
              f"{s['output_share']:7.1%} {s['long_share']:5.1%}")
        allcells += export_cell_lines(nb)
    print(f"\nmedian export cell over all notebooks: {statistics.median(allcells)} lines ({len(allcells)} cells)")
    print(f"package lines over 120 chars: {package_long_share():.2%}")

if __name__ == "__main__": report()
