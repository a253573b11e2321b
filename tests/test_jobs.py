"""jobs/: the SLURM and torchrun launchers for many machines.
- `--dry-run` of jobs/slurm_pretrain.sh for 2 nodes x 8 GPUs (SLURM's variables faked, the nodelist expanded without
  scontrol) prints one `accelerate launch` per node with its machine_rank, num_machines 2, num_processes 16 and the
  first host as main_process_ip; jobs/torchrun_pretrain.sh likewise with torchrun's flags;
- both scripts pass `bash -n`;
- scripts/pretrain.py under torchrun (2 CPU processes over gloo, through jobs/torchrun_pretrain.sh itself) finishes on
  both ranks with identical replicas, and its held-out loss is that of 1 process on the same checkpoint;
- the SLURM batch path with fake srun/scontrol: SIGUSR1 before the time limit -> checkpoint, requeue, resume."""
import os, re, sys, json, shlex, subprocess
import pytest
from conftest import ROOT, OFFLINE
from launch_util import ACCELERATE, TINY_RUN, free_port, check_replicas_and_eval

JOBS = ROOT / "jobs"

def job_env(env=None) -> dict:
    "This environment without the scheduler's and the launchers' variables, offline, and a test's own `env` on top."
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "MASTER_", "NNODES", "NODE_RANK"))}
    return {**clean, **OFFLINE, **(env or {})}

def bash(*args, env=None, timeout=60):
    return subprocess.run(["bash", *map(str, args)], cwd=ROOT, env=job_env(env), capture_output=True, text=True,
                          timeout=timeout)

def flags(line):
    "The --flag value pairs of a printed command, up to the script it launches."
    w = shlex.split(line); w = w[:w.index("scripts/pretrain.py")]
    return {a: (b if not b.startswith("--") else True) for a, b in zip(w, w[1:] + ["--"]) if a.startswith("--")}

@pytest.mark.parametrize("script", sorted(JOBS.glob("*.sh")), ids=lambda p: p.name)
def test_syntax(script):
    r = bash("-n", script); assert r.returncode == 0, r.stderr

def test_slurm_dry_run_two_nodes_of_eight():
    r = bash(JOBS / "slurm_pretrain.sh", "--dry-run", "--trainer.max_steps", "10",
             env=dict(SLURM_NNODES="2", SLURM_JOB_NODELIST="node[01-02]", GPUS_PER_NODE="8", SLURM_JOB_ID="4242",
                      PATH="/usr/bin:/bin"))                          # no scontrol: the script expands the nodelist
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.splitlines() if not l.startswith("#")]
    assert len(lines) == 2 and "node 0 of 2 (node01)" in r.stdout and "node 1 of 2 (node02)" in r.stdout
    for rank, line in enumerate(lines):
        assert line.startswith("accelerate launch ") and line.endswith("--trainer.max_steps 10")
        f = flags(line)
        assert (f["--machine_rank"], f["--num_machines"], f["--num_processes"]) == (str(rank), "2", "16")
        assert (f["--main_process_ip"], f["--main_process_port"]) == ("node01", str(20000 + 4242))
        assert f["--rdzv_backend"] == "static" and f["--config_file"] == "configs/accelerate/ddp.yaml"
    r = bash(JOBS / "slurm_pretrain.sh", "--dry-run",                  # an override of the master, 3 x 4 GPUs
             env=dict(SLURM_NNODES="3", SLURM_JOB_NODELIST="gpu[7,9-10]", GPUS_PER_NODE="4", MASTER_ADDR="10.0.0.7",
                      PATH="/usr/bin:/bin"))
    lines = [l for l in r.stdout.splitlines() if not l.startswith("#")]
    assert [flags(l)["--machine_rank"] for l in lines] == ["0", "1", "2"] and "(gpu10)" in r.stdout
    assert {(flags(l)["--num_processes"], flags(l)["--main_process_ip"]) for l in lines} == {("12", "10.0.0.7")}

def test_torchrun_dry_run():
    r = bash(JOBS / "torchrun_pretrain.sh", "--dry-run", env=dict(NNODES="2", MASTER_ADDR="node01", NPROC_PER_NODE="8"))
    lines = [l for l in r.stdout.splitlines() if not l.startswith("#")]
    assert [flags(l)["--node_rank"] for l in lines] == ["0", "1"]
    assert {(flags(l)["--nnodes"], flags(l)["--nproc_per_node"], flags(l)["--master_addr"]) for l in lines} \
        == {("2", "8", "node01")}

