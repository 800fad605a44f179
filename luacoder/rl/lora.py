"""LoRA and QLoRA: the adapter's config, the base it is trained on, and merging it back into a plain model.

The dialogue tokens (`<|system|> <|user|> <|assistant|> <|end|>`) are new to most bases. Under plain LoRA their
embedding and output rows stay at their initial values, so the model never learns to read or write them (a known
failure of LoRA chat recipes). Here the input embedding and the output head are trained in full (PEFT
`modules_to_save`; a tied head stays tied to the trained embedding) and saved with the adapter, so loading
base+adapter and merging both restore them. PEFT's `trainable_token_indices` would train only those rows, but with
PEFT 0.21 and TRL 1.16 it breaks three ways: its ZeRO-3 set-up is CUDA-only (peft#2603), saving under ZeRO-3 fails
(peft#2946), and TRL's fused LM head reads `lm_head.bias`, which its wrapper does not expose.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase
from transformers.integrations import is_deepspeed_zero3_enabled

from luacoder.checkpoints import META_FILE, generation_settings
from luacoder.config import ConfigError
from luacoder.train.model_setup import ModelArguments, ensure_chat_format, from_pretrained, load_model

logger = logging.getLogger(__name__)


@dataclass
class LoraArguments:
    """The adapter's keys: TRL's ModelConfig fields of the same names (and meaning), with LoRA on every linear layer
    by default, plus `train_dialogue_tokens`. The configs are built by TRL (`trl_model_config` below); ModelConfig
    itself does not join the stage's dataclasses, where it would declare model_name_or_path, dtype and
    attn_implementation a second time beside ModelArguments."""

    lora_r: int = field(default=16, metadata={"help": "rank of the LoRA matrices", "range": "[1, inf)"})
    lora_alpha: int = field(
        default=32, metadata={"help": "LoRA scaling numerator (scale = alpha / r)", "range": "[1, inf)"}
    )
    lora_dropout: float = field(default=0.05, metadata={"range": "[0, 1)"})
    lora_target_modules: list[str] = field(
        default_factory=lambda: ["all-linear"],
        metadata={"help": "module names to adapt; all-linear: every linear layer but the output head"},
    )
    lora_modules_to_save: list[str] | None = field(
        default=None, metadata={"help": "modules trained in full and saved with the adapter"}
    )
    use_rslora: bool = False
    train_dialogue_tokens: bool = field(
        default=True,
        metadata={"help": "train the input embedding and output head in full, so the dialogue tokens' rows learn"},
    )
    load_in_4bit: bool = field(default=False, metadata={"help": "QLoRA: a 4-bit base (bitsandbytes, CUDA)"})
    bnb_4bit_quant_type: str = field(default="nf4", metadata={"help": "nf4 or fp4"})
    use_bnb_nested_quant: bool = field(default=False, metadata={"help": "quantize the quantization constants too"})


@dataclass
class OptionalLoraArguments(LoraArguments):
    """For stages that train the full model unless asked for an adapter (reward, DPO, GRPO)."""

    use_peft: bool = field(default=False, metadata={"help": "train a LoRA adapter instead of the full model"})
    # A chat checkpoint has trained the dialogue tokens already.
    train_dialogue_tokens: bool = False

    def __post_init__(self) -> None:
        if self.load_in_4bit and not self.use_peft:
            raise ConfigError("load_in_4bit trains a LoRA adapter on a 4-bit base: set use_peft: true as well")


class QLoraUnavailable(ConfigError):
    """load_in_4bit was asked for where bitsandbytes or a CUDA GPU is missing."""


def quantization_config(args: LoraArguments, dtype: str):
    """The BitsAndBytesConfig of a QLoRA run, or None for plain LoRA; a clear error where QLoRA cannot run."""
    if not args.load_in_4bit:
        return None
    missing = []
    if importlib.util.find_spec("bitsandbytes") is None:
        missing.append("bitsandbytes is not installed (pip install bitsandbytes)")
    if not torch.cuda.is_available():
        missing.append("no CUDA GPU is available")
    if missing:
        raise QLoraUnavailable(
            f"load_in_4bit (QLoRA) needs bitsandbytes and a CUDA GPU: {'; '.join(missing)}."
            " Set load_in_4bit: false to train a plain LoRA adapter."
        )
    from trl import get_quantization_config

    return get_quantization_config(trl_model_config(args, dtype))


def trl_model_config(args: LoraArguments, dtype: str = "auto", task_type: str = "CAUSAL_LM"):
    """The adapter's keys as TRL's ModelConfig, for get_peft_config and get_quantization_config. A 4-bit base
    computes in bfloat16 unless a dtype is given ("auto" has no meaning for the compute dtype)."""
    from trl import ModelConfig

    return ModelConfig(
        dtype="bfloat16" if dtype == "auto" else dtype,
        use_peft=True,
        lora_r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        lora_target_modules=list(args.lora_target_modules),
        lora_modules_to_save=list(args.lora_modules_to_save or []) or None,
        lora_task_type=task_type,
        use_rslora=args.use_rslora,
        load_in_4bit=args.load_in_4bit,
        bnb_4bit_quant_type=args.bnb_4bit_quant_type,
        use_bnb_nested_quant=args.use_bnb_nested_quant,
    )


def load_base_model(model_args: ModelArguments, lora_args: LoraArguments, gradient_checkpointing: bool = False):
    """The model the adapter is trained on: as `load_model` loads it, or 4-bit on this process's GPU for QLoRA."""
    quantization = quantization_config(lora_args, model_args.dtype)
    if quantization is None:
        return load_model(model_args)
    if is_deepspeed_zero3_enabled():
        # Each process holds the whole 4-bit base on its GPU (DDP or ZeRO-2); sharding 4-bit weights with ZeRO-3
        # needs another set-up, untried here.
        raise ConfigError("load_in_4bit (QLoRA) runs with ../ds_configs/zero2.json or without --deepspeed, not ZeRO-3")
    from accelerate import PartialState
    from peft import prepare_model_for_kbit_training

    model = load_model(
        model_args, quantization_config=quantization, device_map={"": PartialState().local_process_index}
    )
    return prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)


