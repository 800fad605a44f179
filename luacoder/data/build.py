"""What the two dataset builders share: the result they return, row filters over a ledger, writing the outputs.

Each build writes all it makes (the dataset folder with its card and rejects; for chat, eval/prompts.csv too) into
one staging folder that replaces the previous outputs together (luacoder.files.atomic_outputs): a build killed at
any point leaves the previous outputs or the new ones, never a mix, and the next build finishes a swap that a kill
interrupted."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from luacoder.apidocs.schema import ApiSet
from luacoder.data.config import DataConfig
from luacoder.data.eval_prompts import EvalPrompt, make_eval_prompts, read_eval_prompts
from luacoder.data.filters import Decontaminator, ExactDuplicates, NearDuplicates, held_out_groups
from luacoder.data.ledger import Ledger
from luacoder.files import write_jsonl, write_text

log = logging.getLogger(__name__)
SPLITS = ("train", "test")


@dataclass
class Row:
    """A candidate row on its way through the filters."""

    data: dict[str, Any]  # what is written: {"content": ...} or {"messages": [...]}
    source: str  # for the counts: "docs example", "stub", "generated: how_task", "import: x.jsonl", ...
    origin: str  # where it comes from, for the rejects: "string.rep example 1", "code/util.lua"
    group: str  # rows of one group land in one split
    text: str  # what dedup and decontamination compare
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class BuildResult:
    kind: str  # "pretrain" or "chat"
    out_dir: Path
    ledger: Ledger
    splits: dict[str, list[dict[str, Any]]]
    tokens: dict[str, int]
    token_method: str
    seconds: float
    # Builder-specific counts and tables; "groups" holds each written row's split group, in row order, by split.
    details: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> list[dict[str, Any]]:
        return self.ledger.table()

    def reasons(self) -> list[dict[str, Any]]:
        return self.ledger.reasons()

    def summary(self) -> dict[str, Any]:
        return {
            "dataset": self.kind,
            "read": self.ledger.total_read,
            "removed": self.ledger.total_removed,
            **{split: len(self.splits[split]) for split in SPLITS},
            **{f"{split} tokens": self.tokens[split] for split in SPLITS},
            "seconds": round(self.seconds, 1),
        }


def eval_prompts_for(api: ApiSet, config: DataConfig) -> list[EvalPrompt]:
    """The generated eval prompts, plus the configured prompts file (whose names must be documented), the shipped
    natural prompt sets (`luacoder.evaluation.prompts.shipped_prompt_sets`: never trained on, whatever the docs), the
    other prompt sets (`decontam_prompts`) and the prompts of the decontamination benchmarks (all after the generated
    ones, which alone are written as eval prompts)."""
    from luacoder.evaluation.prompts import read_prompts, shipped_prompt_sets

    prompts = make_eval_prompts(api, config.chat.eval_prompts, config.seed)
    if config.eval_prompts_file:
        from luacoder.grading.api_index import ApiIndex

        prompts += read_eval_prompts(config.path(config.eval_prompts_file), ApiIndex(api))
    for path in [*shipped_prompt_sets(), *map(config.path, config.decontam_prompts)]:
        prompts += [EvalPrompt(text) for text in read_prompts(path)]
    if config.decontam_benchmarks:
        from luacoder.evaluation.multipl_e import load_problems

        for source in config.decontam_benchmarks:
            prompts += [EvalPrompt(p.prompt) for p in load_problems(config.path(source))]
    return prompts


def drop(
    rows: list[Row],
    ledger: Ledger,
    filter_name: str,
    verdict: Callable[[Row], tuple[str, str] | None],
    desc: str | None = None,
) -> list[Row]:
    """Rows for which `verdict` returns None; the others are removed as (reason, detail) under `filter_name`."""
    ledger.add_filter(filter_name)
    kept = []
    for row in tqdm(rows, desc=desc or filter_name, unit="row", disable=len(rows) < 2000 or None, leave=False):
        found = verdict(row)
        if found is None:
            kept.append(row)
        else:
            reason, detail = found
            ledger.reject(filter_name, row.source, reason, row.text, origin=row.origin, detail=detail)
    log.info("%s: %s removed %d of %d rows", ledger.name, filter_name, len(rows) - len(kept), len(rows))
    return kept


def dedup_exact(rows: list[Row], ledger: Ledger) -> list[Row]:
    seen = ExactDuplicates()

    def verdict(row: Row) -> tuple[str, str] | None:
        first = seen.check(row.origin, row.text)
        return ("exact duplicate", f"same as {first}") if first is not None else None

    return drop(rows, ledger, "exact duplicate", verdict)


def dedup_near(rows: list[Row], ledger: Ledger, threshold: float, num_perm: int, shingle_size: int) -> list[Row]:
    index = NearDuplicates(threshold, num_perm, shingle_size)
    keys = iter(range(len(rows)))
    origins: dict[str, str] = {}

    def verdict(row: Row) -> tuple[str, str] | None:
        key = str(next(keys))
        origins[key] = row.origin
        found = index.check(key, row.text)
        if found is None:
            return None
        return f"near duplicate (Jaccard >= {threshold:g})", f"{found[1]:.2f} similar to {origins[found[0]]}"

    return drop(rows, ledger, "near duplicate", verdict)


def decontaminate(rows: list[Row], ledger: Ledger, prompts: list[EvalPrompt], n: int, field_name: str) -> list[Row]:
    """Remove rows whose `extra[field_name]` (or text) shares an n-gram with an eval prompt."""
    checker = Decontaminator([p.prompt for p in prompts], n=n)

    def verdict(row: Row) -> tuple[str, str] | None:
        found = checker.match(row.extra.get(field_name, row.text))
        if found is None:
            return None
        return f"overlaps an eval prompt ({n}-gram)", f"{found[1]!r} in {found[0]!r}"

    return drop(rows, ledger, "decontamination", verdict)


def split_rows(
    rows: list[Row], ledger: Ledger, seed: int, test_fraction: float, salt: str, test_keys: set[str] | None = None
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[str]]]:
    """Rows by split, and each row's group by split; a row is in test when its group is held out (`test_keys`, or
    drawn here)."""
    if test_keys is None:
        test_keys = held_out_groups((r.group for r in rows), seed, test_fraction, salt)
    out: dict[str, list[dict[str, Any]]] = {split: [] for split in SPLITS}
    groups: dict[str, list[str]] = {split: [] for split in SPLITS}
    for row in rows:
        split = "test" if row.group in test_keys else "train"
        out[split].append(row.data)
        groups[split].append(row.group)
        ledger.keep(split, row.source)
    return out, groups


def write_dataset(
    folder: Path,
    splits: dict[str, list[dict[str, Any]]],
    ledger: Ledger,
    card: str,
    extra_rejects: dict[str, Ledger] | None = None,
) -> None:
    """train.jsonl, test.jsonl, rejects.jsonl, README.md and any other rejects files (name -> ledger) in `folder`
    (a build's staging folder: see the module docstring)."""
    ledger.check()
    for split, rows in splits.items():
        write_jsonl(folder / f"{split}.jsonl", rows)
    ledger.write_rejects(folder / "rejects.jsonl")
    for name, other in (extra_rejects or {}).items():
        other.write_rejects(folder / name)
    write_text(folder / "README.md", card)
