"""Existing conversation data for the chat dataset: JSON lines, JSON, Parquet or a Hugging Face dataset id.

    for item in read_import(ImportConfig(path="alpaca.jsonl", format="alpaca"), config):
        item.messages or item.error

Each row comes back converted to validated messages, or with the reason it cannot be used (malformed JSON, invalid
UTF-8, an unknown role, an empty conversation, missing columns), so that the builder can count it and write it to
the rejects. A source that cannot be read at all (a missing file, no network for a hub id) is an error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from luacoder.data.chat_rows import convert_row
from luacoder.data.config import DataConfig, ImportConfig
from luacoder.data.lua_files import DataError
from luacoder.dialogue import ChatRowError


@dataclass
class ImportedRow:
    where: str  # file:line or hub id and row
    messages: list[dict[str, str]] | None
    error: str | None = None
    raw: Any = None


def read_import(spec: ImportConfig, config: DataConfig) -> Iterator[ImportedRow]:
    count = 0
    for where, row, error in _raw_rows(spec, config):
        if spec.limit is not None and count >= spec.limit:
            return
        count += 1
        if error is not None:
            yield ImportedRow(where, None, error, row)
            continue
        try:
            yield ImportedRow(where, convert_row(row, spec.format, where, config.chat.system_prompt), None, row)
        except ChatRowError as exc:
            yield ImportedRow(where, None, str(exc), row)


def _raw_rows(spec: ImportConfig, config: DataConfig) -> Iterator[tuple[str, Any, str | None]]:
    if spec.hub is not None:
        yield from _hub_rows(spec)
        return
    path = config.path(spec.path or "")
    if not path.is_file():
        raise DataError(f"{path}: no such import file")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        yield from _jsonl_rows(path)
    elif suffix == ".json":
        yield from _json_rows(path)
    elif suffix == ".parquet":
        yield from _parquet_rows(path)
    else:
        raise DataError(f"{path}: unknown import file type {suffix!r}; expected .jsonl, .json or .parquet")


def _jsonl_rows(path: Path) -> Iterator[tuple[str, Any, str | None]]:
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            where = f"{path}:{number}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield where, None, f"{where}: not valid UTF-8 ({exc.reason} at byte {exc.start})"
                continue
            if not line.strip():
                continue
            try:
                yield where, json.loads(line), None
            except json.JSONDecodeError as exc:
                yield where, line.strip()[:200], f"{where}: malformed JSON ({exc.msg})"


def _json_rows(path: Path) -> Iterator[tuple[str, Any, str | None]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}:{exc.colno}: malformed JSON: {exc.msg}") from None
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of rows, got {type(data).__name__}")
    for number, row in enumerate(data):
        yield f"{path}[{number}]", row, None


def _parquet_rows(path: Path) -> Iterator[tuple[str, Any, str | None]]:
    import pyarrow.parquet as pq  # comes with datasets

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None
    for number, row in enumerate(table.to_pylist()):
        yield f"{path} row {number}", row, None


def _hub_rows(spec: ImportConfig) -> Iterator[tuple[str, Any, str | None]]:
    import datasets

    try:
        dataset = datasets.load_dataset(spec.hub, split=spec.split)
    except Exception as exc:  # offline, unknown id, gated dataset: all end here
        raise DataError(f"hub dataset {spec.hub!r} (split {spec.split!r}) cannot be loaded: {exc}") from None
    for number, row in enumerate(dataset):
        yield f"{spec.hub}[{spec.split}] row {number}", row, None
