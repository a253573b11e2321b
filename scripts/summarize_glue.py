"""Print the GLUE summary table (best run per task, the GLUE average) beside the paper's numbers.

    python scripts/summarize_glue.py RESULTS_DIR [--out DIR] [--reference FILE.yaml] [--no-chart]

Writes glue_summary.md, glue_summary.csv and glue_summary.png. Thin wrapper around `neobert.glue_finetune.summarize_cli`.
"""
from neobert.glue_finetune import summarize_cli
summarize_cli()
