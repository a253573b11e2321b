"""Validate an exported NeoBERT folder: files, config fields, Auto classes (remote code and registered classes) against the
in-package model in float32 for 0/1, bool and no attention masks, the fill-mask pipeline and sentence-transformers, and
the ONNX files (onnx/model.onnx, onnx/model_mlm.onnx) through onnxruntime when present.
Prints a report; exits 1 if any check fails, 2 on a usage error.

Usage: python scripts/validate_export.py OUT_DIR [--tol 1e-5]
See nbs/10a_validate.ipynb and nbs/10b_onnx.ipynb."""
from neobert.validate import validate_cli
validate_cli()
