"""Chat generation with a checkpoint: load it, format prompts with its chat template, answer them in batches.

Used by `deepspeed/chat/generate.py`, and meant for eval: the same formatting, stop tokens and answer clean-up
everywhere a checkpoint is asked something. Answers end where the model writes `<|end|>` (or EOS); the stop token
itself is not part of the answer.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from luacoder.files import RowError, read_jsonl
from luacoder.train.chat_template import END

Message = dict[str, str]
PROMPT_FIELD = "prompt"
DTYPES = ("auto", "float32", "bfloat16", "float16")


def read_prompts(path: str | os.PathLike, field: str = PROMPT_FIELD) -> list[str]:
    """Prompts from a .txt (one a line, blank lines skipped), a .jsonl (`field` of each row) or a .csv (`field`
    column). A missing field or column, an empty prompt or a file without prompts is an error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise RowError(f"{path}: no such prompts file")
    suffix = path.suffix.lower()
    if suffix == ".txt":
        prompts = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    elif suffix == ".jsonl":
        prompts = []
        for number, row in enumerate(read_jsonl(path, required=(field,)), 1):
            prompts.append(_checked_prompt(row[field], f"{path}: row {number}"))
    elif suffix == ".csv":
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            if field not in (reader.fieldnames or []):
                raise RowError(f"{path}: no {field!r} column; the columns are {reader.fieldnames or []}")
            prompts = [_checked_prompt(row[field], f"{path}:{reader.line_num}") for row in reader]
    else:
        raise RowError(f"{path}: unsupported prompts file; use .txt (one prompt a line), .jsonl or .csv")
    if not prompts:
        raise RowError(f"{path}: no prompts")
    return prompts


