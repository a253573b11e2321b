#!/bin/bash
# Multi-node pretraining under SLURM: one task per node, each running `accelerate launch` for that node's GPUs.
#   sbatch jobs/slurm_pretrain.sh [--key value ...]          (from the repository root; overrides go to pretrain.py)
#   SLURM_NNODES=2 SLURM_JOB_NODELIST=node[01-02] GPUS_PER_NODE=8 bash jobs/slurm_pretrain.sh --dry-run
# --dry-run prints each node's command and runs nothing (outside SLURM: fake the SLURM_* variables as above).
# Preemption: SLURM's SIGTERM (or SIGUSR1 120 s before the time limit, turned into one SIGTERM per trainer) makes the
# trainers finish the step, write a checkpoint and exit; the job is requeued and the rerun resumes from OUTPUT_DIR.
#SBATCH --job-name=neobert-pretrain
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=64
#SBATCH --time=24:00:00
#SBATCH --requeue
#SBATCH --signal=B:USR1@120
#SBATCH --open-mode=append
#SBATCH --output=slurm-%x-%j.out
# The #SBATCH lines, in order: the job's name in squeue; 2 machines; one task per machine (its accelerate launch
# starts the GPU processes); 8 GPUs per machine (keep GPUS_PER_NODE equal); CPU cores for those 8 processes and their
# data threads; the wall-clock limit; requeue on preemption or node failure, under the same job id; SIGUSR1 to this
# batch shell (B:) 120 s before the limit, time to save; the requeued job's log appended to the same file; the log.
set -euo pipefail

DRY=0; NODE_TASK=0; ARGS=()
for a in "$@"; do
    case $a in --dry-run) DRY=1 ;; --node-task) NODE_TASK=1 ;; *) ARGS+=("$a") ;; esac
done

REPO=${SLURM_SUBMIT_DIR:-$(pwd)}                   # sbatch copies this script away: paths are from the submit dir
cd "$REPO"
source "$REPO/jobs/common.sh"
NNODES=${SLURM_NNODES:-1}                          # machines in the job
GPUS_PER_NODE=${GPUS_PER_NODE:-8}                  # processes per machine, one per GPU
NUM_PROCESSES=$((NNODES * GPUS_PER_NODE))          # accelerate's --num_processes is the total over all machines
NODELIST=${SLURM_JOB_NODELIST:-$(hostname)}
MASTER_ADDR=${MASTER_ADDR:-$(hostnames "$NODELIST" | head -n 1)}   # rank 0's machine: the first host of the job
MASTER_PORT=${MASTER_PORT:-$((20000 + ${SLURM_JOB_ID:-0} % 20000))}  # a port per job: two jobs on a node don't clash
ACCELERATE_CONFIG=${ACCELERATE_CONFIG:-configs/accelerate/ddp.yaml} # the engine (DDP); FSDP2: configs/accelerate/fsdp2.yaml
CONFIG=${CONFIG:-configs/pretrain_neobert.yaml}   # the training recipe
OUTPUT_DIR=${OUTPUT_DIR:-runs/neobert}             # the run folder: on a shared filesystem, the same on every machine
LAUNCH=${LAUNCH:-accelerate launch}                # the launcher (word-split: "python -m accelerate.commands.launch")

# node_command RANK: the command machine RANK runs
node_command() {
    # shellcheck disable=SC2206
    local launch=($LAUNCH)
    # --num_machines/--machine_rank: this machine's place in the job; --main_process_ip/port: where rank 0 listens;
    # --rdzv_backend static: the ranks come from --machine_rank (no elastic rendezvous); --same_network: the machines
    # reach each other directly; --max_restarts 0: a failed process ends the job (a rerun resumes, not a restart)
    CMD=("${launch[@]}" --config_file "$ACCELERATE_CONFIG"
         --num_machines "$NNODES" --machine_rank "$1" --num_processes "$NUM_PROCESSES"
         --main_process_ip "$MASTER_ADDR" --main_process_port "$MASTER_PORT"
         --rdzv_backend static --same_network --max_restarts 0
         scripts/pretrain.py --config "$CONFIG" --trainer.output_dir "$OUTPUT_DIR" ${ARGS[@]+"${ARGS[@]}"})
}

if [[ $DRY == 1 ]]; then
    mapfile -t HOSTS < <(hostnames "$NODELIST")
    for ((r = 0; r < NNODES; r++)); do
        echo "# node $r of $NNODES (${HOSTS[$r]:-?}): srun runs there"
        node_command "$r"; show "${CMD[@]}"
    done
    exit 0
fi

STOP="$OUTPUT_DIR/.slurm-stop-${SLURM_JOB_ID:-0}"     # the batch shell's "save and stop" to every machine

if [[ $NODE_TASK == 1 ]]; then                     # on each machine (srun's task): the launcher and its trainers
    node_command "${SLURM_NODEID:?not inside an srun task}"
    "${CMD[@]}" & LAUNCHER=$!
    # preemption: SLURM sends SIGTERM to every process of the job, the trainers included; this shell stays to wait
    trap 'true' TERM USR1
    while kill -0 "$LAUNCHER" 2>/dev/null; do
        # the time limit near: SIGTERM once to this machine's trainers (the launcher's children), which save and exit
        if [[ -e $STOP ]]; then pkill -TERM -P "$LAUNCHER" || true; break; fi
        sleep 2
    done
    STATUS=0; while kill -0 "$LAUNCHER" 2>/dev/null; do wait "$LAUNCHER" && STATUS=0 || STATUS=$?; done
    exit "$STATUS"
fi

# the batch shell: one task per machine; SIGUSR1 (120 s before the limit) asks them to save; then requeue
mkdir -p "$OUTPUT_DIR"; rm -f "$STOP"
REQUEUE=0
srun --ntasks-per-node=1 --kill-on-bad-exit=0 bash "$REPO/jobs/slurm_pretrain.sh" --node-task ${ARGS[@]+"${ARGS[@]}"} &
SRUN=$!
trap 'REQUEUE=1; touch "$STOP"' USR1               # every machine's task sees the file within 2 s
trap 'true' TERM                                   # preempted: the trainers got SIGTERM; SLURM requeues the job itself
STATUS=0
while kill -0 "$SRUN" 2>/dev/null; do wait "$SRUN" && STATUS=0 || STATUS=$?; done
rm -f "$STOP"
if [[ $REQUEUE == 1 ]]; then
    echo "stopped before the time limit (exit $STATUS) with a checkpoint; requeueing job $SLURM_JOB_ID: it resumes from $OUTPUT_DIR"
    scontrol requeue "$SLURM_JOB_ID"
fi
exit "$STATUS"
