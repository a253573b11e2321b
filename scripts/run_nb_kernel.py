"""Run notebooks top to bottom in a real Jupyter kernel (ipykernel through nbclient), as "Run All" does in JupyterLab.

Every code cell runs, in order, from the notebook's folder; `#| cuda` cells skip themselves where there is no GPU (they
print that they were skipped: `neobert.config.skip_gpu_cells`). A notebook fails at its first error. Notebooks run in
parallel, one kernel each; `make test` runs all of them this way.

    python scripts/run_nb_kernel.py                        # every nbs/*.ipynb
    python scripts/run_nb_kernel.py nbs/03_model.ipynb --n-workers 1 --out OUT/kernel.json
"""
import argparse, json, os, sys, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIPPED = "skipped: this `#| cuda` cell needs a CUDA GPU"

def run_one(path:str, timeout:int) -> dict:
    "Execute one notebook in a fresh kernel; its record (status, seconds, cells run, cuda cells skipped, the error)."
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    p = Path(path).resolve()
    nb = nbformat.read(p, as_version=4)
    rec = dict(notebook=str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p), status="ok", cells=0, cuda_skipped=0)
    t0 = time.time()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(p.parent)}},
                            allow_errors=False, record_timing=False)
    try: client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as e:
        rec.update(status="failed", error=str(e)[-3000:])
    except Exception as e: rec.update(status="crashed", error=f"{type(e).__name__}: {str(e)[-2000:]}")
    code = [c for c in nb.cells if c.cell_type == "code"]
    rec["cells"] = sum(c.get("execution_count") is not None for c in code)
    rec["code_cells"] = len(code)
    rec["cuda_skipped"] = sum(any(SKIPPED in o.get("text", "") for o in c.get("outputs", [])) for c in code)
    rec["seconds"] = round(time.time() - t0, 1)
    return rec

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="*", help="notebooks (default: every nbs/*.ipynb)")
    ap.add_argument("--n-workers", type=int, default=2, help="notebooks run at once")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    ap.add_argument("--out", default=None, help="JSON results file")
    a = ap.parse_args(argv)
    nbs = [str(Path(p)) for p in a.notebooks] or [str(p) for p in sorted((ROOT / "nbs").glob("*.ipynb"))]
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [q for q in os.environ.get("PYTHONPATH", "").split(os.pathsep) if q])
    t0, results = time.time(), []
    with ProcessPoolExecutor(max(1, a.n_workers)) as ex:
        for rec in ex.map(run_one, nbs, [a.timeout] * len(nbs)):
            results.append(rec)
            print(f"[kernel] {rec['notebook']}: {rec['status']}, {rec['cells']}/{rec['code_cells']} cells"
                  + (f", {rec['cuda_skipped']} cuda cells skipped" if rec["cuda_skipped"] else "") + f", {rec['seconds']}s", flush=True)
            if rec["status"] != "ok": print(rec["error"], file=sys.stderr, flush=True)
    ok = all(r["status"] == "ok" and r["cells"] == r["code_cells"] for r in results)
    summary = dict(ok=ok, seconds=round(time.time() - t0, 1), notebooks=results)
    if a.out: Path(a.out).parent.mkdir(parents=True, exist_ok=True); Path(a.out).write_text(json.dumps(summary, indent=1))
    print(f"[kernel] {'all ok' if ok else 'FAILURES'}: {len(results)} notebooks in a real kernel, {summary['seconds']}s")
    return 0 if ok else 1

if __name__ == "__main__": sys.exit(main())
