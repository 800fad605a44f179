"""Model and tokenizer set-up: THE model loader (stages, generation, eval, adapters: `from_pretrained`), special
tokens, embedding resize under ZeRO-3.

Order matters under DeepSpeed ZeRO-3: the stage parses its TrainingArguments (which registers the DeepSpeed config)
before calling `load_model`, so that `from_pretrained` partitions the weights as it loads them.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase
from transformers.integrations import is_deepspeed_zero3_enabled

from luacoder.config import ConfigError
from luacoder.dialogue import CHAT_TEMPLATE, DIALOGUE_TOKENS
from luacoder.train.attention import choose_attn_implementation
from luacoder.train.chat_format import resolve_chat_template, stop_token_ids, training_template

logger = logging.getLogger(__name__)
DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass
class ModelArguments:
    """Which model to start from: a hub id or local folder, or a config plus a tokenizer to train from scratch."""

    model_name_or_path: str | None = field(default=None, metadata={"help": "hub id or local folder of the model"})
    model_config: str | None = field(
        default=None, metadata={"help": "from scratch: a config.json (or its folder); needs tokenizer_name_or_path"}
    )
    tokenizer_name_or_path: str | None = field(default=None, metadata={"help": "default: model_name_or_path"})
    trust_remote_code: bool = field(default=False, metadata={"help": "run code shipped with a hub model"})
    dtype: str = field(default="auto", metadata={"help": "auto, float32, bfloat16 or float16"})
    attn_implementation: str | None = field(
        default=None,
        metadata={"help": "auto (flash attention where installed on a GPU), sdpa, eager, flash_attention_2, ..."},
    )
    start_over: bool = field(
        default=False, metadata={"help": "ignore checkpoints in output_dir instead of resuming from the last one"}
    )
    chat_template: str | None = field(
        default=None,
        metadata={
            "help": "model (the tokenizer's own chat template) or luacoder (the dialogue template); default: model"
            " when the tokenizer has a template, luacoder when it has none"
        },
    )

    def __post_init__(self) -> None:
        if (self.model_name_or_path is None) == (self.model_config is None):
            raise ConfigError(
                "set exactly one of model_name_or_path (a pretrained model) or model_config (from scratch)"
            )
        if self.model_config is not None and self.tokenizer_name_or_path is None:
            raise ConfigError("model_config (training from scratch) needs tokenizer_name_or_path")
        if self.chat_template not in (None, "auto", "model", "luacoder"):
            raise ConfigError(f"chat_template must be model, luacoder or auto, got {self.chat_template!r}")

    def check_local_paths(self) -> None:
        """Before loading: a local folder or file named here that does not exist is a ConfigError saying so."""
        for key in ("model_name_or_path", "model_config", "tokenizer_name_or_path"):
            missing_local_model(key, getattr(self, key))


# Where the shipped CPU configs find their models: `./set-up.sh demo` makes them.
DEMO_OUTPUTS = "outputs/demo"


def missing_local_model(key: str, value: str | None) -> None:
    """A ConfigError when `value` names a local path that does not exist. A hub id is `name` or `org/name`; a
    path starting with `.`, `/` or `~`, or with more than one `/`, is local: without this check, transformers would
    take it for a malformed hub id and fail with "Repo id must be in the form 'repo_name'..."."""
    if not value:
        return
    local = value.startswith((".", "/", "~")) or value.count("/") > 1 or os.sep != "/" and os.sep in value
    path = Path(value).expanduser()
    if not local or path.exists():
        return
    hint = ""
    if DEMO_OUTPUTS in Path(os.path.abspath(path)).as_posix():
        hint = "; the shipped CPU configs start from the demo's models, which `./set-up.sh demo` makes"
    raise ConfigError(f"{key}: {value} does not exist (resolved to {os.path.abspath(path)}){hint}")


def load_tokenizer(args: ModelArguments) -> PreTrainedTokenizerBase:
    args.check_local_paths()
    name = args.tokenizer_name_or_path or args.model_name_or_path
    tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=args.trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(args: ModelArguments, model_class=AutoModelForCausalLM, **load_kwargs):
    """A pretrained model (hub id or folder), or a freshly initialised one from `model_config`.

    `model_class` and `load_kwargs` (num_labels, quantization_config, ...) let a stage load another head (a reward
    model) or a quantized base the same way, under ZeRO-3 included."""
    args.check_local_paths()
    if is_deepspeed_zero3_enabled():
        _init_deepspeed_comm()
    kwargs = {"trust_remote_code": args.trust_remote_code}
    attn_implementation = choose_attn_implementation(args.attn_implementation, args.dtype)
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    if args.model_name_or_path is not None:
        return from_pretrained(args.model_name_or_path, args.dtype, model_class=model_class, **kwargs, **load_kwargs)
    config = AutoConfig.from_pretrained(args.model_config, trust_remote_code=args.trust_remote_code)
    return AutoModelForCausalLM.from_config(config, **kwargs)


def from_pretrained(
    name: str, dtype: str = "auto", trust_remote_code: bool = False, model_class=AutoModelForCausalLM, **kwargs
):
    """The one `from_pretrained` of LuaCoder's models. `dtype` is the string transformers takes ("auto" reads the
    checkpoint's own)."""
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
    return model_class.from_pretrained(name, dtype=dtype, trust_remote_code=trust_remote_code, **kwargs)


def load_chat_model(
    model_id: str, dtype: str = "auto", trust_remote_code: bool = False, device: str | None = None, chat: bool = True
) -> tuple[Any, PreTrainedTokenizerBase]:
    """The model (in eval mode, on `device`: the GPU when there is one) and the tokenizer of a checkpoint folder or
    hub id, to generate with. With `chat` the tokenizer must carry a chat template: prompts are formatted with it,
    exactly as training did; without (raw code completion) it need not."""
    path = Path(model_id).expanduser()
    if path.exists():
        if not path.is_dir() or not (path / "config.json").is_file():
            raise FileNotFoundError(f"{model_id}: not a model folder (no config.json in it)")
        model_id = str(path)
    elif _looks_local(model_id):
        raise FileNotFoundError(f"{model_id}: no such model folder")
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_id, trust_remote_code=trust_remote_code)
        # use_safetensors: never a pickle; a checkpoint from elsewhere must not run its author's code
        model = from_pretrained(model_id, dtype, trust_remote_code, use_safetensors=True)
    except OSError as exc:
        if path.exists():
            raise
        raise FileNotFoundError(
            f"{model_id}: not a local model folder, and loading it from the hub failed: {exc}"
        ) from exc
    if chat and not tokenizer.chat_template:
        raise ValueError(f"{model_id}: the tokenizer has no chat template; use a LuaCoder chat checkpoint")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return model.to(device).eval(), tokenizer


def _looks_local(model_id: str) -> bool:
    """A hub id is `name` or `owner/name`; anything else, or a path whose parent folder exists, was meant as a
    local folder, and trying the hub with it would only bury the real problem under a network error."""
    path = Path(model_id).expanduser()
    return (
        path.is_absolute()
        or model_id.startswith((".", "~"))
        or model_id.count("/") > 1
        or (model_id.count("/") == 1 and path.parent.is_dir())
    )


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
    model.generation_config.eos_token_id = stop_token_ids(tokenizer, model.generation_config.eos_token_id)
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
