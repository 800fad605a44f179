"""Chat fine-tuning with a LoRA adapter (QLoRA with load_in_4bit) on {"messages": [...]} rows (TRL SFTTrainer).

    torchrun --nproc_per_node=8 sft_lora.py sft_lora.yaml --deepspeed=../ds_configs/zero2.json

As deepspeed/chat/train.py, with the base frozen: the chat template is the model's own (its end-of-turn token, such as
ChatML's <|im_end|>) or LuaCoder's dialogue template with its tokens added (chat_template), the loss covers the
assistant's turns only; a LuaCoder checkpoint as the base passes on its template and system prompt. The adapter
trains LoRA matrices on every linear layer, and (train_dialogue_tokens, when tokens were added) the input embedding
and output head in full, so the dialogue tokens' rows learn where plain LoRA would leave them at their initial
values (see luacoder.rl.lora). output_dir holds the adapter with the tokenizer; merge_lora.py turns it into a plain
model.
"""

import logging

from transformers import set_seed
from trl import SFTConfig

from luacoder.checkpoints import resume_checkpoint
from luacoder.config import parse_config
from luacoder.rl.lora import LoraArguments, load_base_model, lora_config, resolve_local_model
from luacoder.rl.parent import inherit_parent_settings
from luacoder.train.chat_format import resolve_chat_template
from luacoder.train.datasets import ChatDataArguments, load_chat_dataset
from luacoder.train.model_setup import ModelArguments, ensure_chat_format, load_tokenizer
from luacoder.train.packing import refuse_leaking_packing
from luacoder.train.run import CheckpointMetadata, finish_stage, guard_run, setup_logging
from luacoder.train.sft import sft_trainer

logger = logging.getLogger(__name__)

# 1. Config: SFTConfig (TrainingArguments and TRL's data keys) plus the adapter's keys.
model_args, data_args, lora_args, training_args = parse_config(
    [ModelArguments, ChatDataArguments, LoraArguments, SFTConfig]
)
refuse_leaking_packing(training_args)
resolve_local_model(model_args)
setup_logging(training_args)
guard_run(training_args)
set_seed(training_args.seed)
inherit_parent_settings(model_args, data_args)  # from a LuaCoder chat checkpoint: its template and system prompt

# 2. The frozen base (4-bit for QLoRA) with the dialogue tokens and template, and the adapter's config.
tokenizer = load_tokenizer(model_args)
model = load_base_model(model_args, lora_args, training_args.activation_checkpointing)
model_args.chat_template = resolve_chat_template(tokenizer, model_args.chat_template)  # recorded in the metadata
added = ensure_chat_format(tokenizer, model, model_args.chat_template)
if added:
    logger.info("added the dialogue tokens %s to the tokenizer", added)
peft_config = lora_config(lora_args, model, new_tokens=bool(added))  # nothing added: the embeddings stay frozen

# 3. Data: validated conversations, rendered with the chat template; only the assistant's turns are trained.
train_dataset = load_chat_dataset(data_args.train_file, data_args.system_prompt)
eval_dataset = load_chat_dataset(data_args.test_file, data_args.system_prompt) if data_args.test_file else None
logger.info("%d training conversations, %s held out", len(train_dataset), len(eval_dataset) if eval_dataset else 0)

# 4. Train the adapter, resuming from the last complete checkpoint of the same output_dir.
metadata = CheckpointMetadata.for_stage("sft_lora", model_args, data_args, training_args)
trainer = sft_trainer(
    model, tokenizer, training_args, train_dataset, eval_dataset, callbacks=[metadata], peft_config=peft_config
)
trainer.model.print_trainable_parameters()
trainer.train(resume_from_checkpoint=resume_checkpoint(training_args.output_dir, model_args.start_over))

# 5. The adapter (LoRA matrices, embedding and head) with the tokenizer and its chat template; all ranks end together.
metadata.save_final(trainer)
finish_stage()
