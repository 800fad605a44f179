"""Which documented entries the next synthesis round asks the teacher about, after PriCoder: sample entries, favouring
those the data covers least (and, after an eval, those the model got wrong), then grow into combinations.

    coverage = coverage_of(rows, checker)              # entry -> rows whose answers call it correctly
    report = read_entry_report("eval/chat/entries.csv")   # optional: the last checkpoint's misses per entry
    items = draw_items(api, coverage, report, count=200, sizes=(0.5, 0.3, 0.2), seed=42)

An entry's need is `(1 + misses) / (1 + covered)`: `covered` counts the rows that call it correctly, `misses` what
eval's per-entry table says the best checkpoint hallucinated in its place or never used when it was expected. Each
item draws its first entry by need, then its partners (for items of two or three entries) by need as well, three
times as likely when related to the first (the same module, or taking the type the first returns, or a method of
it). Every draw counts as coverage for the next one, so a round spreads over the API instead of asking the same
entry again. The first `sizes[0]` of the items have one entry, the next `sizes[1]` two, the rest three.
"""

from __future__ import annotations

import csv
import os
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from luacoder.apidocs.schema import VARARG, ApiEntry, ApiSet
from luacoder.data.phrasing import summary
from luacoder.files import RowError
from luacoder.lua.markdown_code import extract_lua_code

CALLABLE = ("function", "method")
REPORT_COLUMNS = ("entry", "expected", "called_correctly", "hallucinated_instead", "never_used")
RELATED_BOOST = 3.0


@dataclass
class EntryReport:
    """One row of eval's `entries.csv`: how the best checkpoint did on a documented entry."""

    expected: int = 0
    called_correctly: int = 0
    hallucinated_instead: int = 0
    never_used: int = 0

    @property
    def misses(self) -> int:
        return self.hallucinated_instead + self.never_used


def read_entry_report(path: str | os.PathLike) -> dict[str, EntryReport]:
    """Eval's per-entry table (columns REPORT_COLUMNS); a missing column or a count that is not a whole number is
    an error naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise RowError(f"{path}: no such file (eval writes entries.csv in its output_dir)")
    out: dict[str, EntryReport] = {}
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REPORT_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise RowError(f"{path}: missing column(s) {missing}; expected {', '.join(REPORT_COLUMNS)}")
        for number, row in enumerate(reader, 2):
            try:
                counts = [int(row[c] or 0) for c in REPORT_COLUMNS[1:]]
            except ValueError:
                raise RowError(f"{path}:{number}: the counts must be whole numbers, got {row}") from None
            out[row["entry"]] = EntryReport(*counts)
    return out


def coverage_of(rows: Iterable[dict[str, Any]], checker) -> Counter:
    """How many chat rows call each entry correctly (documented, fitting arity) in their assistant turns' code."""
    counts: Counter = Counter()
    for row in rows:
        code = "\n".join(
            block
            for m in row.get("messages", [])
            if m["role"] == "assistant"
            for block in extract_lua_code(m["content"])
        )
        if code.strip():
            counts.update(set(checker.api_calls(code)))
    return counts


def entry_card(entry: ApiEntry) -> str:
    """`- `signature`: summary`, the line a prompt shows for one entry."""
    return f"- `{entry.signature or entry.name}`: {summary(entry)}"


def related(a: ApiEntry, b: ApiEntry) -> bool:
    """Same module, or `b` takes (or is a method of) the type `a` returns first."""
    if a.module and a.module == b.module:
        return True
    produced = {t.strip() for t in a.returns[0].type.split("|")} if a.returns else set()
    if b.owner and b.owner in produced or (":" in b.name and b.name.split(":", 1)[0] in produced):
        return True
    first = next((p for p in b.params if p.name != VARARG), None)
    return first is not None and bool(produced & {t.strip() for t in first.type.split("|")} - {"any"})


def sizes_of(count: int, shares: Sequence[float]) -> list[int]:
    """How many entries each of `count` items draws: 1 for the first share, 2 for the next, 3 for the rest."""
    total = sum(shares) or 1.0
    ones = round(count * shares[0] / total) if shares else count
    twos = round(count * shares[1] / total) if len(shares) > 1 else 0
    return [1] * ones + [2] * min(twos, count - ones) + [3] * max(0, count - ones - twos)


def draw_items(
    api: ApiSet,
    coverage: Counter,
    report: dict[str, EntryReport] | None,
    count: int,
    sizes: Sequence[float] = (0.5, 0.3, 0.2),
    seed: int = 0,
) -> list[dict[str, Any]]:
    """`count` items `{"id", "entries", "cards"}` (see the module docstring); the same inputs draw the same items."""
    entries = sorted((e for e in api if e.kind in CALLABLE), key=lambda e: e.name)
    if not entries or count <= 0:
        return []
    report = report or {}
    need = {e.name: (1 + (report[e.name].misses if e.name in report else 0)) for e in entries}
    drawn: Counter = Counter(coverage)
    rng = random.Random(f"{seed}:aim")
    items = []
    for number, size in enumerate(sizes_of(count, sizes)):
        weights = [need[e.name] / (1 + drawn[e.name]) for e in entries]
        first = rng.choices(entries, weights)[0]
        chosen = [first]
        while len(chosen) < min(size, len(entries)):
            pool = [e for e in entries if e not in chosen]
            boost = [RELATED_BOOST if related(first, e) or related(e, first) else 1.0 for e in pool]
            weights = [need[e.name] / (1 + drawn[e.name]) * b for e, b in zip(pool, boost, strict=True)]
            chosen.append(rng.choices(pool, weights)[0])
        drawn.update(e.name for e in chosen)
        names = [e.name for e in chosen]
        items.append(
            {
                "id": f"item{number:05d}:{'+'.join(names)}",
                "entries": names,
                "cards": "\n".join(entry_card(e) for e in chosen),
            }
        )
    return items
