"""The docs site as far as it can be checked without Quarto: the workflows are valid YAML calling the project's own
commands, _quarto.yml navigates every lesson in order, `nbdev-proc-nbs` processes every notebook, and every page's
front matter and relative links resolve."""
import json, os, re, shutil, subprocess, sys
from pathlib import Path
import pytest, yaml
from conftest import ROOT, OFFLINE

NBS = sorted(p.name for p in (ROOT / "nbs").glob("*.ipynb"))

def _steps(wf): return [s for job in wf["jobs"].values() for s in job["steps"]]

def test_workflows():
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "test.yaml").read_text())
    on = ci.get("on", ci.get(True))                         # YAML 1.1 reads the key `on` as True
    assert {"push", "pull_request"} <= set(on)
    assert any(re.match(r"make test\b", s.get("run", "")) for s in _steps(ci)), _steps(ci)
    dep = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy.yaml").read_text())
    on = dep.get("on", dep.get(True))
    assert on["push"]["branches"] == ["main"] and dep["permissions"]["pages"] == "write"
    steps = _steps(dep)
    assert any(s.get("uses", "").startswith("quarto-dev/quarto-actions/setup") for s in steps)
    assert any(re.match(r"make docs\b", s.get("run", "")) for s in steps)
    up = [s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact")]
    assert up and up[0]["with"]["path"] == "_docs" and any(s.get("uses", "").startswith("actions/deploy-pages") for s in steps)
    make = (ROOT / "Makefile").read_text()
    docs = re.search(r"^docs: .*\n((?:\t.*\n)+)", make, re.M).group(1)
    assert "nbdev-proc-nbs" in docs and "nbdev-docs" in docs and docs.index("nbdev-proc-nbs") < docs.index("nbdev-docs")

def _sidebar_files(items):
    for it in items:
        if isinstance(it, str): yield it
        elif "contents" in it: yield from _sidebar_files(it["contents"])
        elif "href" in it: yield it["href"]

def test_quarto_navigation():
    q = yaml.safe_load((ROOT / "_quarto.yml").read_text())
    w = q["website"]
    assert w["repo-url"].startswith("https://github.com/") and w["repo-actions"]
    files = list(_sidebar_files(w["sidebar"]["contents"]))
    assert sorted(files) == NBS and len(files) == len(set(files)), files        # every lesson, once
    lessons = [f for f in files if f != "index.ipynb"]
    assert lessons[:4] == ["00_config.ipynb", "01_layers.ipynb", "02_attention.ipynb", "03_model.ipynb"]
    for item in w["navbar"]["left"] + w["navbar"]["right"]:
        href = item["href"]
        assert href.startswith("https://") or (ROOT / "nbs" / href).exists(), href
    css = q["format"]["html"].get("css")
    assert css is None or (ROOT / "nbs" / css).exists(), css
    assert "sidebar.yml" not in q.get("metadata-files", [])                     # the sidebar is ours (custom_sidebar)

def test_front_matter_and_links():
    "Each page starts with '# Title' and '> description'; every relative link in markdown points at a file that exists."
    bad = []
    for name in NBS:
        cells = json.loads((ROOT / "nbs" / name).read_text())["cells"]
        md = ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]
        if not re.match(r"# \S.*\n+> \S", md[0]): bad.append(f"{name}: front matter {md[0][:80]!r}")
        for text in md:
            for link in re.findall(r"\]\(([^)\s]+)\)", text):
                if re.match(r"[a-z]+:|#", link): continue
                target = (ROOT / "nbs" / link.split("#")[0])
                if not target.exists(): bad.append(f"{name}: link {link}")
    assert not bad, bad

def test_proc_nbs(tmp_path):
    "nbdev-proc-nbs processes every notebook without an error (it runs their import and export cells)."
    work = tmp_path / "repo"
    shutil.copytree(ROOT, work, ignore=shutil.ignore_patterns(".git", ".venv", ".cache", "_proc", "_docs", "runs", "__pycache__"))
    shutil.copy(work / "_quarto.yml", work / "nbs" / "_quarto.yml")
    exe = Path(sys.executable).with_name("nbdev-proc-nbs")
    r = subprocess.run([str(exe)], cwd=work, env={**os.environ, **OFFLINE, "PYTHONPATH": str(work)}, capture_output=True, text=True, timeout=900)
    out = r.stdout + r.stderr
    assert r.returncode == 0 and not re.search(r"^(Traceback|\w+(Error|Exception)\b:)", out, re.M), out[-3000:]   # a cell that failed
    assert sorted(p.name for p in (work / "_proc").glob("*.ipynb")) == NBS
