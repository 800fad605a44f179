"""Batched generation that stops decoding a row once it has finished.

`model.generate` decodes a static batch until its longest answer ends: a row that wrote its stop token at step 20
of 512 is still run through the model (as padding) at every later step. On eval's answers that is a quarter to a
half of all row-steps. Here, a row leaves the batch the step it finishes: its KV cache rows, attention mask row and
sampler are dropped (`DynamicCache.batch_select_indices`), so every forward pass works only on live rows.

Sampling is seeded per prompt (one `torch.Generator` per row, seeded by the caller), so an answer does not depend
on which prompts shared its batch or how large the batch was: the eval cache need not key on batch size. Greedy
answers are those of `model.generate` on the same batches (`generate_static`, the reference the tests and
benchmarks/bench_eval_batching.py hold it to).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from transformers import DynamicCache, PreTrainedTokenizerBase
from transformers.generation import (
    LogitsProcessor,
    LogitsProcessorList,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from luacoder.evaluation.engine import BATCH_SIZE, Completion
from luacoder.train.chat_format import stop_token_ids


@dataclass
class DecodeCounts:
    """What a generation spent: row-steps (one row through one forward pass) and forward passes."""

    row_steps: int = 0
    forward_passes: int = 0


@torch.inference_mode()
def generate_shrinking(
    model,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    *,
    seeds: Sequence[int],
    max_new_tokens: int = 512,
    batch_size: int = BATCH_SIZE,
    add_special_tokens: bool = False,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_p: float = 1.0,
    top_k: int = 0,
    logits_processor: LogitsProcessorList | None = None,
    batch_processors: Callable[[int], Sequence[LogitsProcessor]] | None = None,
    counts: DecodeCounts | None = None,
    stop_strings: Sequence[str] = (),
) -> list[Completion]:
    """The continuation of each text, in order, cut at the first stop token (`stop_token_ids`).

    A row also leaves the batch once its generated text (not its prompt) holds one of `stop_strings`; the text keeps
    it (the caller cuts).

    Texts are batched longest first with left padding; `seeds[i]` seeds text i's sampler (unused when greedy).
    `logits_processor` sees the live rows only (each row's prompt and generated ids): a processor must decide per
    row from those ids, never from a row's position in the batch. `batch_processors(width)` makes processors anew
    for each batch, told the batch's prompt width (where the answers start): a constraint that reads each row's
    answer (`luacoder.evaluation.constrained`). `counts`, when given, is increased by the row-steps and forward
    passes spent.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if len(seeds) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(seeds)} seeds")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    stops = stop_token_ids(tokenizer, model.generation_config.eos_token_id)
    sampling = []
    if do_sample:
        sampling = (
            [TemperatureLogitsWarper(temperature), TopKLogitsWarper(top_k), TopPLogitsWarper(top_p)]
            if top_k
            else [TemperatureLogitsWarper(temperature), TopPLogitsWarper(top_p)]
        )

    def warpers(width: int) -> LogitsProcessorList:
        made = list(batch_processors(width)) if batch_processors is not None else []
        return LogitsProcessorList([*(logits_processor or []), *made, *sampling])

    counts = counts if counts is not None else DecodeCounts()
    lengths = [len(ids) for ids in tokenizer(list(texts), add_special_tokens=add_special_tokens)["input_ids"]]
    order = sorted(range(len(texts)), key=lambda i: -lengths[i])
    completions: list[Completion] = [Completion("", 0)] * len(texts)
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        generated = _decode_batch(
            model,
            tokenizer,
            [texts[i] for i in batch],
            [seeds[i] for i in batch],
            stops,
            max_new_tokens,
            add_special_tokens,
            do_sample,
            warpers,
            counts,
            list(stop_strings),
        )
        for i, new_ids in zip(batch, generated, strict=True):
            completions[i] = Completion(decode_answer(tokenizer, new_ids, stops), len(new_ids))
    return completions