def test_torchrun_on_cpu(tmp_path):
    "The real thing on one machine: jobs/torchrun_pretrain.sh with 2 CPU processes."
    out = tmp_path / "run"
    env = dict(NNODES="1", NODE_RANK="0", NPROC_PER_NODE="2", MASTER_PORT=str(free_port()), OUTPUT_DIR=str(out),
               CONFIG="configs/pretrain_tiny.yaml", TORCHRUN=f"{sys.executable} -m torch.distributed.run",
               OMP_NUM_THREADS="1")
    r = bash(JOBS / "torchrun_pretrain.sh", *TINY_RUN[2:], env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "2 process(es) on cpu" in r.stdout
    check_replicas_and_eval(out, 2)

FAKE_SRUN = """#!/bin/bash
# one node: drop srun's options, run the task as node 0
while [[ $1 == --* ]]; do shift; done
SLURM_NODEID=0 SLURM_PROCID=0 exec "$@"
"""
FAKE_SCONTROL = """#!/bin/bash
# 'show hostnames LIST' -> localhost; 'requeue ID' -> recorded
if [[ $1 == show ]]; then echo localhost; else echo "$*" >> "$FAKE_SLURM_LOG"; fi
"""

def test_slurm_time_limit_saves_requeues_and_resumes(tmp_path):
    """The batch path of jobs/slurm_pretrain.sh with fake `srun` (one node) and `scontrol`, 2 CPU processes: SIGUSR1
    to the batch shell (SLURM's --signal=B:USR1@120) -> the trainers get SIGTERM, write a checkpoint and stop; the
    job calls `scontrol requeue JOBID`; the same script run again resumes from that checkpoint and finishes."""
    import time, signal
    bin_ = tmp_path / "bin"; bin_.mkdir()
    for name, text in (("srun", FAKE_SRUN), ("scontrol", FAKE_SCONTROL)):
        (bin_ / name).write_text(text); (bin_ / name).chmod(0o755)
    out, log = tmp_path / "run", tmp_path / "slurm.log"
    env = {"PATH": f"{bin_}:{os.environ['PATH']}", "FAKE_SLURM_LOG": str(log), "SLURM_NNODES": "1",
           "SLURM_JOB_NODELIST": "localhost", "SLURM_JOB_ID": "77", "SLURM_SUBMIT_DIR": str(ROOT), "GPUS_PER_NODE": "2",
           "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "OMP_NUM_THREADS": "1",
           "LAUNCH": " ".join(ACCELERATE), "CONFIG": "configs/pretrain_tiny.yaml",
           "OUTPUT_DIR": str(out)}
    run = [*TINY_RUN[2:], "--trainer.save_steps", "100000", "--trainer.eval_steps", "100000", "--trainer.log_steps", "10"]
    p = subprocess.Popen(["bash", str(JOBS / "slurm_pretrain.sh"), *run, "--trainer.max_steps", "100000"], cwd=ROOT,
                         env=job_env(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        t0 = time.monotonic()
        while not ((out / "metrics.jsonl").exists() and (out / "metrics.jsonl").read_text().strip()):
            assert p.poll() is None and time.monotonic() - t0 < 200, "the job did not start training"
            time.sleep(0.5)
        p.send_signal(signal.SIGUSR1)
        text = p.communicate(timeout=120)[0]
    finally:
        if p.poll() is None: p.kill()
    assert p.returncode != 0 and "requeueing job 77" in text, text[-3000:]
    # a trainer saves, then exits 143 (128 + SIGTERM); once the first has, torchrun may send the other its own closing
    # SIGTERM (-15) after the checkpoint is written: either, never a crash (the checkpoint is checked below)
    codes = re.findall(r"exitcode\s*:\s*(-?\d+)", text)
    assert "143" in codes and set(codes) <= {"143", "-15"}, text[-3000:]
    assert log.read_text().split() == ["requeue", "77"]
    steps = [int(d.name.split("-")[1]) for d in (out / "checkpoints").glob("step-*")]
    assert len(steps) == 1 and 0 < steps[0] < 100000, steps                  # the checkpoint written on SIGTERM
    n = steps[0]
    ck = out / "checkpoints" / f"step-{n}"                                     # complete: both ranks' state in it
    assert all((ck / f"rng/rank-{r}.pt").is_file() and (ck / f"data/rank-{r}.json").is_file() for r in (0, 1)), ck
    r = bash(JOBS / "slurm_pretrain.sh", *run, "--trainer.max_steps", n + 2,
             env={**env, "MASTER_PORT": str(free_port())}, timeout=300)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert f"(step {n}," in r.stdout and "requeue" not in log.read_text().split()[2:]
    s = json.loads((out / "summary.json").read_text())
    assert s["steps"] == n + 2 and s["processes"] == 2
