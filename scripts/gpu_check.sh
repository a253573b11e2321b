#!/usr/bin/env bash
# GPU readiness check, for a bare CUDA machine with no network:
#   bash scripts/gpu_check.sh OUT_DIR
# Needs only torch, transformers, accelerate, numpy, matplotlib, pyyaml, safetensors, tqdm (no nbdev, datasets, mteb,
# wandb, gensim). fastcore (pure python, used by the notebooks' tests) is installed from .whl/ into /tmp/site when that
# folder exists. The project is imported from the repo root through PYTHONPATH; nothing is pip-installed.
# Parts, each under its own time limit, none able to abort the others:
#   env       versions, the GPU, and an import check of every neobert module        -> OUT/env.json
#   bench     scripts/bench.py --gpu (250M model, bf16): first the compile/attention variants at 1024 with a
#             kernel-time profile of each (the fastest becomes the compiled contender), then the comparison with
#             ModernBERT and BERT, the corpus, inference, memory and backends   -> OUT/bench.json, OUT/bench.png
#   trainer   scripts/pretrain.py, paper config, 10 steps of 262,144 tokens on .gpu_data/ shards (the third step
#             profiled), once per run in GPU_CHECK_TRAINER_RUNS                      -> OUT/trainer.json
#             (`make gpu-data` writes .gpu_data/; skipped without it)
#   notebooks all code cells of the notebooks that have `#| cuda` cells, in order     -> OUT/notebooks.json
#   summary   card, MFU, tokens/s, ratios, which parts passed                         -> OUT/summary.json
# plus OUT/log.txt (everything printed). Total wall time stays under 8 minutes (GPU_CHECK_BUDGET_S, default 470).
# GPU_CHECK_PARTS (default "bench trainer notebooks") picks parts for a shorter re-check. GPU_CHECK_TRAINER_RUNS lists
# trainer runs as BATCHING/BACKEND[/bf16res][/64k] (data.batching; model.attn_backend, `best` = the bench's fastest
# compiled backend, else sdpa; bf16res: model.residual_in_fp32=false; 64k: 64 rows of 1,024 per micro-batch), default
# "concat/best/bf16res/64k concat/best packed/best": all levers on dense rows, then dense rows plain, then packed documents.
# GPU_CHECK_TUNE_S gives the bench's tuning pass that many seconds (default: at most 60% of the bench's budget), and
# GPU_CHECK_BENCH_MAX_S caps the bench part (default 400 s).
set -u
OUT=${1:?usage: bash scripts/gpu_check.sh OUT_DIR}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
cd "$ROOT"
START=$(date +%s)
BUDGET=${GPU_CHECK_BUDGET_S:-470}
LOG="$OUT/log.txt"; : > "$LOG"
PY=${PYTHON:-}
if [ -z "$PY" ]; then for c in python3 python; do if command -v "$c" >/dev/null 2>&1 && "$c" -c "import torch" >/dev/null 2>&1; then PY=$c; break; fi; done; fi
PY=${PY:-python3}

export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export MPLBACKEND=Agg HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE=disabled \
       TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1 PYTORCH_CUDA_ALLOC_CONF=${PYTORCH_CUDA_ALLOC_CONF:-expandable_segments:True}
STATUS=""     # "name=rc:seconds" for the summary
PARTS=" ${GPU_CHECK_PARTS:-bench trainer notebooks} "
want() { case "$PARTS" in *" $1 "*) return 0;; *) say "$1: not asked for (GPU_CHECK_PARTS)"; return 1;; esac; }

