"""Shared by tests/test_launch.py and tests/test_jobs.py: a tiny pretraining run for many CPU processes, and the
held-out evaluation of one of its checkpoints in this one process (the 1-rank reference)."""
import json, socket
from pathlib import Path

# 2 steps of 2 x 64 tokens per rank; every step checkpointed (step-1 is the negative control); 3 validation batches,
# fewer than 8 ranks: some ranks get none of them
TINY_RUN = ["--config", "configs/pretrain_tiny.yaml", "--model.hidden_size", "32", "--model.num_hidden_layers", "2",
            "--model.num_attention_heads", "2", "--model.intermediate_size", "64", "--data.max_length", "64",
            "--trainer.batch_size", "2", "--trainer.eval_batches", "3", "--trainer.progress", "false",
            "--trainer.cpu_threads", "1", "--trainer.max_steps", "2", "--trainer.save_steps", "1",
            "--trainer.log_steps", "1", "--scheduler.warmup_steps", "1"]

def free_port() -> int:
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def heldout_eval(out, step:int) -> dict:
    "Held-out loss, masked tokens and unigram baseline of checkpoint `step` of run `out`, evaluated here, on 1 process."
    import torch
    from safetensors.torch import load_file
    from neobert.config import load_config
    from neobert.data import load_tokenizer, token_counts
    from neobert.train import build_model, evaluate_mlm, unigram_baseline_loss
    from neobert.pretrain import validation_batches
    cfg = load_config(Path(out) / "config.yaml", [])
    tok = load_tokenizer(cfg.tokenizer)
    model = build_model(cfg, tok)
    model.load_state_dict(load_file(Path(out) / "checkpoints" / f"step-{step}" / "model.safetensors"), strict=True)
    batches = validation_batches(cfg, tok)
    r = evaluate_mlm(model, batches)
    return dict(loss=r["loss"], tokens=r["tokens"],
                baseline=unigram_baseline_loss(token_counts(cfg, tok, "train", max_documents=None), batches))

def check_replicas_and_eval(out, world:int, step:int=2):
    """The run in `out` finished on `world` processes, its replicas identical, each rank on its own data, and its
    held-out loss (evaluated sharded over `world` ranks) that of 1 process on the same checkpoint; an earlier
    checkpoint's loss differs (the comparison can fail)."""
    s = json.loads((Path(out) / "summary.json").read_text())
    ranks = sorted(s["processes_detail"], key=lambda d: d["rank"])
    assert s["processes"] == world and [d["rank"] for d in ranks] == list(range(world)) and s["steps"] == step
    assert len({d["weights_sha256"] for d in ranks}) == 1 and ranks[0]["weights_sha256"]     # identical replicas
    assert len({d["data_sha256"] for d in ranks}) == world                                  # ... from different data
    check_eval(out, step)
    return s

def check_eval(out, step:int=2):
    """Run `out`'s held-out loss at its end (evaluated sharded over its processes) is that of 1 process on checkpoint
    `step`, the same masked tokens and baseline; checkpoint `step - 1` gives another loss (the comparison can fail)."""
    s = json.loads((Path(out) / "summary.json").read_text())
    one = heldout_eval(out, step)
    assert s["val_masked_tokens"] == one["tokens"] > 0                                      # nothing double-counted
    assert abs(s["val_mlm_loss"] - one["loss"]) < 1e-5 * one["loss"], (s["val_mlm_loss"], one)
    assert abs(s["unigram_baseline_loss"] - one["baseline"]) < 1e-9 * one["baseline"]
    other = heldout_eval(out, step - 1)                                                     # negative control
    assert other["tokens"] == one["tokens"] and abs(other["loss"] - one["loss"]) > 1e-4, (other, one)
