"""Where the dataset builders' inputs come from: the api.json, your own Lua files, and existing conversation data.

## Imported conversations

Existing conversation data for the chat dataset: JSON lines, JSON, Parquet or a Hugging Face dataset id.

    for item in read_import(ImportConfig(path="alpaca.jsonl", format="alpaca"), config):
        item.messages or item.error

Each row comes back converted to validated messages, or with the reason it cannot be used (malformed JSON, invalid
UTF-8, an unknown role, an empty conversation, missing columns), so that the builder can count it and write it to
the rejects. A source that cannot be read at all (a missing file, no network for a hub id) is an error.

## Conversation layouts of imports

Other conversation layouts, converted for import into the chat dataset (the chat row itself, `to_messages`, is
`luacoder.dialogue`): for imports, `convert_row` also reads Code Alpaca's
instruction/input/output and OpenAssistant-style `### Human:` / `### Assistant:` text. Every row is validated: known
roles, text content, at least one user turn followed by an assistant answer.

## Lua files

Your own Lua code for the code dataset: every `.lua` file under the given folders, read as UTF-8.

## The api.json

The api.json the dataset builders start from: `<output_dir>/api.json`, made from the configured docs if missing.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from luacoder.apidocs.schema import ApiSet, load_api, save_api
from luacoder.data.config import DataConfig, ImportConfig
from luacoder.dialogue import ChatRowError, to_messages
from luacoder.errors import UserError
from luacoder.files import atomic_outputs, finish_interrupted_swaps, write_jsonl

# ---------------------------------------------------------------------------------------------------------------
# Imported conversations


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


# ---------------------------------------------------------------------------------------------------------------
# Conversation layouts of imports

_OASST_ROLES = {"human": "user", "user": "user", "assistant": "assistant", "system": "system"}
# Turns run on in one line in openassistant-guanaco ("### Human: hi### Assistant: hello"), so a marker is found
# anywhere; only the known speakers count, so that a Markdown heading in an answer ("### Example:") is text.
_OASST_MARKER = re.compile(r"###\s*(human|assistant|system|user)\s*:", re.IGNORECASE)
_ANY_MARKER = re.compile(r"^\s*###\s*([A-Za-z]+)\s*:")


def detect_format(row: dict[str, Any]) -> str | None:
    """The layout of a row by its columns, or None when no known layout fits."""
    if "messages" in row:
        return "messages"
    if "prompt" in row and "completion" in row:
        return "prompt_completion"
    if "instruction" in row and "output" in row:
        return "alpaca"
    if "text" in row:
        return "oasst"
    return None


def convert_row(row: dict[str, Any], fmt: str, where: str, system_prompt: str | None = None) -> list[dict[str, str]]:
    """A row in any known layout (`fmt`, or "auto" to detect it) as validated messages."""
    if not isinstance(row, dict):
        raise ChatRowError(f"{where}: expected an object, got {type(row).__name__}")
    # Parquet and hub datasets give every row every column, None where the row has no value.
    row = {k: v for k, v in row.items() if v is not None}
    if fmt == "auto":
        detected = detect_format(row)
        if detected is None:
            raise ChatRowError(
                f"{where}: missing columns: expected 'messages', 'prompt' and 'completion', 'instruction' and"
                f" 'output', or 'text'; the row has {sorted(row)}"
            )
        fmt = detected
    required = {
        "messages": ("messages",),
        "prompt_completion": ("prompt", "completion"),
        "alpaca": ("instruction", "output"),
        "oasst": ("text",),
    }[fmt]
    missing = [c for c in required if c not in row]
    if missing:
        raise ChatRowError(f"{where}: missing column(s) {missing} for the {fmt} layout; the row has {sorted(row)}")
    if fmt == "alpaca":
        row = {"messages": alpaca_messages(row, where)}
    elif fmt == "oasst":
        row = {"messages": oasst_messages(row["text"], where)}
    elif fmt == "prompt_completion":
        row = {"prompt": row["prompt"], "completion": row["completion"]}
    else:
        row = {"messages": row["messages"]}
    return to_messages(row, where, system_prompt)


def alpaca_messages(row: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """Code Alpaca's instruction, optional input and output as one user turn and one answer."""
    instruction, extra, output = row.get("instruction"), row.get("input") or "", row.get("output")
    for key, value in (("instruction", instruction), ("input", extra), ("output", output)):
        if not isinstance(value, str):
            raise ChatRowError(f"{where}: '{key}' must be text, got {type(value).__name__}")
    user = f"{instruction.strip()}\n\n{extra.strip()}" if extra.strip() else instruction
    return [{"role": "user", "content": user}, {"role": "assistant", "content": output}]


