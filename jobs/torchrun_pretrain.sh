#!/bin/bash
# Multi-node pretraining with plain torchrun (no SLURM, no accelerate launcher): run this on every machine, with
# NODE_RANK set to the machine's place (0 on the machine at MASTER_ADDR), the same NNODES/MASTER_ADDR/MASTER_PORT on all:
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=node01 bash jobs/torchrun_pretrain.sh [--key value ...]     # on node01
#   NNODES=2 NODE_RANK=1 MASTER_ADDR=node01 bash jobs/torchrun_pretrain.sh [--key value ...]     # on node02
#   NNODES=2 MASTER_ADDR=node01 NPROC_PER_NODE=8 bash jobs/torchrun_pretrain.sh --dry-run      # every machine's command
# scripts/pretrain.py reads torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, ...) through Accelerate:
# DDP on GPUs (NCCL), on CPUs over gloo. Precision comes from the config (trainer.mixed_precision), not the launcher.
# Stopping: SIGTERM to the trainers makes them save and exit; rerunning the same command resumes from OUTPUT_DIR.
set -euo pipefail

DRY=0; ARGS=()
for a in "$@"; do [[ $a == --dry-run ]] && DRY=1 || ARGS+=("$a"); done

source "$(dirname "$0")/common.sh"
NNODES=${NNODES:-1}                                # machines in the job
NODE_RANK=${NODE_RANK:-0}                          # this machine's place, 0 .. NNODES-1
NPROC_PER_NODE=${NPROC_PER_NODE:-8}                # processes per machine, one per GPU
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}              # the machine of NODE_RANK 0, reachable from all the others
MASTER_PORT=${MASTER_PORT:-29500}                  # a free port there
CONFIG=${CONFIG:-configs/pretrain_neobert.yaml}   # the training recipe
OUTPUT_DIR=${OUTPUT_DIR:-runs/neobert}             # the run folder: on a shared filesystem, the same on every machine
TORCHRUN=${TORCHRUN:-torchrun}                     # the launcher (word-split: "python -m torch.distributed.run")

node_command() {
    # shellcheck disable=SC2206
    local launch=($TORCHRUN)
    # --nnodes/--node_rank: this machine's place; --nproc_per_node: its processes; --master_addr/port: the static
    # rendezvous at rank 0's machine; --max_restarts 0: a failed process ends the run (a rerun resumes, not a restart)
    CMD=("${launch[@]}" --nnodes "$NNODES" --node_rank "$1" --nproc_per_node "$NPROC_PER_NODE"
         --master_addr "$MASTER_ADDR" --master_port "$MASTER_PORT" --max_restarts 0
         scripts/pretrain.py --config "$CONFIG" --trainer.output_dir "$OUTPUT_DIR" ${ARGS[@]+"${ARGS[@]}"})
}

if [[ $DRY == 1 ]]; then
    for ((r = 0; r < NNODES; r++)); do echo "# node $r of $NNODES"; node_command "$r"; show "${CMD[@]}"; done
    exit 0
fi
node_command "$NODE_RANK"
exec "${CMD[@]}"
