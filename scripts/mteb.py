"""Evaluate an encoder on MTEB: the paper's benchmark `MTEB(eng, v1)`, built-in tasks by name, or local tasks from YAML.

    python scripts/mteb.py --config configs/mteb.yaml --model.name_or_path PATH_OR_HUB_ID \
        [--mteb.tasks_file TASKS.yaml] [--mteb.output_dir DIR]

Writes DIR/results.json (task -> main score), DIR/summary.{md,csv,png} and DIR/config.yaml; see nbs/08_mteb.ipynb (the encoder) and nbs/08a_mteb_tasks.ipynb (tasks, summary, this script).
"""
import os, sys
# This file is called mteb.py and Python puts its folder first on sys.path: take it out, so that `import mteb`
# finds the mteb package and not this script.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.getcwd()) != _here]

if __name__ == "__main__":
    from neobert.mteb_tasks import mteb_cli
    from neobert.config import show_help
    show_help(mteb_cli); mteb_cli()