def _decode_batch(
    model,
    tokenizer,
    texts: list[str],
    seeds: list[int],
    stops: list[int],
    max_new_tokens: int,
    add_special_tokens: bool,
    do_sample: bool,
    make_warpers: Callable[[int], LogitsProcessorList],
    counts: DecodeCounts,
    stop_strings: list[str],
) -> list[list[int]]:
    """Each text's generated ids (the stop token included when one was written)."""
    device = model.device
    inputs = tokenizer(
        texts, add_special_tokens=add_special_tokens, padding=True, padding_side="left", return_tensors="pt"
    ).to(device)
    sequences, mask = inputs["input_ids"], inputs["attention_mask"]
    warpers = make_warpers(sequences.shape[1])
    generators = [torch.Generator(device=device).manual_seed(seed) for seed in seeds] if do_sample else []
    stop_ids = torch.tensor(stops, device=device)
    live = list(range(len(texts)))  # the batch row each live row came from
    generated: list[list[int]] = [[] for _ in texts]
    cache = DynamicCache(config=model.config)
    step_ids = sequences
    for _ in range(max_new_tokens):
        # Positions count real tokens only, as generate() computes them for left-padded rows.
        positions = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 1)[:, -step_ids.shape[1] :]
        logits = model(
            input_ids=step_ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True
        ).logits[:, -1, :]
        counts.forward_passes += 1
        counts.row_steps += len(live)
        scores = warpers(sequences, logits.float())
        if do_sample:
            probs = scores.softmax(-1)
            tokens = torch.cat([torch.multinomial(probs[r], 1, generator=g) for r, g in enumerate(generators)])
        else:
            tokens = scores.argmax(-1)
        for row, token in zip(live, tokens.tolist(), strict=True):
            generated[row].append(token)
        sequences = torch.cat([sequences, tokens[:, None]], dim=-1)
        mask = torch.cat([mask, mask.new_ones(len(live), 1)], dim=-1)
        step_ids = tokens[:, None]
        going = ~torch.isin(tokens, stop_ids)
        if stop_strings:
            ended = wrote_stop_text(tokenizer, [generated[row] for row in live], stop_strings)
            going &= ~torch.tensor(ended, device=going.device)
        if not going.any():
            break
        if not going.all():
            keep = going.nonzero().squeeze(-1)
            cache.batch_select_indices(keep)
            sequences, mask, step_ids = sequences[keep], mask[keep], step_ids[keep]
            kept = keep.tolist()
            live = [live[k] for k in kept]
            generators = [generators[k] for k in kept] if do_sample else []
    return generated


@torch.inference_mode()
def generate_static(
    model,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    *,
    max_new_tokens: int = 512,
    batch_size: int = BATCH_SIZE,
    add_special_tokens: bool = False,
    **generate_kwargs,
) -> list[Completion]:
    """The reference: the same batches (longest first, left padding) decoded by `model.generate`, where a batch runs
    until its longest answer ends. `generate_kwargs` go to `generate` (do_sample, logits_processor, ...)."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    stops = stop_token_ids(tokenizer, model.generation_config.eos_token_id)
    lengths = [len(ids) for ids in tokenizer(list(texts), add_special_tokens=add_special_tokens)["input_ids"]]
    order = sorted(range(len(texts)), key=lambda i: -lengths[i])
    completions: list[Completion] = [Completion("", 0)] * len(texts)
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
            **inputs, max_new_tokens=max_new_tokens, eos_token_id=stops, pad_token_id=tokenizer.pad_token_id,
            **generate_kwargs,
        )  # fmt: skip
        for row, i in enumerate(batch):
            new_ids = output[row, inputs["input_ids"].shape[1] :].tolist()
            end = stop_position(new_ids, stops)
            completions[i] = Completion(decode_answer(tokenizer, new_ids, stops), min(end + 1, len(new_ids)))
    return completions


def wrote_stop_text(
    tokenizer: PreTrainedTokenizerBase, new_ids: Sequence[list[int]], stops: Sequence[str]
) -> list[bool]:
    """Whether each row's generated text (not its prompt) holds one of `stops`. transformers' own `stop_strings`
    also match across the prompt's end: after a prompt ending in "\n", a first token "--" would match "\n--" and
    stop every completion of a MultiPL-E prompt at once."""
    texts = tokenizer.batch_decode(list(new_ids), skip_special_tokens=False)
    return [any(stop in text for stop in stops) for text in texts]


def stop_position(new_ids: list[int], stops: Sequence[int]) -> int:
    """The index of the first stop token in the generated ids (their length when there is none)."""
    stop_set = set(stops)
    return next((n for n, token in enumerate(new_ids) if token in stop_set), len(new_ids))


def decode_answer(tokenizer: PreTrainedTokenizerBase, new_ids: list[int], stops: Sequence[int]) -> str:
    """The text of the generated ids up to (not including) the first stop token."""
    return tokenizer.decode(new_ids[: stop_position(new_ids, stops)], skip_special_tokens=False)
