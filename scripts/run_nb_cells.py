"""Run notebooks' code cells without Jupyter, nbdev or execnb (for bare GPU machines).

Each notebook runs in its own subprocess, its code cells in order in one namespace, from the notebook's folder (as
nbdev-test does), with matplotlib's Agg backend. `#| cuda` cells run (skipped, and counted as such, where there is no GPU); `#| slow` cells only with --slow; `#| notest`
and `#| eval: false` cells never. A notebook stops at its first failing cell. Results go to a JSON file.

    python scripts/run_nb_cells.py --cuda-notebooks --out OUT/notebooks.json
    python scripts/run_nb_cells.py nbs/02_attention.ipynb nbs/03_model.ipynb
"""
import argparse, json, os, re, subprocess, sys, time, traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLAG = re.compile(r"^\s*#\s*\|\s*([\w-]+)(.*)$")

def cell_flags(src: str) -> dict:
    "The `#| flag` directives at the top of a cell."
    flags = {}
    for line in src.splitlines():
        m = FLAG.match(line)
        if m: flags[m.group(1)] = m.group(2).strip()
        elif line.strip() and not line.lstrip().startswith("#"): break
    return flags

def code_cells(nb_path) -> list:
    "Code cells of a notebook as (index, source, flags)."
    nb = json.loads(Path(nb_path).read_text())
    out = []
    for i, c in enumerate(nb["cells"]):
        if c.get("cell_type") != "code": continue
        src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        out.append((i, src, cell_flags(src)))
    return out

def has_cuda_cells(nb_path) -> bool: return any("cuda" in f for _, _, f in code_cells(nb_path))

def runnable(flags: dict, slow: bool) -> str | None:
    "None if the cell runs, else why it is skipped."
    if "notest" in flags: return "notest"
    if flags.get("eval", "").replace(":", "").strip().lower() == "false": return "eval: false"
    if "slow" in flags and not slow: return "slow"
    return None

def strip_magics(src: str) -> str:
    "Drop IPython magics and shell escapes (they have no meaning outside Jupyter)."
    return "\n".join("" if l.lstrip().startswith(("%", "!")) else l for l in src.splitlines())

def _cuda_available() -> bool:
    try:
        import torch
        return torch.cuda.is_available()
    except ImportError: return False

def run_one(nb_path, slow: bool) -> dict:
    "Run one notebook's cells in this process; return its record."
    import matplotlib; matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    nb_path = Path(nb_path).resolve()
    os.chdir(nb_path.parent)
    ns = {"__name__": "__main__", "__file__": str(nb_path)}
    rec = dict(notebook=str(nb_path.relative_to(ROOT)) if nb_path.is_relative_to(ROOT) else str(nb_path),
               status="ok", cells=0, cuda_cells=0, skipped={}, failed=None)
    t0 = time.time()
    for i, src, flags in code_cells(nb_path):
        why = runnable(flags, slow)
        if not why and "cuda" in flags and not _cuda_available(): why = "cuda (no GPU here)"
        if why: rec["skipped"][why] = rec["skipped"].get(why, 0) + 1; continue
        t = time.time()
        try:
            exec(compile(strip_magics(src), f"{nb_path.name}[cell {i}]", "exec"), ns)
        except BaseException as e:
            if isinstance(e, KeyboardInterrupt): raise
            rec.update(status="failed", failed=dict(cell=i, cuda="cuda" in flags, source=src[:800],
                                                    error=f"{type(e).__name__}: {str(e)[:1000]}", traceback=traceback.format_exc()[-3000:]))
            break
        finally: plt.close("all")
        rec["cells"] += 1; rec["cuda_cells"] += "cuda" in flags
        print(f"  {nb_path.name} cell {i}{' [cuda]' if 'cuda' in flags else ''}: {time.time() - t:.1f}s", flush=True)
    rec["seconds"] = round(time.time() - t0, 1)
    return rec

def summarise(results, t0, partial=False) -> dict:
    s = dict(ok=bool(results) and all(r["status"] == "ok" for r in results), seconds=round(time.time() - t0, 1),
             cuda_cells_run=sum(r.get("cuda_cells", 0) for r in results), notebooks=results)
    if partial: s["partial"] = True
    return s

def write(out, results, t0, partial=False) -> dict:
    s = summarise(results, t0, partial)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(s, indent=1))
    return s

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="*", help="notebooks to run (default with --cuda-notebooks: every nbs/*.ipynb with a `#| cuda` cell)")
    ap.add_argument("--cuda-notebooks", action="store_true", help="run every notebook in nbs/ that has a `#| cuda` cell")
    ap.add_argument("--slow", action="store_true", help="also run `#| slow` cells")
    ap.add_argument("--out", default=None, help="JSON results file")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per notebook")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)        # internal: run this notebook here, print its record
    a = ap.parse_args(argv)
    if a.one:
        rec = run_one(a.one, a.slow)
        print("@@RESULT@@" + json.dumps(rec), flush=True)
        return 0
    nbs = [Path(p) for p in a.notebooks]
    if a.cuda_notebooks: nbs += [p for p in sorted((ROOT / "nbs").glob("*.ipynb")) if has_cuda_cells(p) and p not in nbs]
    if not nbs: ap.error("no notebooks given (pass paths or --cuda-notebooks)")
    env = {**os.environ, "MPLBACKEND": "Agg"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    results, t0 = [], time.time()
    for nb in nbs:
        print(f"[nb] {nb}", flush=True)
        try:
            r = subprocess.run([sys.executable, __file__, "--one", str(nb)] + (["--slow"] if a.slow else []), env=env,
                               capture_output=True, text=True, timeout=a.timeout)
            sys.stdout.write(r.stdout.replace("@@RESULT@@", "  result: ")[-4000:]); sys.stderr.write(r.stderr[-4000:])
            lines = [l for l in r.stdout.splitlines() if l.startswith("@@RESULT@@")]
            rec = json.loads(lines[-1][len("@@RESULT@@"):]) if lines else dict(
                notebook=str(nb), status="crashed", returncode=r.returncode, stderr=r.stderr[-3000:])
        except subprocess.TimeoutExpired as e:
            rec = dict(notebook=str(nb), status="timeout", timeout_s=a.timeout, stdout=(e.stdout or b"")[-2000:].decode(errors="replace") if isinstance(e.stdout, bytes) else str(e.stdout)[-2000:])
        results.append(rec)
        if a.out: write(a.out, results, t0, partial=True)          # what ran survives a kill
        print(f"[nb] {nb}: {rec['status']}" + (f" at cell {rec['failed']['cell']}: {rec['failed']['error'][:300]}" if rec.get("failed") else ""), flush=True)
    summary = write(a.out, results, t0) if a.out else summarise(results, t0)
    print(f"[nb] {'all ok' if summary['ok'] else 'FAILURES'}: {len(results)} notebooks, {summary['cuda_cells_run']} cuda cells, {summary['seconds']}s")
    return 0 if summary["ok"] else 1

if __name__ == "__main__": sys.exit(main())
