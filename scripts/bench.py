"""Benchmark NeoBERT against ModernBERT and BERT at matched size (training and inference throughput, memory, MFU,
packed vs padded on real documents). `python scripts/bench.py --quick --out bench.json`; see nbs/11_bench.ipynb."""
from neobert.bench import bench_cli

if __name__ == "__main__": bench_cli()
