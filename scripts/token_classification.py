"""Fine-tune and evaluate a model on a token-level task: named entities, part of speech, chunking.

    python scripts/token_classification.py --config configs/token_classification/conll2003.yaml --model.name_or_path PATH \
        [--data.train_file F --data.validation_file F] [--trainer.output_dir DIR] [--key value ...]
    accelerate launch scripts/token_classification.py --config ...

Writes DIR/results.json (word accuracy, entity precision/recall/F1 per evaluation, the best) and DIR/best/; an
interrupted run resumes from DIR/checkpoints when the same command is run again. Thin wrapper around
`neobert.token_finetune.token_cli`.
"""
from neobert.token_finetune import token_cli
from neobert.config import show_help
show_help(token_cli); token_cli()
