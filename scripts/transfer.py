"""Does pretraining transfer? Pretrained vs its from-scratch twin on real English sentences (nbs/07d_transfer.ipynb).

    python scripts/transfer.py --config configs/transfer_tiny.yaml [--transfer.pretrained runs/tiny] [--key value ...]

Writes results.json, table.md and transfer.png to transfer.output_dir. Thin wrapper around `neobert.transfer.transfer_cli`.
"""
from neobert.transfer import transfer_cli
transfer_cli()
