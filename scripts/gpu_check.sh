#!/usr/bin/env bash
# GPU readiness check, for a bare CUDA machine with no network:
#   bash scripts/gpu_check.sh OUT_DIR [--dry-run] [--check.key value ...]      (make gpu-check OUT=dir)
# Needs only torch, transformers, accelerate (numpy, matplotlib, pyyaml, safetensors, tqdm); fastcore is installed from
# .whl/ into /tmp/site when that folder exists, and the project is imported from the repo root through PYTHONPATH.
# The parts (env, bench, trainer runs, notebooks, summary), their time limits and the trainer runs are Python
# (neobert.gpu_check, nbs/11e_gpu_check.ipynb) configured by configs/bench/gpu_check.yaml; `--help` lists the keys.
set -u
OUT=${1:?usage: bash scripts/gpu_check.sh OUT_DIR [--dry-run] [--check.key value ...]}
shift
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for c in python3 python; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c "import torch" >/dev/null 2>&1; then PY=$c; break; fi
  done
fi
PY=${PY:-python3}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export MPLBACKEND=Agg HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE=disabled \
       TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1 PYTORCH_CUDA_ALLOC_CONF=${PYTORCH_CUDA_ALLOC_CONF:-expandable_segments:True}
if ls .whl/*.whl >/dev/null 2>&1; then     # fastcore (pure python) from the carried wheel
  timeout 60 "$PY" -m pip install --no-index --no-deps --quiet --target /tmp/site .whl/*.whl && export PYTHONPATH="/tmp/site:$PYTHONPATH"
fi
exec "$PY" scripts/gpu_check.py "$OUT" "$@"