def oasst_messages(text: Any, where: str) -> list[dict[str, Any]]:
    """OpenAssistant-style text (`### Human: ... ### Assistant: ...`, as in openassistant-guanaco) as messages."""
    if not isinstance(text, str):
        raise ChatRowError(f"{where}: 'text' must be text, got {type(text).__name__}")
    markers = list(_OASST_MARKER.finditer(text))
    head = text[: markers[0].start()] if markers else text
    if head.strip():
        other = _ANY_MARKER.match(head)
        if other:
            raise ChatRowError(f"{where}: unknown speaker '### {other.group(1)}:'; expected Human or Assistant")
        if not markers:
            raise ChatRowError(f"{where}: no '### Human:' / '### Assistant:' turns in the text")
        raise ChatRowError(f"{where}: text before the first '### Human:' marker")
    messages = []
    for i, marker in enumerate(markers):
        speaker = marker.group(1).lower()
        end = markers[i + 1].start() if i + 1 < len(markers) else len(text)
        messages.append({"role": _OASST_ROLES[speaker], "content": text[marker.end() : end].strip()})
    return messages


# ---------------------------------------------------------------------------------------------------------------
# Lua files


class DataError(UserError, ValueError):
    """Input the dataset builders cannot use at all (a missing folder, an import with no usable column)."""


@dataclass
class LuaFile:
    path: Path
    text: str | None  # None when it could not be read
    error: str | None = None  # why it could not be read: "invalid UTF-8 (...)", "cannot read (...)"


def lua_files(folders: list[str | os.PathLike]) -> Iterator[LuaFile]:
    """Every `.lua` file under each folder (recursively, sorted); a missing folder is an error."""
    for folder in map(Path, folders):
        if folder.is_file() and folder.suffix == ".lua":
            paths = [folder]
        elif folder.is_dir():
            paths = sorted(p for p in folder.rglob("*.lua") if p.is_file())
        else:
            raise DataError(f"{folder}: no such folder of .lua files")
        for path in paths:
            yield read_lua_file(path)


def read_lua_file(path: Path) -> LuaFile:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return LuaFile(path, None, f"cannot read ({exc.strerror or exc})")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return LuaFile(path, None, f"invalid UTF-8 ({exc.reason} at byte {exc.start})")
    if text.startswith("\ufeff"):
        text = text[1:]
    return LuaFile(path, text.replace("\r\n", "\n"))


# ---------------------------------------------------------------------------------------------------------------
# The api.json

log = logging.getLogger(__name__)


def build_api_json(config: DataConfig, output_dir: str | Path | None = None):
    """Read the docs of the config's `docs:` section and write `api.json` and `api.skipped.jsonl` (what was not
    extracted, with file, line and reason) under `output_dir`; returns luacoder.apidocs.DocsResult."""
    from luacoder.apidocs import read_docs  # the docs parsers (markdown-it, lxml, docutils) load on first use

    out = Path(output_dir) if output_dir is not None else config.out
    paths = [config.path(p) for p in config.docs.paths]
    result = read_docs(paths, layout=config.docs.layout, name=config.docs.name, progress=True)
    with atomic_outputs(out, ["api.json", "api.skipped.jsonl"]) as staging:  # never a report beside another api.json
        save_api(result.api, staging / "api.json")
        write_jsonl(staging / "api.skipped.jsonl", (row.to_dict() for row in result.skipped))
    log.info("wrote %s (%d entries, %d skipped)", out / "api.json", len(result.api), len(result.skipped))
    return result


def load_or_build_api(config: DataConfig, output_dir: str | Path | None = None) -> ApiSet:
    """`<output_dir>/api.json` when it exists (data/json.ipynb or `luacoder docs` wrote it); otherwise the configured
    docs are read and api.json is written there first, so that every later stage reads the same file."""
    out = Path(output_dir) if output_dir is not None else config.out
    finish_interrupted_swaps(out)
    path = out / "api.json"
    if path.is_file():
        return load_api(path)
    return build_api_json(config, out).api
