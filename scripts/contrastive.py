"""Contrastive fine-tuning of an encoder, the NeoBERT paper's recipe before MTEB (InfoNCE, temperature 0.07, in-batch +
hard negatives, one dataset per batch, datasets drawn by size^0.5, instructed queries). See nbs/09_contrastive.ipynb.

    python scripts/contrastive.py --config configs/contrastive.yaml --model.name_or_path runs/neobert/checkpoints/step-N \
        --contrastive.datasets data/pairs.jsonl,other.jsonl --trainer.output_dir runs/neobert-contrastive
    accelerate launch scripts/contrastive.py --config configs/contrastive.yaml ...

Rerunning with the same trainer.output_dir resumes from its newest complete checkpoint. The fine-tuned encoder lands in
OUTPUT_DIR/final (and a sentence-transformers export in OUTPUT_DIR/export).
"""
from neobert.contrastive import contrastive_cli
from neobert.config import show_help
show_help(contrastive_cli); contrastive_cli()