def resolve_local_model(model_args: ModelArguments) -> None:
    """Make a local model_name_or_path absolute: the adapter records it as its base, and merge_lora.py or eval may
    run from another folder than the training did."""
    path = Path(model_args.model_name_or_path or "")
    if model_args.model_name_or_path and path.is_dir():
        model_args.model_name_or_path = str(path.resolve())


def embeddings_tied(model) -> bool:
    output = model.get_output_embeddings()
    return output is not None and output.weight is model.get_input_embeddings().weight


def _module_name(model, module) -> str:
    return next(name for name, candidate in model.named_modules() if candidate is module)


def lora_config(args: LoraArguments, model, task_type: str = "CAUSAL_LM", new_tokens: bool = True):
    """The LoraConfig for `model` (TRL's get_peft_config); with `train_dialogue_tokens`, the input and output
    embeddings are trained too, so that the new tokens' rows learn. `new_tokens=False` (the model's own chat
    template: no token was added) leaves them frozen, as plain LoRA does: there is no new row to learn, and a full
    copy of the embedding would make the adapter as big as a small model."""
    from trl import get_peft_config

    # TRL's ModelConfig turns a one-name list into the name: PEFT reads "all-linear" as a shorthand, but a list
    # ["all-linear"] as a module name.
    config = get_peft_config(trl_model_config(args, task_type=task_type))
    modules_to_save = list(config.modules_to_save or [])
    if args.train_dialogue_tokens and new_tokens and task_type == "CAUSAL_LM":
        for module in (model.get_input_embeddings(), model.get_output_embeddings()):
            name = _module_name(model, module)
            if name not in modules_to_save:
                modules_to_save.append(name)
    # A tied output head stays tied to the trained copy of the input embedding (StarCoder2 ties them).
    return dataclasses.replace(
        config,
        modules_to_save=modules_to_save or None,
        ensure_weight_tying=bool(modules_to_save) and embeddings_tied(model),
    )


def adapter_base(adapter_dir: str | os.PathLike) -> str:
    """The base model an adapter folder was trained on (its adapter_config.json's base_model_name_or_path)."""
    config_file = Path(adapter_dir) / "adapter_config.json"
    if not config_file.is_file():
        raise ConfigError(f"{adapter_dir}: not a LoRA adapter folder (no adapter_config.json)")
    base = json.loads(config_file.read_text(encoding="utf-8")).get("base_model_name_or_path")
    if not base:
        raise ConfigError(f"{config_file}: no base_model_name_or_path; pass the base model explicitly")
    return base


def load_adapter_model(
    adapter_dir: str | os.PathLike,
    base_model: str | None = None,
    dtype: str = "auto",
    trust_remote_code: bool = False,
) -> tuple[Any, PreTrainedTokenizerBase]:
    """The base model with the adapter applied (a PeftModel, in eval mode) and the adapter's tokenizer.

    The base gets the chat template the adapter trained with, the model's own or the dialogue template with its tokens
    (`ensure_chat_format`, the choice its metadata records), so its vocabulary matches the adapter's; the adapter then
    restores the trained rows of those tokens.
    """
    from peft import PeftModel

    base_model = base_model or adapter_base(adapter_dir)
    tokenizer = AutoTokenizer.from_pretrained(adapter_dir, trust_remote_code=trust_remote_code)
    model = from_pretrained(base_model, dtype, trust_remote_code)
    ensure_chat_format(tokenizer, model, generation_settings(adapter_dir).chat_template)  # the one it trained with
    return PeftModel.from_pretrained(model, adapter_dir).eval(), tokenizer


def merge_adapter(
    adapter_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    base_model: str | None = None,
    dtype: str = "auto",
    trust_remote_code: bool = False,
):
    """Merge an adapter into its base and save a plain model (safetensors) with the tokenizer; returns the model.

    Nothing is uploaded: pushing the result is the caller's explicit choice.
    """
    peft_model, tokenizer = load_adapter_model(adapter_dir, base_model, dtype, trust_remote_code)
    merged = peft_model.merge_and_unload()
    output_dir = Path(output_dir)
    merged.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    _write_merge_metadata(Path(adapter_dir), output_dir, base_model or adapter_base(adapter_dir))
    return merged


def _write_merge_metadata(adapter_dir: Path, output_dir: Path, base_model: str) -> None:
    """The adapter's metadata, marked as merged: eval reads the training settings (system_prompt) from it."""
    from luacoder.files import write_json

    trained = adapter_dir / META_FILE
    meta = json.loads(trained.read_text(encoding="utf-8")) if trained.is_file() else {}
    write_json(
        output_dir / META_FILE,
        {
            "stage": "merge_lora",
            "parent": str(adapter_dir.resolve()),
            "dataset_fingerprint": meta.get("dataset_fingerprint"),
            "config": {**meta.get("config", {}), "adapter": str(adapter_dir.resolve()), "base_model": base_model},
            "step": meta.get("step"),
        },
    )
