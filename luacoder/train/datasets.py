"""The stages' datasets: the data keys of each stage and the rows it trains on.

## Pretraining (deepspeed/pretrain)

Continued-pretraining data: fill-in-the-middle per document, then packing into fixed-length rows.

FIM follows StarCoder's recipe on token ids: with probability `fim_rate` a document is cut at two random points
into prefix, middle and suffix and rearranged as PSM (`<fim_prefix> pre <fim_suffix> suf <fim_middle> mid`) or,
with probability `fim_spm_rate`, SPM (`<fim_prefix> <fim_suffix> suf <fim_middle> pre mid`). Packing joins
documents with EOS and cuts every `seq_length` tokens; the last row is padded (labels -100), so nothing is dropped.

## Chat (deepspeed/chat, deepspeed/RL/sft_lora)

Chat fine-tuning data: rows read, validated and normalised to messages, with an optional system prompt.

## Text or conversations (deepspeed/main)

Data of the quick-start stage: text rows (`{"content": ...}`) or conversations, told apart by the first row.

Text rows train on every token. Conversations (`{"messages": [...]}`, or prompt/completion rows, converted) are
validated as the chat stage validates them and rendered with the dialogue template.

## Rows made straight from api.json entries

Training rows made straight from API docs: every documented example as a code row, and one conversation per
example (the entry's description as the question, the example as the answer).

Small, fixed and offline: for benchmarks and smoke tests of the training stages. The real datasets, with their
dedup, filters and splits, come from `luacoder.data`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from datasets import Dataset

from luacoder.apidocs.schema import ApiEntry
from luacoder.dialogue import FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX, to_messages
from luacoder.files import RowError, read_jsonl

# ---------------------------------------------------------------------------------------------------------------
# Pretraining (deepspeed/pretrain)

IGNORE_INDEX = -100


@dataclass
class PretrainDataArguments:
    train_file: str = field(metadata={"help": "JSON lines with one {'content': lua} per row"})
    test_file: str | None = field(default=None, metadata={"help": "held-out rows for eval loss"})
    content_field: str = "content"
    seq_length: int = field(default=1024, metadata={"help": "tokens per packed row", "range": "[2, inf)"})
    fim_rate: float = field(
        default=0.5, metadata={"help": "share of documents turned into fill-in-the-middle", "range": "[0, 1]"}
    )
    fim_spm_rate: float = field(
        default=0.5, metadata={"help": "share of FIM documents in SPM rather than PSM order", "range": "[0, 1]"}
    )


@dataclass(frozen=True)
class FimIds:
    prefix: int
    middle: int
    suffix: int

    @classmethod
    def from_tokenizer(cls, tokenizer) -> FimIds:
        ids = tokenizer.convert_tokens_to_ids([FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX])
        if any(i is None or i == tokenizer.unk_token_id for i in ids):
            raise ValueError(f"the tokenizer lacks the FIM tokens {FIM_PREFIX}, {FIM_MIDDLE}, {FIM_SUFFIX}")
        return cls(*ids)


def apply_fim(ids: list[int], rng: np.random.Generator, fim: FimIds, fim_rate: float, spm_rate: float) -> list[int]:
    """One document's token ids, rearranged for fill-in-the-middle with probability `fim_rate`."""
    if not ids or rng.random() >= fim_rate:
        return list(ids)
    lo, hi = sorted(rng.integers(0, len(ids) + 1, size=2).tolist())
    prefix, middle, suffix = ids[:lo], ids[lo:hi], ids[hi:]
    if rng.random() < spm_rate:
        return [fim.prefix, fim.suffix, *suffix, fim.middle, *prefix, *middle]
    return [fim.prefix, *prefix, fim.suffix, *suffix, fim.middle, *middle]


