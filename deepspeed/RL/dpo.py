"""Direct preference optimisation from a chat checkpoint on preference pairs (TRL DPOTrainer).

    torchrun --nproc_per_node=8 dpo.py dpo.yaml --deepspeed=../ds_configs/zero2.json

The policy starts as the chat checkpoint and learns to prefer answers that call the documented API over the same
answers with a hallucinated name, a wrong module or a wrong argument count (`luacoder synthetic-pairs`). The frozen
reference is the same checkpoint (with use_peft, the model with its adapter switched off). beta sets how far the
policy may move from it. The pairs may also be the policy's own answers (`luacoder policy-pairs`: a clean answer and
a hallucinating one it sampled for the same prompt), so DPO removes the model's own mistakes. The chat template and
system prompt are the checkpoint's (its own template, such as ChatML, or LuaCoder's; luacoder.rl.parent), and the
result is a chat checkpoint like the input, with both recorded: eval.py and generate.py take it as is.
"""

import logging

from transformers import set_seed
from trl import DPOConfig, DPOTrainer

from luacoder.checkpoints import resume_checkpoint
from luacoder.config import parse_config
from luacoder.rl.data import PreferenceDataArguments, load_preference_dataset
from luacoder.rl.lora import OptionalLoraArguments, load_base_model, lora_config, resolve_local_model
from luacoder.rl.parent import chat_checkpoint_template, inherit_parent_settings
from luacoder.train.model_setup import ModelArguments, ensure_chat_format, load_tokenizer
from luacoder.train.run import CheckpointMetadata, finish_stage, guard_run, setup_logging

logger = logging.getLogger(__name__)

# 1. Config: DPOConfig (TrainingArguments, beta, loss_type, max_length) plus model, data and adapter keys.
model_args, data_args, lora_args, training_args = parse_config(
    [ModelArguments, PreferenceDataArguments, OptionalLoraArguments, DPOConfig]
)
resolve_local_model(model_args)
setup_logging(training_args)
guard_run(training_args)
set_seed(training_args.seed)
inherit_parent_settings(model_args, data_args)  # the chat checkpoint's template and system prompt, unless set here

# 2. The policy: the chat checkpoint (its tokenizer renders the pairs as training did), optionally with an adapter.
tokenizer = load_tokenizer(model_args)
model_args.chat_template = chat_checkpoint_template(tokenizer, model_args)  # recorded in the metadata
model = load_base_model(model_args, lora_args, training_args.activation_checkpointing)
ensure_chat_format(tokenizer, model, model_args.chat_template)
peft_config = lora_config(lora_args, model) if lora_args.use_peft else None

# 3. Data: validated pairs; DPOTrainer renders prompt, prompt+chosen and prompt+rejected with the chat template.
train_dataset = load_preference_dataset(data_args.train_file, data_args.system_prompt)
eval_dataset = None
if data_args.test_file:
    eval_dataset = load_preference_dataset(data_args.test_file, data_args.system_prompt)
logger.info("%d training pairs, %s held out", len(train_dataset), len(eval_dataset) if eval_dataset else 0)

# 4. Train against the frozen reference, resuming from the last complete checkpoint of the same output_dir.
metadata = CheckpointMetadata.for_stage("dpo", model_args, data_args, training_args)
trainer = DPOTrainer(
    model=model,
    args=training_args,
    train_dataset=train_dataset,
    eval_dataset=eval_dataset,
    processing_class=tokenizer,
    peft_config=peft_config,
    callbacks=[metadata],
)
trainer.train(resume_from_checkpoint=resume_checkpoint(training_args.output_dir, model_args.start_over))

# 5. The policy with its tokenizer and chat template, loadable without DeepSpeed; all ranks end together.
metadata.save_final(trainer)
finish_stage()
