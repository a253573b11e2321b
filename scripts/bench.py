"""Benchmark NeoBERT against ModernBERT and BERT at matched size (training and inference throughput, memory, MFU,
packed vs padded on real documents); see nbs/11_bench.ipynb to nbs/11d_bench_cli.ipynb.

    python scripts/bench.py --quick --out bench.json          # = --config configs/bench/quick.yaml --bench.out bench.json
    python scripts/bench.py --config configs/bench/gpu.yaml --bench.budget_s 300 [--section.key value ...]
    python scripts/bench.py --help                            # every config key
"""
from neobert.bench_cli import bench_cli

if __name__ == "__main__": bench_cli()