def pack(documents: list[list[int]], seq_length: int, eos_id: int, pad_id: int) -> dict[str, list[list[int]]]:
    """Concatenate documents, each followed by EOS, into rows of `seq_length`; pad the last row."""
    stream = [t for doc in documents for t in (*doc, eos_id)]
    rows: dict[str, list[list[int]]] = {"input_ids": [], "labels": [], "attention_mask": []}
    for start in range(0, len(stream), seq_length):
        chunk = stream[start : start + seq_length]
        pad = seq_length - len(chunk)
        rows["input_ids"].append(chunk + [pad_id] * pad)
        rows["labels"].append(chunk + [IGNORE_INDEX] * pad)
        rows["attention_mask"].append([1] * len(chunk) + [0] * pad)
    return rows


def build_pretrain_rows(texts: list[str], tokenizer, args: PretrainDataArguments, seed: int) -> dict[str, list]:
    """Tokenize, apply FIM (seeded per document, so a rerun builds the same rows) and pack."""
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    if args.fim_rate > 0:
        fim = FimIds.from_tokenizer(tokenizer)
        encoded = [
            apply_fim(ids, np.random.default_rng([seed, i]), fim, args.fim_rate, args.fim_spm_rate)
            for i, ids in enumerate(encoded)
        ]
    return pack(encoded, args.seq_length, tokenizer.eos_token_id, tokenizer.pad_token_id)


# ---------------------------------------------------------------------------------------------------------------
# Chat (deepspeed/chat, deepspeed/RL/sft_lora)


@dataclass
class ChatDataArguments:
    train_file: str = field(metadata={"help": "JSON lines of {'messages': [...]} (or prompt/completion) rows"})
    test_file: str | None = field(default=None, metadata={"help": "held-out rows for eval loss"})
    system_prompt: str | None = field(default=None, metadata={"help": "added to rows that have no system turn"})


def load_chat_dataset(path: str, system_prompt: str | None = None) -> Dataset:
    rows = read_jsonl(path)
    return Dataset.from_dict(
        {"messages": [to_messages(row, f"{path} row {i}", system_prompt) for i, row in enumerate(rows, 1)]}
    )


# ---------------------------------------------------------------------------------------------------------------
# Text or conversations (deepspeed/main)


@dataclass
class MainDataArguments:
    train_file: str = field(
        metadata={"help": "JSON lines: text rows (the field named by dataset_text_field) or {'messages': [...]} rows"}
    )
    test_file: str | None = field(default=None, metadata={"help": "held-out rows of the same kind, for eval loss"})
    system_prompt: str | None = field(default=None, metadata={"help": "conversations: added where there is none"})


def is_chat_row(row: dict) -> bool:
    return "messages" in row or ("prompt" in row and "completion" in row)


def load_rows(path: str, text_field: str, system_prompt: str | None = None) -> Dataset:
    """A `messages` dataset when the first row is a conversation, else a `text_field` dataset; every row must be of
    the first row's kind."""
    rows = read_jsonl(path)
    if not rows:
        raise RowError(f"{path}: no rows")
    if is_chat_row(rows[0]):
        return Dataset.from_dict(
            {"messages": [to_messages(row, f"{path} row {i}", system_prompt) for i, row in enumerate(rows, 1)]}
        )
    texts = []
    for i, row in enumerate(rows, 1):
        text = row.get(text_field)
        if not isinstance(text, str) or not text.strip():
            found = "a conversation" if is_chat_row(row) else f"the fields {sorted(row)}"
            raise RowError(
                f"{path} row {i}: expected text in {text_field!r} (dataset_text_field) like the first row, got {found}"
            )
        texts.append(text)
    return Dataset.from_dict({text_field: texts})


# ---------------------------------------------------------------------------------------------------------------
# Rows made straight from api.json entries


def code_rows(entries: Iterable[ApiEntry]) -> list[dict[str, str]]:
    return [{"content": code} for entry in entries for code in entry.examples]


def chat_rows(entries: Iterable[ApiEntry], system_prompt: str | None = None) -> list[dict[str, list]]:
    rows = []
    for entry in entries:
        summary = entry.description.strip().split("\n\n")[0].replace("\n", " ") or entry.signature
        for code in entry.examples:
            messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
            messages += [
                {"role": "user", "content": f"{summary}\nShow how to use `{entry.name}` in Lua."},
                {"role": "assistant", "content": code},
            ]
            rows.append({"messages": messages})
    return rows
