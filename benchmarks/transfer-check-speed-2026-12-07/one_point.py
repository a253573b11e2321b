"""One point of the transfer check, timed: the pretrained side at lr 3e-3, seed 0, data seed 0 (250 labelled sentences,
1,000 dev evaluated 10 times, 4,000 test), through the library's own `finetune_point`. Writes OUT/one_point.json.

    python benchmarks/transfer-check-speed-2026-12-07/one_point.py runs/tiny/checkpoints/step-2200 /tmp/one_point

Run it with PYTHONPATH pointing at another checkout (a `git worktree` of an older commit) to time that commit's code on
the same machine; the dev and test accuracies and the best step must come out the same."""
import json, shutil, sys, time
from pathlib import Path
import neobert
from neobert.glue_finetune import with_overrides, write_json
from neobert.transfer import TASKS, transfer_config, load_snippets, split_snippets, write_split_files, finetune_point

ckpt, out = Path(sys.argv[1]), Path(sys.argv[2])
shutil.rmtree(out, ignore_errors=True)
tc, gcfg = transfer_config(Path(__file__).parents[2]/"configs"/"transfer_tiny.yaml")
gcfg = with_overrides(gcfg, {"glue.label_names": list(TASKS[tc.task][0])})
texts, labels = load_snippets(tc.corpus, tc.task)
sp = split_snippets(texts, labels, tc.n_train, tc.n_dev, tc.n_test, 0, 0)
files = write_split_files({s: sp[s] for s in ("train", "dev")}, out/"data")
t0 = time.time()
p = finetune_point(gcfg, ckpt, files, out/"finetune", 3e-3, 0, sp["test"], tc.max_length)
res = dict(code=str(Path(neobert.__file__).parent), dev=p["dev"], test=p["test"], best_step=p["best_step"],
           seconds=round(time.time() - t0, 2))
write_json(res, out/"one_point.json"); print(json.dumps(res))
