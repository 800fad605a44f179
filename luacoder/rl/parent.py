"""What an RL stage takes from the checkpoint it starts from: its chat template and the system prompt it answers to.

A chat checkpoint records both in its luacoder_meta.json (`config.chat_template`: `model`, the model's own template
such as SmolLM2's ChatML, or `luacoder`, the dialogue template; `config.system_prompt`). The reward model, DPO, GRPO,
the LoRA stage and the on-policy pair builder inherit them instead of repeating them in their YAML, and record them
again in what they save, so the next stage (GRPO after DPO) and eval read the same settings. A key set in the YAML
or on the command line wins; `system_prompt: ""` asks for none.
"""

from __future__ import annotations

import logging
from typing import Any

from luacoder.checkpoints import generation_settings
from luacoder.config import ConfigError
from luacoder.dialogue import DIALOGUE_TOKENS
from luacoder.train.chat_format import ChatTemplateError, resolve_chat_template

logger = logging.getLogger("luacoder")


def inherit_parent_settings(model_args, data_args) -> dict[str, Any]:
    """Fill the system prompt and the chat template this run left unset with the parent checkpoint's
    (`model_args.model_name_or_path`, read by `luacoder.checkpoints.generation_settings`, as eval and the inference
    engine read it); `system_prompt: ""` stays none. Returns what was inherited."""
    parent = generation_settings(model_args.model_name_or_path)
    inherited = {}
    if data_args.system_prompt is None and parent.system_prompt:
        data_args.system_prompt = inherited["system_prompt"] = parent.system_prompt
    elif data_args.system_prompt == "":
        data_args.system_prompt = None
    if model_args.chat_template in (None, "auto") and parent.chat_template:
        model_args.chat_template = inherited["chat_template"] = parent.chat_template
    if inherited:
        shown = ", ".join(f"{key} {value!r}" for key, value in inherited.items())
        logger.info("from %s: %s", model_args.model_name_or_path, shown)
    return inherited


def chat_checkpoint_template(tokenizer, model_args) -> str:
    """The chat template a stage that starts from a chat checkpoint trains with (`model` or `luacoder`), checked:
    the pairs and prompts are conversations rendered with it, as the chat stage trained the model. A tokenizer with
    no template, or `luacoder` without the dialogue tokens, means the model is not a chat checkpoint."""
    name = model_args.model_name_or_path
    advice = "start from a chat checkpoint (deepspeed/chat/train.py, or sft_lora.py then merge_lora.py)"
    if not tokenizer.chat_template:
        raise ConfigError(f"{name}: its tokenizer has no chat template; {advice}")
    try:
        choice = resolve_chat_template(tokenizer, model_args.chat_template)
    except ChatTemplateError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    missing = [token for token in DIALOGUE_TOKENS if token not in tokenizer.get_vocab()]
    if choice == "luacoder" and missing:
        raise ConfigError(
            f"{name}: chat_template: luacoder, but its tokenizer lacks the dialogue tokens {missing}; {advice}, or"
            " set chat_template: model to keep the model's own template"
        )
    return choice
