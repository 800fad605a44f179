"""Continued-pretraining data: fill-in-the-middle per document, then packing into fixed-length rows.

FIM follows StarCoder's recipe on token ids: with probability `fim_rate` a document is cut at two random points
into prefix, middle and suffix and rearranged as PSM (`<fim_prefix> pre <fim_suffix> suf <fim_middle> mid`) or,
with probability `fim_spm_rate`, SPM (`<fim_prefix> <fim_suffix> suf <fim_middle> pre mid`). Packing joins
documents with EOS and cuts every `seq_length` tokens; the last row is padded (labels -100), so nothing is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from luacoder.dialogue import FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX

IGNORE_INDEX = -100


@dataclass
class PretrainDataArguments:
    train_file: str = field(metadata={"help": "JSON lines with one {'content': lua} per row"})
    test_file: str | None = field(default=None, metadata={"help": "held-out rows for eval loss"})
    content_field: str = "content"
    seq_length: int = field(default=1024, metadata={"help": "tokens per packed row"})
    fim_rate: float = field(default=0.5, metadata={"help": "share of documents turned into fill-in-the-middle"})
    fim_spm_rate: float = field(default=0.5, metadata={"help": "share of FIM documents in SPM rather than PSM order"})

    def __post_init__(self) -> None:
        for name in ("fim_rate", "fim_spm_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        if self.seq_length < 2:
            raise ValueError(f"seq_length must be at least 2, got {self.seq_length}")


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