say() { echo "[gpu_check $(( $(date +%s) - START ))s] $*" | tee -a "$LOG"; }
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
# part NAME LIMIT_S CMD...: run CMD under `timeout`, never failing the script; record its exit code and time
part() {
  local name=$1 limit=$2; shift 2
  local l; l=$(left)
  if [ "$limit" -gt "$l" ]; then limit=$l; fi
  if [ "$limit" -lt 10 ]; then say "$name: SKIPPED (time budget spent)"; STATUS="$STATUS $name=skipped:0"; return 0; fi
  say "$name: start (limit ${limit}s)"
  local t0; t0=$(date +%s)
  timeout -k 15 "$limit" "$@" >> "$LOG" 2>&1
  local rc=$?
  local dt=$(( $(date +%s) - t0 ))
  if [ $rc -eq 0 ]; then say "$name: ok (${dt}s)"; elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then say "$name: TIMEOUT after ${dt}s"; else say "$name: FAILED rc=$rc (${dt}s; see log.txt)"; fi
  STATUS="$STATUS $name=$rc:$dt"
  return 0
}

say "repo $ROOT, python $PY, out $OUT, budget ${BUDGET}s"

# fastcore from the carried wheel (pure python), into /tmp/site
if ls .whl/*.whl >/dev/null 2>&1; then
  part wheels 60 "$PY" -m pip install --no-index --no-deps --quiet --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site:$PYTHONPATH"
else
  say "wheels: no .whl/ folder (fastcore must already be importable for the notebook tests)"
fi

part env 90 "$PY" - "$OUT/env.json" <<'EOF'
import sys, json, importlib, importlib.metadata as md, subprocess, pkgutil, traceback
out = {"python": sys.version.split()[0], "executable": sys.executable}
for p in ("torch", "transformers", "accelerate", "numpy", "matplotlib", "pyyaml", "safetensors", "tqdm", "pytest",
          "sentence-transformers", "fastcore", "flash-attn", "datasets", "mteb", "wandb", "gensim", "nbdev", "execnb"):
    try: out[p] = md.version(p)
    except md.PackageNotFoundError: out[p] = None
try:
    import fastcore; out["fastcore_path"] = fastcore.__file__
except ImportError as e: out["fastcore_path"] = f"not importable: {e}"
import torch
out["cuda_available"] = torch.cuda.is_available()
out["torch_cuda"] = torch.version.cuda
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    out.update(gpu=p.name, gpu_count=torch.cuda.device_count(), gpu_memory_gb=round(p.total_memory / 2**30, 1), capability=f"{p.major}.{p.minor}")
    out["bf16_supported"] = torch.cuda.is_bf16_supported()
try:
    from torch.nn.attention.varlen import varlen_attn; out["varlen_attn"] = True
except Exception as e: out["varlen_attn"] = f"unavailable: {e}"
try: out["cudnn"] = torch.backends.cudnn.version(); out["cudnn_sdp_enabled"] = torch.backends.cuda.cudnn_sdp_enabled()
except Exception as e: out["cudnn"] = f"unavailable: {e}"
try:
    import flash_attn_interface; out["flash_attn_3"] = True
except Exception as e: out["flash_attn_3"] = f"not importable: {type(e).__name__}"
try: out["nvidia_smi"] = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,clocks.max.sm,power.limit,driver_version", "--format=csv"], capture_output=True, text=True, timeout=20).stdout.strip()
except Exception as e: out["nvidia_smi"] = f"unavailable: {e}"
# every module of the package must import here (no datasets/mteb/wandb/gensim/nbdev at import time)
import neobert
mods = {}
for m in sorted(x.name for x in pkgutil.iter_modules(neobert.__path__)):
    if m.startswith("_"): continue
    try: importlib.import_module(f"neobert.{m}"); mods[m] = "ok"
    except Exception as e: mods[m] = f"{type(e).__name__}: {e}"
out["neobert_imports"] = mods
json.dump(out, open(sys.argv[1], "w"), indent=1)
print(json.dumps(out, indent=1))
bad = {k: v for k, v in mods.items() if v != "ok"}
if bad: print("note: modules that do not import here (fine unless a notebook or the bench needs them):", bad)
EOF

# the benchmark first (the headline: MFU and tokens/s), capped so that the notebook cells keep 2+ minutes
HAS_CUDA=$("$PY" -c "import torch; print(int(torch.cuda.is_available()))" 2>/dev/null || echo 0)
TRAINER_RUNS=${GPU_CHECK_TRAINER_RUNS:-concat/best/bf16res/64k concat/best packed/best}
N_RUNS=0; if want trainer >/dev/null; then N_RUNS=$(echo $TRAINER_RUNS | wc -w); fi
# what the bench leaves: each trainer run (compile included) and the notebook cells
BL=$(( $(left) - ${GPU_CHECK_RESERVE_S:-$(( 60 * N_RUNS + 70 ))} )); BMAX=${GPU_CHECK_BENCH_MAX_S:-400}; if [ "$BL" -gt "$BMAX" ]; then BL=$BMAX; fi
if ! want bench; then :
elif [ "$HAS_CUDA" != "1" ]; then
  say "bench: NO CUDA DEVICE: the GPU benchmark is skipped; running the tiny CPU benchmark instead, to exercise the path"
  part bench "$BL" "$PY" scripts/bench.py --tiny --device cpu --out "$OUT/bench.json"
elif [ "$BL" -gt 60 ]; then
  part bench "$BL" "$PY" scripts/bench.py --gpu --out "$OUT/bench.json" --budget-s $(( BL - 40 )) ${GPU_CHECK_TUNE_S:+--tune-budget-s $GPU_CHECK_TUNE_S}
else
  say "bench: SKIPPED (time budget spent)"; STATUS="$STATUS bench=skipped:0"
fi

# the trainer itself (scripts/pretrain.py with the paper config) for 10 steps of 262,144 tokens on the carried token shards: pretraining
# tokens/s and MFU as a user gets them (compile, prefetching, clipping, logging included), with the bench's fastest backend
TRAIN_DIR=${GPU_CHECK_TRAIN_DIR:-/tmp/neobert_gpu_check_run}
# (GPU_CHECK_TRAINER=force runs it without CUDA and GPU_CHECK_TRAINER_ARGS adds overrides: how it is tried on a CPU)
if ! want trainer; then :
elif { [ "$HAS_CUDA" = "1" ] || [ "${GPU_CHECK_TRAINER:-}" = "force" ]; } && [ -f .gpu_data/shards/meta.json ] && [ -f .gpu_data/tokenizer/tokenizer.json ]; then
  BEST=$("$PY" -c "import json,sys; print((json.load(open(sys.argv[1])).get('settings') or {}).get('compiled_backend') or 'sdpa')" "$OUT/bench.json" 2>/dev/null || echo sdpa)
  rm -f "$OUT/trainer.json"
  for RUN in $TRAINER_RUNS; do
  IFS=/ read -r BATCHING BACKEND REST <<< "$RUN"
  if [ "$BACKEND" = "best" ]; then BACKEND=$BEST; fi
  EXTRA=""
  case "/${REST:-}/" in */bf16res/*) EXTRA="$EXTRA --model.residual_in_fp32 false";; esac
  case "/${REST:-}/" in */64k/*) EXTRA="$EXTRA --trainer.batch_size 64";; esac
  LABEL="$BATCHING/$BACKEND${REST:+/$REST}"
  rm -rf "$TRAIN_DIR"
  part "trainer_${LABEL//\//_}" ${GPU_CHECK_TRAINER_S:-80} "$PY" scripts/pretrain.py --config configs/pretrain_neobert.yaml \
    --data.source pretokenized --data.pretokenized_dir .gpu_data/shards --tokenizer.name_or_path .gpu_data/tokenizer \
    --data.batching "$BATCHING" --model.attn_backend "$BACKEND" --trainer.max_steps 10 --trainer.tokens_per_step 262144 \
    --trainer.log_steps 2 --trainer.eval_steps 100000 --trainer.eval_batches 2 --trainer.save_steps 100000 \
    --trainer.output_dir "$TRAIN_DIR" --trainer.progress false --trainer.profile_steps 1 --wandb.mode disabled $EXTRA ${GPU_CHECK_TRAINER_ARGS:-}
  # trainer.json: {"runs": [one entry per run, in order]}
  timeout -k 5 30 "$PY" - "$TRAIN_DIR" "$OUT/trainer.json" "$BACKEND" "$LABEL" >> "$LOG" 2>&1 <<'EOF'
import json, sys
from pathlib import Path
run, out, backend, label = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
rows = []
try: rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines() if '"train"' in l]
except Exception as e: print("trainer metrics:", e)
steady = rows[1:] or rows            # the first window holds the compilation
med = lambda xs: sorted(xs)[len(xs) // 2] if xs else None
t = dict(run=label, backend=backend, config=f"configs/pretrain_neobert.yaml (250M, 1,024 tokens, compiled per block), {label}, 262,144 tokens per step",
         windows=[{k: r.get(k) for k in ("step", "tokens_per_second", "mfu", "attended_length", "loss")} for r in rows],
         steady_tokens_per_s=med([r["tokens_per_second"] for r in steady if r.get("tokens_per_second")]),
         steady_mfu=med([r["mfu"] for r in steady if r.get("mfu")]),
         attended_length=med([r["attended_length"] for r in steady if r.get("attended_length")]))
try: t["summary"] = {k: v for k, v in json.loads((run / "summary.json").read_text()).items() if k in ("steps", "tokens", "tokens_per_second", "mfu", "final_train_loss", "val_mlm_loss")}
except Exception as e: t["summary"] = f"missing: {e}"
try:       # trainer.profile_steps: the third step's kernels (one optimizer step of all its micro-batches)
    p = json.loads((run / "profile" / "profile.json").read_text())
    t["profile"] = dict({k: p.get(k) for k in ("what", "wall_ms_per_step", "busy_fraction", "total_ms")}, categories_ms={k: round(v, 1) for k, v in p["categories_ms"].items()}, top=p["top"][:15])
except Exception as e: t["profile"] = f"missing: {e}"
try: res = json.loads(out.read_text())
except Exception: res = dict(runs=[])
res["runs"].append(t)
out.write_text(json.dumps(res, indent=1)); print(json.dumps(t, indent=1))
EOF
  done
  rm -rf "$TRAIN_DIR"
else
  say "trainer: SKIPPED (needs CUDA and .gpu_data/ from 'make gpu-data')"; STATUS="$STATUS trainer=skipped:0"
fi

# then every code cell of the notebooks that have `#| cuda` cells, with what is left (minus the summary's margin)
# GPU_CHECK_NOTEBOOKS narrows the list (e.g. when a notebook needs packages that are not installed there).
want notebooks && part notebooks $(( $(left) - 15 )) "$PY" scripts/run_nb_cells.py ${GPU_CHECK_NOTEBOOKS:---cuda-notebooks} --timeout 150 --out "$OUT/notebooks.json"

say "summary"   # always runs, whatever the budget
timeout -k 5 30 "$PY" - "$OUT" "$STATUS" "$(( $(date +%s) - START ))" >> "$LOG" 2>&1 <<'EOF'
import sys, json
from pathlib import Path
out, status, elapsed = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def load(n):
    try: return json.loads((out / n).read_text())
    except Exception as e: return {"missing": f"{n}: {type(e).__name__}: {e}"}
parts = {}
for item in status.split():
    name, v = item.split("=", 1); rc, dt = v.split(":")
    parts[name] = dict(status="ok" if rc == "0" else "timeout" if rc in ("124", "137") else "skipped" if rc == "skipped" else f"failed rc={rc}", seconds=int(dt))
env, nbs, bench, trainer = load("env.json"), load("notebooks.json"), load("bench.json"), load("trainer.json")
runs = trainer.get("runs", [])
s = dict(elapsed_s=elapsed, parts=parts, gpu=env.get("gpu"), torch=env.get("torch"), transformers=env.get("transformers"),
         accelerate=env.get("accelerate"), flash_attn=env.get("flash-attn"), flash_attn_3=env.get("flash_attn_3"), varlen_attn=env.get("varlen_attn"),
         cudnn=env.get("cudnn"), cudnn_sdp_enabled=env.get("cudnn_sdp_enabled"),
         neobert_imports_failing={k: v for k, v in env.get("neobert_imports", {"?": "env.json missing"}).items() if v != "ok"},
         notebooks={n.get("notebook"): dict(status=n.get("status"), cuda_cells=n.get("cuda_cells"),
                                            failed=(n.get("failed") or {}).get("error")) for n in nbs.get("notebooks", [])})
if "missing" not in bench:      # a partial bench.json (the bench killed at its limit) still has what it measured
    tr = [r for r in bench.get("train", []) if r.get("status") == "ok"]
    pick = lambda m, v, S: next((r for r in tr if r["model"] == m and r["variant"] == v and r["seq_len"] == S and r.get("part") != "backends"), None)
    s["bench_partial"] = bool(bench.get("partial"))
    s["train_at_1024"] = {f"{m}/{v}": (dict(tokens_per_s=round(r["tokens_per_s"]), mfu=r["mfu"], peak_mem_gb=(r.get("peak_mem_bytes") or 0) / 2**30, backend=r.get("backend")) if r else None)
                          for m, v in (("neobert", "compiled"), ("neobert", "eager"), ("modernbert", "eager"), ("bert", "eager"))
                          for r in [pick(m, v, 1024)]}
    s["compiled_variant"] = bench.get("settings", {}).get("compiled_variant")
    tune = bench.get("tuning") or {}
    try:
        from neobert.bench import tuning_summary, traffic_summary
        s["tuning"] = tuning_summary(tune)
        s["traffic_fused_kb_per_token_and_block"] = traffic_summary(bench.get("traffic") or {})
    except Exception as e: s["tuning"] = f"not summarised ({type(e).__name__}: {e}); see bench.json"
    # the best MFU at 1024 of our pretraining step, over the bench's compiled contender and every tuning variant
    cands = [("bench " + str(s["compiled_variant"]), (s["train_at_1024"].get("neobert/compiled") or {}).get("mfu"))]
    cands += [(r.get("tune"), r.get("mfu")) for r in tune.get("rows", []) if r.get("status") == "ok" and r.get("seq_len") == 1024]
    cands += [(f"trainer {r.get('run')}", r.get("steady_mfu")) for r in runs]
    cands = [c for c in cands if c[1]]
    best = max(cands, key=lambda c: c[1]) if cands else (None, None)
    s["best_mfu_at_1024"] = dict(variant=best[0], mfu=best[1])
    s["mfu_target_40pct_met"] = bool(best[1] and best[1] >= 0.40)
    s["ratios"] = {k: v for k, v in (bench.get("ratios") or {}).items() if not k.endswith("by_len")}
    s["graph_breaks"] = {k: (v.get("graph_breaks") if isinstance(v, dict) else v) for k, v in bench.get("graph_breaks", {}).items()}
    s["corpus_source"] = bench.get("corpus", {}).get("source")
    s["bench_errors"] = bench.get("errors", [])
else: s["bench"] = bench["missing"]
first = runs[0] if runs else trainer     # the first run (or what says why trainer.json is missing)
s["trainer"] = {k: first.get(k) for k in ("run", "backend", "steady_tokens_per_s", "steady_mfu", "summary", "missing") if k in first}
s["trainer_runs"] = {r.get("run"): dict(steady_tokens_per_s=r.get("steady_tokens_per_s"), steady_mfu=r.get("steady_mfu"),
                                                          attended_length=r.get("attended_length"),
                                                          profile_ms={k: (r.get("profile") or {}).get(k) for k in ("wall_ms_per_step", "busy_fraction", "categories_ms")} if isinstance(r.get("profile"), dict) else r.get("profile"))
                    for r in runs}
(out / "summary.json").write_text(json.dumps(s, indent=1))
print(json.dumps(s, indent=1))
EOF
say "done in $(( $(date +%s) - START ))s; files: $(cd "$OUT" && ls | tr '\n' ' ')"
exit 0
