"""Training rows made straight from API docs: every documented example as a code row, and one conversation per
example (the entry's description as the question, the example as the answer).

Small, fixed and offline: for benchmarks and smoke tests of the training stages. The real datasets, with their
dedup, filters and splits, come from `luacoder.data`.
"""

from __future__ import annotations

from collections.abc import Iterable

from luacoder.apidocs.schema import ApiEntry


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
