"""Compare pretraining variants on the pretrained side of the transfer check (the twin does not change with the
pretraining settings compared here: same shape, same seed, so its fine-tuning is run once, by scripts/transfer.py).

    python benchmarks/transfer-draws-2026-12-07/levers.py RUN [RUN ...] [--draws 0,1] [--out DIR]

For each pretraining run folder (or checkpoint): the held-out [MASK]-only MLM loss (`validation_batches`), the linear
probe on frozen mean-pooled features over 5 draws of 250 labelled sentences, the pretrained side's fine-tuning over the
check's grid and seeds on `--draws` (`best_of_grid`: the mean test accuracy at the lr with the best mean dev
accuracy), and the fill-mask demo. Writes DIR/levers.json."""
import argparse, json, sys
from pathlib import Path
from neobert.config import load_config
from neobert.glue_finetune import with_overrides
from neobert.model import NeoBERTLMHead
from neobert.pretrain import validation_batches
from neobert.train import evaluate_mlm, everyday_fill_mask
from neobert.transfer import (TASKS, transfer_config, resolve_pretrained, load_snippets, split_snippets,
                              write_split_files, encoder_features, linear_probe, finetune_point, best_of_grid)
from transformers import AutoTokenizer

def heldout(ckpt, pre_cfg):
    m, tok = NeoBERTLMHead.from_pretrained(ckpt), AutoTokenizer.from_pretrained(ckpt)
    return evaluate_mlm(m, validation_batches(pre_cfg, tok)), m, tok

def probe(ckpt, tc, sp):
    tr, te = (encoder_features(ckpt, sp[s][0], tc.max_length) for s in ("train", "test"))
    return linear_probe(tr["mean"], sp["train"][1], te["mean"], sp["test"][1], tc.probe_c)

def finetune(ckpt, tc, gcfg, sp, out):
    files = write_split_files({s: sp[s] for s in ("train", "dev")}, out/"data")
    pts = [finetune_point(gcfg, ckpt, files, out/f"lr{lr:g}_seed{k}", lr, k, sp["test"], tc.max_length)
           for lr in tc.grid_lr for k in tc.seeds]
    return best_of_grid(pts)

def main():
    ap = argparse.ArgumentParser(); ap.add_argument("runs", nargs="+"); ap.add_argument("--draws", default="0,1")
    ap.add_argument("--out", default="runs/levers"); a = ap.parse_args()
    tc, gcfg = transfer_config("configs/transfer_tiny.yaml")
    gcfg = with_overrides(gcfg, {"glue.label_names": list(TASKS[tc.task][0])})
    texts, labels = load_snippets(tc.corpus, tc.task)
    split = lambda k: split_snippets(texts, labels, tc.n_train, tc.n_dev, tc.n_test, tc.data_seed, k)
    res = {}
    for run in a.runs:
        ckpt, folder = resolve_pretrained(run)
        pre_cfg = load_config(folder/"config.yaml" if folder else "configs/pretrain_tiny.yaml")
        h, m, tok = heldout(ckpt, pre_cfg)
        r = dict(heldout=h, probes=[probe(ckpt, tc, split(k)) for k in range(5)])
        r["finetune"] = {k: finetune(ckpt, tc, gcfg, split(k), Path(a.out)/Path(run).name/f"draw{k}")
                         for k in (int(x) for x in a.draws.split(",") if x)}
        r["fill_mask"] = everyday_fill_mask(m, tok, tc.fill_mask)
        res[run] = r; print(run, json.dumps({k: r[k] for k in ("heldout", "probes", "finetune")}), flush=True)
    Path(a.out).mkdir(parents=True, exist_ok=True); (Path(a.out)/"levers.json").write_text(json.dumps(res, indent=1))

if __name__ == "__main__": sys.exit(main())
