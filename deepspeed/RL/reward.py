"""A reward model on preference pairs: chosen answers use the documented API, rejected ones misuse it (RewardTrainer).

    torchrun --nproc_per_node=8 reward.py reward.yaml --deepspeed=../ds_configs/zero2.json

Starts from a chat checkpoint with a fresh one-number head (AutoModelForSequenceClassification); each pair is the
conversation with the chosen answer and with the rejected one, rendered with the checkpoint's chat template and
system prompt (luacoder.rl.parent), and the loss asks the chosen one to score higher (Bradley-Terry). The pairs come
from `luacoder synthetic-pairs` or `luacoder policy-pairs`. The saved model loads with
AutoModelForSequenceClassification; logits[:, 0] is the reward.
"""

import logging

from transformers import AutoModelForSequenceClassification, set_seed
from trl import RewardConfig, RewardTrainer

from luacoder.checkpoints import resume_checkpoint
from luacoder.config import parse_config
from luacoder.rl.data import PreferenceDataArguments, load_preference_dataset
from luacoder.rl.lora import OptionalLoraArguments, lora_config, resolve_local_model
from luacoder.rl.parent import chat_checkpoint_template, inherit_parent_settings
from luacoder.train.model_setup import ModelArguments, load_model, load_tokenizer
from luacoder.train.run import CheckpointMetadata, finish_stage, guard_run, setup_logging

logger = logging.getLogger(__name__)

# 1. Config: RewardConfig (TrainingArguments, max_length, center_rewards_coefficient) plus model, data and adapter.
model_args, data_args, lora_args, training_args = parse_config(
    [ModelArguments, PreferenceDataArguments, OptionalLoraArguments, RewardConfig]
)
resolve_local_model(model_args)
setup_logging(training_args)
guard_run(training_args)
set_seed(training_args.seed)
inherit_parent_settings(model_args, data_args)  # the chat checkpoint's template and system prompt, unless set here

# 2. The chat checkpoint with a scalar head (the head starts random: it is what training learns first). The pairs
#    are rendered with the checkpoint's own chat template, whichever it is.
tokenizer = load_tokenizer(model_args)
model_args.chat_template = chat_checkpoint_template(tokenizer, model_args)  # recorded in the metadata
model = load_model(model_args, AutoModelForSequenceClassification, num_labels=1)
peft_config = lora_config(lora_args, model, task_type="SEQ_CLS") if lora_args.use_peft else None

# 3. Data: validated pairs; RewardTrainer renders prompt+chosen and prompt+rejected with the chat template.
train_dataset = load_preference_dataset(data_args.train_file, data_args.system_prompt)
eval_dataset = None
if data_args.test_file:
    eval_dataset = load_preference_dataset(data_args.test_file, data_args.system_prompt)
logger.info("%d training pairs, %s held out", len(train_dataset), len(eval_dataset) if eval_dataset else 0)

# 4. Train, resuming from the last complete checkpoint of the same output_dir.
metadata = CheckpointMetadata.for_stage("reward", model_args, data_args, training_args)
trainer = RewardTrainer(
    model=model,
    args=training_args,
    train_dataset=train_dataset,
    eval_dataset=eval_dataset,
    processing_class=tokenizer,
    peft_config=peft_config,
    callbacks=[metadata],
)
trainer.train(resume_from_checkpoint=resume_checkpoint(training_args.output_dir, model_args.start_over))

# 5. The reward model with its tokenizer, loadable without DeepSpeed; all ranks end together.
metadata.save_final(trainer)
finish_stage()
