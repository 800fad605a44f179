"""Model and tokenizer set-up shared by the stages: loading, special tokens, embedding resize under ZeRO-3.

Order matters under DeepSpeed ZeRO-3: the stage parses its TrainingArguments (which registers the DeepSpeed config)
before calling `load_model`, so that `from_pretrained` partitions the weights as it loads them.
"""

from __future__ import annotations

import logging

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase
from transformers.integrations import is_deepspeed_zero3_enabled

from luacoder.train.chat_format import resolve_chat_template, training_template
from luacoder.train.chat_template import CHAT_TEMPLATE, DIALOGUE_TOKENS
from luacoder.train.config import ModelArguments
from luacoder.train.generation import stop_token_ids

logger = logging.getLogger(__name__)


def load_tokenizer(args: ModelArguments) -> PreTrainedTokenizerBase:
    name = args.tokenizer_name_or_path or args.model_name_or_path
    tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=args.trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(args: ModelArguments, model_class=AutoModelForCausalLM, **load_kwargs):
    """A pretrained model (hub id or folder), or a freshly initialised one from `model_config`.

    `model_class` and `load_kwargs` (num_labels, quantization_config, ...) let a stage load another head (a reward
    model) or a quantized base the same way, under ZeRO-3 included."""
    if is_deepspeed_zero3_enabled():
        _init_deepspeed_comm()
    kwargs = {"trust_remote_code": args.trust_remote_code}
    if args.attn_implementation:
        kwargs["attn_implementation"] = args.attn_implementation
    if args.model_name_or_path is not None:
        dtype = args.dtype if args.dtype == "auto" else getattr(torch, args.dtype)
        return model_class.from_pretrained(args.model_name_or_path, dtype=dtype, **kwargs, **load_kwargs)
    config = AutoConfig.from_pretrained(args.model_config, trust_remote_code=args.trust_remote_code)
    return AutoModelForCausalLM.from_config(config, **kwargs)


def _init_deepspeed_comm() -> None:
    """zero.Init reads the world size from deepspeed.comm. On GPUs Accelerate has set it up by now; on the CPU
    (use_cpu) only torch.distributed is, and DeepSpeed would count one process where torchrun started several."""
    import deepspeed

    if not deepspeed.comm.is_initialized():
        deepspeed.init_distributed()


def ensure_tokens(tokenizer: PreTrainedTokenizerBase, model, tokens: list[str]) -> list[str]:
    """Add the `tokens` the tokenizer lacks (as special tokens) and grow the model's embeddings to match.

    New rows start at the mean of the existing rows (input and output embeddings), which keeps the first losses
    sane; under ZeRO-3 the partitioned weights are gathered for the resize and the initialisation, so neither sees
    the empty local shard (the "vocab size 0" failure). Returns the tokens that were added.
    """
    vocab = tokenizer.get_vocab()
    missing = [t for t in tokens if t not in vocab]
    if missing:
        tokenizer.add_special_tokens({"extra_special_tokens": missing}, replace_extra_special_tokens=False)
    old_rows = _rows(model.get_input_embeddings().weight)
    if len(tokenizer) > old_rows:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        _init_new_rows_to_mean(model, old_rows)
        logger.info("added %d tokens %s; embeddings resized %d -> %d", len(missing), missing, old_rows, len(tokenizer))
    return missing


def ensure_chat_format(tokenizer: PreTrainedTokenizerBase, model, chat_template: str | None = None) -> list[str]:
    """Give a tokenizer the chat template to train with (`chat_format.resolve_chat_template`), and make generation
    stop at its end-of-turn token. `luacoder`: the dialogue tokens and template, stopping at `<|end|>`; `model`:
    the tokenizer's own template, marked for assistant-only loss. Returns the tokens added to the tokenizer."""
    if resolve_chat_template(tokenizer, chat_template) == "model":
        tokenizer.chat_template = training_template(tokenizer)
        added = []
    else:
        added = ensure_tokens(tokenizer, model, DIALOGUE_TOKENS)
        if tokenizer.chat_template != CHAT_TEMPLATE:
            if tokenizer.chat_template:
                logger.warning("replacing the tokenizer's chat template with LuaCoder's dialogue template")
            tokenizer.chat_template = CHAT_TEMPLATE
    model.generation_config.eos_token_id = stop_token_ids(model, tokenizer)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return added


def _rows(weight: torch.Tensor) -> int:
    # Under ZeRO-3 the local tensor is an empty shard; DeepSpeed keeps the real shape in ds_shape.
    return weight.ds_shape[0] if hasattr(weight, "ds_shape") else weight.shape[0]


def _init_new_rows_to_mean(model, old_rows: int) -> None:
    weights = [model.get_input_embeddings().weight]
    output = model.get_output_embeddings()
    if output is not None and output.weight is not weights[0]:
        weights.append(output.weight)
    if is_deepspeed_zero3_enabled():
        import deepspeed

        gathered = deepspeed.zero.GatheredParameters(weights, modifier_rank=0)
    else:
        import contextlib

        gathered = contextlib.nullcontext()
    with gathered, torch.no_grad():
        for weight in weights:
            if weight.shape[0] > old_rows:
                weight[old_rows:] = weight[:old_rows].mean(dim=0, keepdim=True).to(weight.dtype)
