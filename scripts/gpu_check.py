"""The GPU check (nbs/11e_gpu_check.ipynb): python scripts/gpu_check.py OUT_DIR [--dry-run] [--check.key value ...].
Usually through `bash scripts/gpu_check.sh OUT_DIR` (or `make gpu-check OUT=dir`), which sets up the environment first."""
from neobert.gpu_check import gpu_check_cli

if __name__ == "__main__": gpu_check_cli()
