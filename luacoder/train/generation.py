"""Chat generation with a checkpoint: load it, format prompts with its chat template, answer them in batches.

Used by `deepspeed/chat/generate.py`, and meant for eval: the same formatting, stop tokens and answer clean-up
everywhere a checkpoint is asked something. Answers end where the model writes `<|end|>` (or EOS); the stop token
itself is not part of the answer.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from tqdm import tqdm
from transformers import PreTrainedTokenizerBase, StoppingCriteria, StoppingCriteriaList

from luacoder.dialogue import END

Message = dict[str, str]
# The answer length of generate.py and eval.py unless told otherwise: a chat answer with a Lua snippet fits.
MAX_NEW_TOKENS = 512


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
    max_new_tokens: int = MAX_NEW_TOKENS,
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
    max_new_tokens: int = MAX_NEW_TOKENS,
    batch_size: int = 8,
    progress: bool = False,
    add_special_tokens: bool = False,
    stop_strings: Sequence[str] = (),
    **generate_kwargs: Any,
) -> list[Completion]:
    """The continuation of each text, in order.

    Texts are batched by length (longest first, so running out of memory shows at once) with left padding, and
    each continuation is cut at the first stop token (`stop_token_ids`). `add_special_tokens` is off for chat
    prompts: the template writes every special token itself (as apply_chat_template does). `generate_kwargs` go
    to `model.generate`: do_sample, temperature, top_p, top_k, logits_processor, ... `stop_strings` end a
    sequence's generation early once its new text holds one of them (the text keeps it: the caller cuts).
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
            if stop_strings:
                criterion = NewTextStop(tokenizer, stop_strings, inputs["input_ids"].shape[1])
                generate_kwargs["stopping_criteria"] = StoppingCriteriaList([criterion])
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


class NewTextStop(StoppingCriteria):
    """Done once the generated text (not the prompt) holds one of `stops`. transformers' own `stop_strings` also
    match across the prompt's end: after a prompt ending in "\n", a first token "--" would match "\n--" and stop
    every completion of a MultiPL-E prompt at once."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, stops: Sequence[str], prompt_length: int):
        self.tokenizer, self.stops, self.prompt_length = tokenizer, list(stops), prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores=None, **kwargs) -> torch.BoolTensor:
        texts = self.tokenizer.batch_decode(input_ids[:, self.prompt_length :], skip_special_tokens=False)
        return torch.tensor([any(s in t for s in self.stops) for t in texts], device=input_ids.device)


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
