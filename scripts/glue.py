"""Fine-tune and evaluate a model on a GLUE task, or on your own sentence / sentence-pair task.

    python scripts/glue.py --config configs/glue/sst2.yaml --model.name_or_path PATH \
        [--data.train_file F --data.validation_file F] [--trainer.output_dir DIR] [--key value ...]
    accelerate launch scripts/glue.py --config configs/glue/mnli.yaml ...

Writes DIR/results.json and DIR/best/; an interrupted run (SIGTERM: exit 143, with a checkpoint) resumes from
DIR/checkpoints when the same command is run again. Thin wrapper: `neobert.glue_finetune.glue_cli` reads `--config` (fastcore call_parse)
and the dotted overrides (cli_config), then calls `neobert.glue_finetune.run_glue`.
"""
from neobert.glue_finetune import glue_cli
from neobert.config import show_help
show_help(glue_cli); glue_cli()
