"""Chat fine-tuning on {"messages": [...]} rows with a chat template and assistant-only loss (TRL SFTTrainer).

    torchrun --nproc_per_node=8 train.py config.yaml --deepspeed=../ds_configs/zero2.json

`chat_template: model` keeps the model's own template (marked for assistant-only loss); `luacoder` gives the
tokenizer the `<|system|> <|user|> <|assistant|> <|end|>` tokens (embeddings resized, new rows at the mean) and the
dialogue template; unset, a tokenizer with a template keeps it. The template is saved with every checkpoint, so
generation, eval and serving format prompts exactly as training did. Packing
puts several conversations in a row with their own position ids; the attention never crosses between them.
Rerunning the same command after a crash resumes from the last checkpoint in output_dir.
"""

import logging

from transformers import set_seed
from trl import SFTConfig

from luacoder.checkpoints import resume_checkpoint
from luacoder.config import parse_config
from luacoder.train.chat_format import resolve_chat_template
from luacoder.train.datasets import ChatDataArguments, load_chat_dataset
from luacoder.train.model_setup import ModelArguments, ensure_chat_format, load_model, load_tokenizer
from luacoder.train.packing import refuse_leaking_packing
from luacoder.train.run import CheckpointMetadata, finish_stage, guard_run, setup_logging
from luacoder.train.sft import sft_trainer

logger = logging.getLogger(__name__)

# 1. Config. SFTConfig carries TrainingArguments plus TRL's data keys (max_length, packing, assistant_only_loss).
model_args, data_args, training_args = parse_config([ModelArguments, ChatDataArguments, SFTConfig])
refuse_leaking_packing(training_args)
setup_logging(training_args)
guard_run(training_args)
set_seed(training_args.seed)

# 2. Model and tokenizer with the chat template to train with: the model's own, or the dialogue template (and its
#    tokens). The choice made is recorded in the checkpoint metadata with the rest of the config.
tokenizer = load_tokenizer(model_args)
model = load_model(model_args)
model_args.chat_template = resolve_chat_template(tokenizer, model_args.chat_template)
added = ensure_chat_format(tokenizer, model, model_args.chat_template)
if added:
    logger.info("added the dialogue tokens %s to the tokenizer", added)

# 3. Data: validated conversations; SFTTrainer renders them with the chat template and masks all but the
#    assistant's content and <|end|> (assistant_only_loss).
train_dataset = load_chat_dataset(data_args.train_file, data_args.system_prompt)
eval_dataset = load_chat_dataset(data_args.test_file, data_args.system_prompt) if data_args.test_file else None
logger.info("%d training conversations, %s held out", len(train_dataset), len(eval_dataset) if eval_dataset else 0)

# 4. Train, resuming from the last complete checkpoint of the same output_dir.
metadata = CheckpointMetadata.for_stage("chat", model_args, data_args, training_args)
trainer = sft_trainer(model, tokenizer, training_args, train_dataset, eval_dataset, callbacks=[metadata])
trainer.train(resume_from_checkpoint=resume_checkpoint(training_args.output_dir, model_args.start_over))

# 5. The final model with its tokenizer and chat template, loadable without DeepSpeed.
metadata.save_final(trainer)
finish_stage()
