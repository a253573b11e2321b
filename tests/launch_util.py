"""The one place the tests launch many CPU processes: `accelerate launch` commands over gloo and running them (tests/
test_launch.py, test_jobs.py, test_pretrain.py, test_checkpoints.py, test_fsdp.py), a tiny pretraining run for many
processes, and the held-out evaluation of one of its checkpoints in this one process (the 1-rank reference)."""
import os, sys, json, socket, subprocess
from pathlib import Path
from conftest import ROOT, OFFLINE

ACCELERATE = [sys.executable, "-m", "accelerate.commands.launch"]          # `accelerate launch` of this interpreter

# 2 steps of 2 x 64 tokens per rank; every step checkpointed (step-1 is the negative control); 3 validation batches,
# fewer than 8 ranks: some ranks get none of them
TINY_RUN = ["--config", "configs/pretrain_tiny.yaml", "--model.hidden_size", "32", "--model.num_hidden_layers", "2",
            "--model.num_attention_heads", "2", "--model.intermediate_size", "64", "--data.max_length", "64",
            "--trainer.batch_size", "2", "--trainer.eval_batches", "3", "--trainer.progress", "false",
            "--trainer.cpu_threads", "1", "--trainer.max_steps", "2", "--trainer.save_steps", "1",
            "--trainer.log_steps", "1", "--scheduler.warmup_steps", "1",
            "--model.tie_word_embeddings", "false"]                   # FSDP2 (one of the launches) refuses tied weights

def free_port() -> int:
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def accelerate(script, *args, n:int=2, config=None) -> list:
    """`accelerate launch` of `script args` on `n` CPU processes, on a free port, without mixed precision: with the
    accelerate config file `config` as a user launches it, else DDP (`--multi_gpu`, one machine, no dynamo: stated
    rather than left to accelerate's warned-about defaults)."""
    how = ["--config_file", str(config)] if config else ["--multi_gpu", "--num_machines", "1", "--dynamo_backend", "no"]
    return [*ACCELERATE, *how, "--num_processes", str(n), "--mixed_precision", "no", "--main_process_port",
            str(free_port()), *map(str, (script, *args))]

def env() -> dict: return {**os.environ, **OFFLINE, "OMP_NUM_THREADS": "1"}   # offline, one thread per process

def run(cmd, timeout=300) -> subprocess.CompletedProcess:
    "Run `cmd` (a launch, or one process) from the repository root in `env()`; its output captured."
    return subprocess.run(cmd, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=timeout)

def start(cmd, **kw) -> subprocess.Popen:
    "Start `cmd` as `run` does, its stdout and stderr piped, without waiting (`kw` to Popen)."
    return subprocess.Popen(cmd, cwd=ROOT, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)

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
