"""Write README.md from nbs/index.ipynb (markdown cells as they are, code cells and their stored text outputs as blocks).
Quarto (which `nbdev-readme` needs) is not always installed; this keeps README.md generated from the notebook everywhere.
Usage: python scripts/make_readme.py [--check]"""
import json, sys
from pathlib import Path

def render(nb_path:Path) -> str:
    out = []
    for c in json.loads(nb_path.read_text())["cells"]:
        src = "".join(c["source"])
        if c["cell_type"] == "markdown": out.append(src); continue
        if src.lstrip().startswith("#| hide") or not src.strip(): continue
        out.append("```python\n" + "\n".join(l for l in src.splitlines() if not l.startswith("#|")) + "\n```")
        for o in c.get("outputs", []):
            txt = o.get("text") or o.get("data", {}).get("text/plain")
            if txt: out.append("```\n" + "".join(txt).rstrip() + "\n```")
    return "\n\n".join(out).rstrip() + "\n"

if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    text, readme = render(root / "nbs" / "index.ipynb"), root / "README.md"
    if "--check" in sys.argv[1:]:
        if not readme.exists() or readme.read_text() != text:
            sys.exit("error: README.md is not what nbs/index.ipynb generates: run `python scripts/make_readme.py` and commit")
        print("README.md in sync with nbs/index.ipynb")
    else: readme.write_text(text); print(f"wrote {readme}")
