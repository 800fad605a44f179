"""Docs to api.json: read every docs file of the given paths into one validated ApiSet, listing what was left out.

    result = read_docs(["docs/"])                   # any format, no configuration
    result = read_docs(["docs/"], layout="my.yaml")   # an override where the reader cannot guess (layout.py)
    save_api(result.api, "api.json")

Each file is read by its format (formats.py): Markdown, HTML, reStructuredText and plain text through the document
model and the signature-first reader, LuaCATS and LDoc by their own readers, JSON, YAML, XML and Lua-table API
descriptions by their shape (structured.py). JSON docs (api.json, or the older
LuaCoder layout) are read from a `.json` path, or from a folder whose only docs are `.json` files (beside other docs,
a `.json` is a manifest such as LuaLS' config.json). Files named on the command line that cannot be read are errors;
a file inside a folder that cannot be read is a skipped row (one bad file should not stop a thousand-file docs
folder). An entry documented twice keeps its first place; the second is a skipped row.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from luacoder.apidocs.formats import Found, api_docs_name, format_of, read_format, walk
from luacoder.apidocs.layout import Layout, load_layout
from luacoder.apidocs.reading import Rejected, Skipped
from luacoder.apidocs.schema import ApiEntry, ApiError, ApiSet
from luacoder.apidocs.text_files import read_head, read_text

log = logging.getLogger(__name__)


@dataclass
class DocsResult:
    api: ApiSet
    skipped: list[Skipped]
    layouts: dict[str, str]  # file read -> how: its format ("markdown", "html", "json", ...) or the layout's name
    files: int  # files read
    rejected: dict[str, list[Rejected]] = field(default_factory=dict)  # file -> signatures left out, and why
    entries_per_file: dict[str, int] = field(default_factory=dict)


def read_docs(
    paths: list[str | os.PathLike],
    layout: str | os.PathLike | None = None,
    name: str | None = None,
    *,
    progress: bool = False,
) -> DocsResult:
    """Read every API entry of the given files and folders.

    `layout` (a shipped layout's name or a YAML file) overrides where the reader finds entries. Raises ApiError when
    a path does not exist, a named file cannot be read, or nothing at all is found.
    """
    if not paths:
        raise ApiError("no docs given: name at least one file or folder")
    given = load_layout(layout) if layout is not None else None
    entries: list[tuple[ApiEntry, str]] = []  # with the file to name in a skipped row
    result = DocsResult(ApiSet(name=name or _default_name(paths)), [], {}, 0)
    for path in map(Path, paths):
        if not path.exists():
            raise ApiError(f"{path}: no such file or folder")
        if path.is_file():
            found, rows = [Found(path, path.name)], []
        else:
            found, rows = walk(path)
            found = [f for f in found if api_docs_name(f.relative) and (given is None or given.wants(f.relative))]
        result.skipped += rows
        # Structured descriptions first: where a folder describes an API twice (a data file beside annotated stubs of
        # it), the data written to describe the API wins each name both hold, and the other adds the names it lacks.
        keys = [word for words in given.keys.values() for word in words] if given is not None else []
        files = sorted(_formats(found, path.is_file(), keys), key=lambda item: item[1] != "structured")
        if not any(fmt != "json" for _, fmt in files):
            entries += _read_json([f for f, _ in files], path)
            result.layouts.update(dict.fromkeys((str(f.path) for f, _ in files), "json"))
            continue
        _read_files([(f, fmt) for f, fmt in files if fmt != "json"], path.is_file(), given, entries, result, progress)
    kept = _drop_duplicates(entries, result.skipped)
    result.skipped.sort(key=lambda row: (row.file, row.line))  # a report to read file by file
    result.files = len(result.layouts)
    if not kept:
        reasons = "".join(f"\n  {row}" for row in result.skipped[:5])
        looked = [f"\n  {file}: {row}" for file, rows in result.rejected.items() for row in rows][:8]
        explained = "\nlines that looked like signatures, and why each was left out:" + "".join(looked)
        raise ApiError(
            f"no API entries found in {', '.join(map(str, paths))}: {result.files} file(s) read,"
            f" {len(result.skipped)} skipped{reasons}{explained if looked else ''}"
        )
    result.api.entries = kept
    result.api.validate()
    return result


def _formats(found: list[Found], named: bool, keys: list[str]) -> list[tuple[Found, str]]:
    out = []
    for file in found:
        try:
            fmt = format_of(file.path, read_head(file.path), keys)
        except OSError:
            fmt = "text"  # reported by the read below, which names the error
        if fmt is None and named:
            fmt = "text"  # a file named on the command line is read, whatever its name
        if fmt is not None:
            out.append((file, fmt))
    return out


def _read_json(files: list[Found], root: Path) -> list[tuple[ApiEntry, str]]:
    from luacoder.apidocs.json_docs import read_json_file
    from luacoder.apidocs.structured import json_docs_shape

    if not files:
        raise ApiError(f"{root}: no documentation files in this folder")
    base = root if root.is_dir() else root.parent
    entries = []
    for f in files:
        try:
            entries += [(entry, str(f.path)) for entry in read_json_file(f.path, root=base).entries]
        except ApiError as exc:
            if json_docs_shape(read_head(f.path)):
                raise
            raise ApiError(
                f"{exc}\n  {f.path.name} is neither LuaCoder's JSON nor a description whose keys the reader knows;"
                " if it describes an API, a layout's `keys` names them (luacoder/apidocs/layout.py)"
            ) from None
    return entries


def _read_files(files, named: bool, given: Layout | None, entries: list, result: DocsResult, progress: bool) -> None:
    from tqdm import tqdm

    for file, fmt in tqdm(files, desc="reading docs", unit="file", disable=not progress or len(files) < 2):
        report = str(file.path)
        try:
            text = read_text(file.path)
        except ApiError as exc:
            if named:
                raise
            result.skipped.append(Skipped(report, 0, "file", str(exc).removeprefix(f"{report}: ")))
            continue
        reading = read_format(fmt, text, file.relative, report, given)
        result.layouts[report] = given.name if given is not None else fmt
        entries += [(e, report) for e in reading.entries]
        result.skipped += reading.skipped
        result.entries_per_file[report] = len(reading.entries)
        if reading.rejected:
            result.rejected[report] = reading.rejected
        log.info("%s: %s", file.path, reading.summary or f"{len(reading.entries)} entries")
        if not reading.entries:
            why = reading.summary or "no documented callable"
            result.skipped.append(Skipped(report, 1, "file", f"no entry ({fmt}): {why}"))


def _drop_duplicates(entries: list[tuple[ApiEntry, str]], skipped: list[Skipped]) -> list[ApiEntry]:
    first: dict[str, ApiEntry] = {}
    kept = []
    for entry, report_file in entries:
        if entry.name in first:
            other = first[entry.name]
            where = f"{other.source.file}:{other.source.line}" if other.source else "an earlier file"
            line = entry.source.line if entry.source else 0
            skipped.append(
                Skipped(
                    report_file, line, f"entry {entry.name!r}", f"duplicate: {entry.name} is documented at {where}"
                )
            )
            continue
        first[entry.name] = entry
        kept.append(entry)
    return kept


def _default_name(paths: list[str | os.PathLike]) -> str:
    path = Path(paths[0]).resolve()
    return (path.name if path.is_dir() else path.stem) or "api"
