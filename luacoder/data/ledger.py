"""What happened to every candidate row of a dataset: how many were read per source, which filter removed how many
and why, how many were kept per split. The dataset card prints it and refuses to exist when the counts do not add
up (read = removed + kept); the removed rows go to `rejects.jsonl` with their reason.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from luacoder.files import write_jsonl

EXCERPT_CHARS = 300


class CountMismatch(AssertionError):
    """The counts of a dataset do not add up: a bug in a builder, never bad input."""


@dataclass
class Ledger:
    name: str
    filters: list[str] = field(default_factory=list)  # in the order they run, for the card
    read: Counter = field(default_factory=Counter)  # source -> rows read
    removed: dict[str, Counter] = field(default_factory=dict)  # filter -> source -> rows removed
    kept: dict[str, Counter] = field(default_factory=dict)  # split -> source -> rows kept
    notes: dict[str, Any] = field(default_factory=dict)  # counts that are not removals (exempt from execution...)
    rejects: list[dict[str, Any]] = field(default_factory=list)

    def add_filter(self, name: str) -> None:
        if name not in self.filters:
            self.filters.append(name)
            self.removed.setdefault(name, Counter())

    def count_read(self, source: str, n: int = 1) -> None:
        self.read[source] += n

    def reject(self, filter_name: str, source: str, reason: str, content: Any = None, **where: Any) -> None:
        self.add_filter(filter_name)
        self.removed[filter_name][source] += 1
        row: dict[str, Any] = {"source": source, "filter": filter_name, "reason": reason, **where}
        if content is not None:
            text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
            row["excerpt"] = text[:EXCERPT_CHARS]
        self.rejects.append(row)

    def keep(self, split: str, source: str, n: int = 1) -> None:
        self.kept.setdefault(split, Counter())[source] += n

    # -- totals ----------------------------------------------------------------------------------------------------

    @property
    def total_read(self) -> int:
        return sum(self.read.values())

    @property
    def total_removed(self) -> int:
        return sum(sum(c.values()) for c in self.removed.values())

    def total_kept(self, split: str | None = None) -> int:
        if split is not None:
            return sum(self.kept.get(split, Counter()).values())
        return sum(sum(c.values()) for c in self.kept.values())

    def check(self) -> None:
        """read = removed + kept, overall and per source."""
        sources = set(self.read) | {s for c in self.removed.values() for s in c}
        for source in sources | {s for c in self.kept.values() for s in c}:
            removed = sum(c[source] for c in self.removed.values())
            kept = sum(c[source] for c in self.kept.values())
            if self.read[source] != removed + kept:
                raise CountMismatch(
                    f"{self.name}: source {source!r}: read {self.read[source]} != removed {removed} + kept {kept}"
                )

    def table(self) -> list[dict[str, Any]]:
        """One row per source: read, removed by each filter, kept per split (for pandas and the card)."""
        splits = sorted(self.kept)
        rows = []
        for source in sorted(self.read):
            row: dict[str, Any] = {"source": source, "read": self.read[source]}
            for f in self.filters:
                row[f] = self.removed[f][source]
            for s in splits:
                row[s] = self.kept[s][source]
            rows.append(row)
        total: dict[str, Any] = {"source": "total", "read": self.total_read}
        for f in self.filters:
            total[f] = sum(self.removed[f].values())
        for s in splits:
            total[s] = self.total_kept(s)
        rows.append(total)
        return rows

    def reasons(self) -> list[dict[str, Any]]:
        """Removals grouped by filter and reason, most frequent first."""
        counts = Counter((r["filter"], r["reason"]) for r in self.rejects)
        return [{"filter": f, "reason": reason, "rows": n} for (f, reason), n in counts.most_common()]

    def write_rejects(self, path: str | os.PathLike) -> None:
        write_jsonl(path, self.rejects)
