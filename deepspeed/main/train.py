"""The quick start: fine-tune a causal LM on your own rows with TRL's SFTTrainer, one process or many.

    torchrun --nproc_per_node=8 train.py config.yaml --deepspeed=../ds_configs/zero2.json
    python train.py config_cpu.yaml

Rows are JSON lines of text (`{"content": ...}`, the field named by dataset_text_field: every token trains) or of
conversations (`{"messages": [...]}`: the dialogue tokens and template are added, and with assistant_only_loss only
the answers train). Rows are packed several to a sequence (bfd_split: none cut off, none attending to another).
Rerunning the same command after a crash resumes from the last checkpoint in output_dir (start_over=true begins
again). Lua code with fill-in-the-middle: ../pretrain; the chat dataset with its own defaults: ../chat.
"""

import logging

from transformers import set_seed
from trl import SFTConfig

from luacoder.checkpoints import resume_checkpoint
from luacoder.config import ConfigError, parse_config
from luacoder.train.chat_format import resolve_chat_template
from luacoder.train.datasets import MainDataArguments, load_rows
from luacoder.train.model_setup import ModelArguments, ensure_chat_format, load_model, load_tokenizer
from luacoder.train.packing import refuse_leaking_packing
from luacoder.train.run import CheckpointMetadata, finish_stage, guard_run, setup_logging
from luacoder.train.sft import sft_trainer

logger = logging.getLogger(__name__)

# 1. Config: YAML, then --key=value overrides. SFTConfig is TrainingArguments plus TRL's data keys.
model_args, data_args, training_args = parse_config([ModelArguments, MainDataArguments, SFTConfig])
refuse_leaking_packing(training_args)
setup_logging(training_args)
guard_run(training_args)
set_seed(training_args.seed)

# 2. Data first: its kind (text or conversations) decides how the tokenizer is set up.
train_dataset = load_rows(data_args.train_file, training_args.dataset_text_field, data_args.system_prompt)
eval_dataset = (
    load_rows(data_args.test_file, training_args.dataset_text_field, data_args.system_prompt)
    if data_args.test_file
    else None
)
conversations = "messages" in train_dataset.column_names
if training_args.assistant_only_loss and not conversations:
    raise ConfigError(
        f"assistant_only_loss: {data_args.train_file} holds text rows, not conversations; set"
        " --assistant_only_loss=false to train on every token"
    )
logger.info(
    "%d training %s, %s held out",
    len(train_dataset),
    "conversations" if conversations else "texts",
    len(eval_dataset) if eval_dataset else 0,
)

# 3. Model and tokenizer; conversations get the dialogue tokens, the chat template and <|end|> as a stop token.
tokenizer = load_tokenizer(model_args)
model = load_model(model_args)
if conversations:
    model_args.chat_template = resolve_chat_template(tokenizer, model_args.chat_template)  # recorded in the metadata
    ensure_chat_format(tokenizer, model, model_args.chat_template)

# 4. Train, resuming from the last complete checkpoint of the same output_dir.
metadata = CheckpointMetadata.for_stage("main", model_args, data_args, training_args)
trainer = sft_trainer(model, tokenizer, training_args, train_dataset, eval_dataset, callbacks=[metadata])
trainer.train(resume_from_checkpoint=resume_checkpoint(training_args.output_dir, model_args.start_over))

# 5. The final model with its tokenizer, loadable without DeepSpeed.
metadata.save_final(trainer)
finish_stage()
