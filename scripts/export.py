"""Export a NeoBERT checkpoint as a self-contained Hugging Face model folder (safetensors, modeling code, tokenizer, model card; with --onnx also ONNX graphs).

Usage: python scripts/export.py CHECKPOINT OUT_DIR [--sentence-transformers [--pooling cls]] [--onnx] [--validate] [--overwrite]
CHECKPOINT: a checkpoints/step-N folder, a run folder (its latest checkpoint), a hub-layout folder or a hub id.
See nbs/10_export.ipynb."""
from neobert.export import export_cli
export_cli()
