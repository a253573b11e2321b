"""scripts/pretrain.py with test hooks (`neobert.train.TrainHooks`, read by the engine in neobert.trainer): python tests/hooked_pretrain.py 'HOOKS_JSON' --config ... [overrides]
HOOKS_JSON keys: restore_data (bool), loss_scale ({"step": factor}), signal ("SIGTERM"/"SIGINT") with signal_at (step)."""
import os, sys, json, signal
from neobert.config import UserError, cli_config
from neobert.train import pretrain, TrainHooks

spec = json.loads(sys.argv[1])
scale = {int(k): float(v) for k, v in spec.get("loss_scale", {}).items()}
def after(step):
    if "signal" in spec and step == spec["signal_at"]: os.kill(os.getpid(), getattr(signal, spec["signal"]))
hooks = TrainHooks(restore_data=spec.get("restore_data", True), loss_scale=(lambda s: scale.get(s, 1.0)) if scale else None,
                   after_step=after if "signal" in spec else None)
try: pretrain(cli_config(sys.argv[2:]), hooks)
except UserError as e: print(f"error: {e}", file=sys.stderr); sys.exit(getattr(e, "exit_code", 2))
