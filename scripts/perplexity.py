"""Pseudo-perplexity of a masked-language model against sequence length (the paper's length-generalisation study).

    python scripts/perplexity.py --model.name_or_path runs/neobert/checkpoints/step-N \
        [--perplexity.lengths 128,256,512,1024,2048,4096] [--perplexity.output_dir runs/perplexity] [--data.source embedded]

Writes OUTPUT_DIR/perplexity.{json,csv,png}; see nbs/12_perplexity.ipynb.
"""
from neobert.perplexity import perplexity_cli
from neobert.config import show_help
show_help(perplexity_cli); perplexity_cli()
