"""GRPO from a chat checkpoint on eval-style prompts, rewarded by the grader eval uses (TRL GRPOTrainer).

    torchrun --nproc_per_node=8 grpo.py grpo.yaml --deepspeed=../ds_configs/zero2.json

For each prompt the policy samples num_generations answers; luacoder.grading grades each against the index eval
grades with (no hallucinated call and no undefined global, documented argument counts, expected APIs called, valid
Lua, optionally a run in the sandbox) and the weighted sum of those scores, compared within the group, is the
advantage the policy follows. Each score is eval's own rate for that one answer (luacoder.grading.rewards), so what
RL optimises is what eval.py reports. The chat template and system prompt are the checkpoint's (luacoder.rl.parent);
the result is a chat checkpoint like the input, with both recorded.
"""

import importlib.util
import logging

from transformers import set_seed
from trl import GRPOConfig, GRPOTrainer

from luacoder.checkpoints import resume_checkpoint
from luacoder.config import ConfigError, parse_config
from luacoder.grading.api_index import load_index
from luacoder.rl.data import PromptDataArguments, load_prompt_dataset
from luacoder.rl.lora import OptionalLoraArguments, load_base_model, lora_config, resolve_local_model
from luacoder.rl.parent import chat_checkpoint_template, inherit_parent_settings
from luacoder.rl.rewards import RewardArguments, reward_functions
from luacoder.train.model_setup import ModelArguments, ensure_chat_format, load_tokenizer
from luacoder.train.run import CheckpointMetadata, finish_stage, guard_run, setup_logging

logger = logging.getLogger(__name__)

# 1. Config: GRPOConfig (TrainingArguments, num_generations, max_completion_length, beta, reward_weights) plus the
#    model, prompts, rewards and adapter keys.
model_args, data_args, reward_args, lora_args, training_args = parse_config(
    [ModelArguments, PromptDataArguments, RewardArguments, OptionalLoraArguments, GRPOConfig]
)
weights = training_args.reward_weights
if weights is not None and len(weights) != len(reward_args.reward_funcs):
    raise ConfigError(f"reward_weights has {len(weights)} numbers for {len(reward_args.reward_funcs)} reward_funcs")
if training_args.use_vllm and importlib.util.find_spec("vllm") is None:
    raise ConfigError(
        "use_vllm: true needs vllm (pip install -r requirements/gpu.txt on a GPU machine); or --use_vllm=false"
    )
resolve_local_model(model_args)
setup_logging(training_args)
guard_run(training_args)
set_seed(training_args.seed)
inherit_parent_settings(model_args, data_args)  # the chat checkpoint's template and system prompt, unless set here

# 2. The policy: the chat checkpoint (generation stops at its end-of-turn token), optionally with an adapter.
tokenizer = load_tokenizer(model_args)
model_args.chat_template = chat_checkpoint_template(tokenizer, model_args)  # recorded in the metadata
model = load_base_model(model_args, lora_args, training_args.activation_checkpointing)
ensure_chat_format(tokenizer, model, model_args.chat_template)
peft_config = lora_config(lora_args, model) if lora_args.use_peft else None

# 3. Prompts (with the APIs each expects) and the rewards: eval's scores against the API docs.
index = load_index(data_args.api_path, reward_args.standard_library)
train_dataset = load_prompt_dataset(data_args.train_file, index, data_args.system_prompt)
eval_dataset = None
if data_args.test_file:
    eval_dataset = load_prompt_dataset(data_args.test_file, index, data_args.system_prompt)
rewards = reward_functions(index, reward_args)
logger.info("%d prompts; rewards %s weighted %s", len(train_dataset), reward_args.reward_funcs, weights or "equally")

# 4. Train, resuming from the last complete checkpoint of the same output_dir.
metadata = CheckpointMetadata.for_stage("grpo", model_args, data_args, training_args)
trainer = GRPOTrainer(
    model=model,
    reward_funcs=rewards,
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
