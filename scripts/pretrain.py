"""Pretrain NeoBERT with masked language modelling (nbs/06b_pretrain.ipynb, on the engine of nbs/06a_trainer.ipynb).

    python scripts/pretrain.py --config configs/pretrain_tiny.yaml [--trainer.output_dir DIR] [--key value ...]
    accelerate launch --config_file configs/accelerate/ddp.yaml scripts/pretrain.py --config configs/pretrain_neobert.yaml

Checkpoints go to DIR/checkpoints/step-N/; rerunning the same command resumes from the newest complete one.
Ends with DIR/summary.json, DIR/metrics.jsonl and DIR/loss_curves.png. Thin wrapper around `neobert.pretrain.pretrain_cli`.
"""
from neobert.pretrain import pretrain_cli
from neobert.config import show_help
show_help(pretrain_cli); pretrain_cli()
