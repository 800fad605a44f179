"""Tiny randomly initialised causal LMs of the StarCoder families, built from a config.

The demo trains one from scratch on the CPU; tests build them instead of downloading weights. Saved with
`save_pretrained` (safetensors) and loaded back with `AutoModelForCausalLM.from_pretrained` like any real model.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    GPTBigCodeConfig,
    PretrainedConfig,
    PreTrainedTokenizerBase,
    Starcoder2Config,
)

from luacoder.train.chat_format import stop_token_ids

# Small enough to train for a few hundred steps on 2 CPU cores, big enough to learn the bundled docs' API.
TINY_DEFAULTS: dict[str, dict[str, Any]] = {
    "starcoder2": dict(
        hidden_size=128,
        intermediate_size=512,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        sliding_window=None,
        use_bias=True,
        tie_word_embeddings=True,
    ),
    "gpt_bigcode": dict(
        n_embd=128,
        n_inner=512,
        n_layer=2,
        n_head=4,
        n_positions=1024,
        multi_query=True,
    ),
}
CONFIG_CLASSES = {"starcoder2": Starcoder2Config, "gpt_bigcode": GPTBigCodeConfig}


def tiny_config(family: str, tokenizer: PreTrainedTokenizerBase, **overrides: Any) -> PretrainedConfig:
    """A tiny config of `family` whose vocabulary and special ids come from `tokenizer`."""
    if family not in CONFIG_CLASSES:
        raise ValueError(f"unknown model family {family!r}: choose one of {', '.join(CONFIG_CLASSES)}")
    settings = {**TINY_DEFAULTS[family], **overrides}
    return CONFIG_CLASSES[family](
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **settings,
    )


def build_model(config: PretrainedConfig, tokenizer: PreTrainedTokenizerBase, seed: int = 0):
    """A randomly initialised model for `config` (seeded), whose generation stops at EOS and at `<|end|>`."""
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config.eos_token_id = stop_token_ids(tokenizer, model.generation_config.eos_token_id)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def save_tiny_model(
    family: str,
    tokenizer: PreTrainedTokenizerBase,
    output_dir: str | os.PathLike,
    seed: int = 0,
    **overrides: Any,
):
    """Build a tiny model and save it with its tokenizer; returns the model."""
    model = build_model(tiny_config(family, tokenizer, **overrides), tokenizer, seed=seed)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return model
