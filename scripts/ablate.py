"""Ablations: pretrain the named variants of one config on the same data, seed and token budget, and compare them
(nbs/06c_ablate.ipynb).

    python scripts/ablate.py --config configs/ablations/embedded.yaml [--output_dir DIR] [--only NAME ...]
    accelerate launch --config_file configs/accelerate/ddp.yaml scripts/ablate.py --config configs/ablations/gpu_100m.yaml

Each variant is a normal pretraining run in DIR/<variant>/; rerunning skips finished variants and resumes an
interrupted one. Writes DIR/ablations.md, DIR/ablations.csv and DIR/ablations.png. Thin wrapper around
`neobert.ablate.ablate_cli`.
"""
from neobert.ablate import ablate_cli
ablate_cli()