def _checked_prompt(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise RowError(f"{where}: the {PROMPT_FIELD!r} is {type(value).__name__}, not text")
    if not value.strip():
        raise RowError(f"{where}: empty prompt")
    return value


def load_chat_model(
    model_id: str, dtype: str = "auto", trust_remote_code: bool = False, device: str | None = None
) -> tuple[Any, PreTrainedTokenizerBase]:
    """The model (in eval mode, on `device`: the GPU when there is one) and the tokenizer of a checkpoint folder or
    hub id. The tokenizer must carry a chat template: prompts are formatted with it, exactly as training did."""
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
    path = Path(model_id).expanduser()
    if path.exists():
        if not path.is_dir() or not (path / "config.json").is_file():
            raise FileNotFoundError(f"{model_id}: not a model folder (no config.json in it)")
        model_id = str(path)
    elif _looks_local(model_id):
        raise FileNotFoundError(f"{model_id}: no such model folder")
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_id, trust_remote_code=trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(
            model_id, dtype=dtype if dtype == "auto" else getattr(torch, dtype), trust_remote_code=trust_remote_code
        )
    except OSError as exc:
        if path.exists():
            raise
        raise FileNotFoundError(
            f"{model_id}: not a local model folder, and loading it from the hub failed: {exc}"
        ) from exc
    if not tokenizer.chat_template:
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


def stop_token_ids(model, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """The ids that end an answer: the model's generation_config EOS id(s), the tokenizer's EOS, `<|end|>` when
    the tokenizer has it, and the end-of-turn token of its chat template (`<|im_end|>` for ChatML)."""
    from jinja2 import TemplateError

    from luacoder.train.chat_format import ChatTemplateError, end_of_turn_token

    configured = model.generation_config.eos_token_id
    stops = [] if configured is None else [configured] if isinstance(configured, int) else list(configured)
    if tokenizer.eos_token_id is not None:
        stops.append(tokenizer.eos_token_id)
    if END in tokenizer.get_vocab():
        stops.append(tokenizer.convert_tokens_to_ids(END))
    if isinstance(tokenizer.chat_template, str) and tokenizer.chat_template:
        # A template without an end-of-turn token, or one that cannot render the probe: the EOS ids above stop it.
        with contextlib.suppress(ChatTemplateError, TemplateError, ValueError, TypeError):
            stops.append(tokenizer.convert_tokens_to_ids(end_of_turn_token(tokenizer)))
    return list(dict.fromkeys(stops))


def chat_messages(prompt: str, system_prompt: str | None = None, history: Sequence[Message] = ()) -> list[Message]:
    """The conversation for one turn: the system prompt (if any), earlier user/assistant turns, then `prompt`."""
    system = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return [*system, *history, {"role": "user", "content": prompt}]


def format_chat(tokenizer: PreTrainedTokenizerBase, messages: Sequence[Message]) -> str:
    """The prompt text the model sees: the chat template applied, ending with the assistant's opening."""
    return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)


def generate_answers(
    model,
    tokenizer: PreTrainedTokenizerBase,
    conversations: Sequence[Sequence[Message]],
    *,
    max_new_tokens: int = 512,
    batch_size: int = 8,
    progress: bool = False,
    **generate_kwargs: Any,
) -> list[str]:
    """The assistant's answer to each conversation, in order (see `generate_completions`)."""
    texts = [format_chat(tokenizer, messages) for messages in conversations]
    completions = generate_completions(
        model,
        tokenizer,
        texts,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        progress=progress,
        **generate_kwargs,
    )
    return [c.text for c in completions]


@dataclass
class Completion:
    text: str  # up to (not including) the first stop token
    new_tokens: int  # tokens generated, the stop token included, the padding after it not


@torch.inference_mode()
def generate_completions(
    model,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    *,
    max_new_tokens: int = 512,
    batch_size: int = 8,
    progress: bool = False,
    add_special_tokens: bool = False,
    **generate_kwargs: Any,
) -> list[Completion]:
    """The continuation of each text, in order.

    Texts are batched by length (longest first, so running out of memory shows at once) with left padding, and
    each continuation is cut at the first stop token (`stop_token_ids`). `add_special_tokens` is off for chat
    prompts: the template writes every special token itself (as apply_chat_template does). `generate_kwargs` go
    to `model.generate`: do_sample, temperature, top_p, top_k, logits_processor, ...
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    stops = stop_token_ids(model, tokenizer)
    lengths = [len(ids) for ids in tokenizer(list(texts), add_special_tokens=add_special_tokens)["input_ids"]]
    order = sorted(range(len(texts)), key=lambda i: -lengths[i])
    completions: list[Completion] = [Completion("", 0)] * len(texts)
    with tqdm(total=len(texts), desc="generating", unit="prompt", disable=not progress) as bar:
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            inputs = tokenizer(
                [texts[i] for i in batch],
                add_special_tokens=add_special_tokens,
                padding=True,
                padding_side="left",
                return_tensors="pt",
            ).to(model.device)
            output = model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                eos_token_id=stops,
                pad_token_id=tokenizer.pad_token_id,
                **generate_kwargs,
            )
            for row, i in enumerate(batch):
                new_ids = output[row, inputs["input_ids"].shape[1] :].tolist()
                end = stop_position(new_ids, stops)
                completions[i] = Completion(decode_answer(tokenizer, new_ids, stops), min(end + 1, len(new_ids)))
            bar.update(len(batch))
    return completions


def stop_position(new_ids: list[int], stops: Sequence[int]) -> int:
    """The index of the first stop token in the generated ids (their length when there is none)."""
    stop_set = set(stops)
    return next((n for n, token in enumerate(new_ids) if token in stop_set), len(new_ids))


def decode_answer(tokenizer: PreTrainedTokenizerBase, new_ids: list[int], stops: Sequence[int]) -> str:
    """The text of the generated ids up to (not including) the first stop token."""
    return tokenizer.decode(new_ids[: stop_position(new_ids, stops)], skip_special_tokens=False)


def answer_rows(prompts: Sequence[str], answers: Sequence[str]) -> str:
    """JSON lines of {"prompt", "answer"}, one per prompt, in order."""
    rows = ({"prompt": prompt, "answer": answer} for prompt, answer in zip(prompts, answers, strict=True))
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
