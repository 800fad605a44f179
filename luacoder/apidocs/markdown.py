"""Read Markdown API docs written to LuaCoder's own convention (data/docs/README.md), strictly.

One file per module: a level-1 heading names the module, each level-2 heading is an entry's signature, and level-3
headings open its Parameters, Returns, Example(s) and Aliases sections. The signature-first reader (reader.py) reads
them as it reads any docs, except that any problem is an error: the bundled docs, and docs written to the
convention, must be complete. `luacoder.apidocs.read_docs` reads any docs and lists problems instead of raising.
"""

from __future__ import annotations

import os
from pathlib import Path

from luacoder.apidocs.from_markdown import parse_markdown
from luacoder.apidocs.model import Document
from luacoder.apidocs.reader import read_document
from luacoder.apidocs.schema import ApiEntry, ApiError, ApiSet
from luacoder.apidocs.text_files import read_text

MARKDOWN_SUFFIXES = (".md", ".markdown")


def markdown_files(paths: list[str | os.PathLike]) -> list[Path]:
    """Every Markdown file named or found (recursively, sorted) under the given paths."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in MARKDOWN_SUFFIXES and p.name != "README.md")
        elif path.is_file():
            found.append(path)
        else:
            raise ApiError(f"{path}: no such file or folder")
    return found


def read_markdown_docs(paths: list[str | os.PathLike], name: str = "api") -> ApiSet:
    entries: list[ApiEntry] = []
    for path in markdown_files(paths):
        entries += read_markdown_file(path)
    api = ApiSet(name=name, entries=entries)
    api.validate()
    return api


def read_markdown_file(path: str | os.PathLike) -> list[ApiEntry]:
    """The entries of one file; the first problem (a malformed entry, a missing module heading) is an ApiError."""
    path = Path(path)
    document = parse_markdown(read_text(path), path.as_posix(), str(path))
    reading = read_document(document, str(path))
    if reading.skipped:
        first = reading.skipped[0]
        raise ApiError(f"{first.file}:{first.line}: {first.what}: {first.reason}")
    if not reading.entries:
        raise ApiError(f"{path}: no entry ({reading.summary})")
    _check_convention(document, reading.entries, path)
    return reading.entries


def _check_convention(document: Document, entries: list[ApiEntry], path: Path) -> None:
    """The convention's own rules, beyond what any docs need: a level-1 module heading (a code span) before every
    entry, and a Parameters list that names the signature's parameters in order."""
    blocks = document.blocks
    module_line = next(
        (
            b.line
            for b in blocks
            if b.kind == "heading"
            and b.level == 1
            and b.lone_code
            or (b.kind == "heading" and b.level == 1 and b.pieces and b.pieces[0].kind == "code")
        ),
        None,
    )
    for entry in entries:
        line = entry.source.line if entry.source else 0
        if module_line is None or line < module_line:
            raise ApiError(f"{path}:{line}: an entry (level-2 heading) comes before the module's level-1 heading")
    by_line = {e.source.line: e for e in entries if e.source}
    entry, section = None, ""
    listed: dict[int, list[str]] = {}
    for block in blocks:
        if block.kind == "heading" and block.level <= 2:
            entry, section = by_line.get(block.line), ""
        elif block.kind == "heading" and block.level == 3:
            section = block.plain.strip().lower()
        elif entry is not None and section == "parameters" and block.kind == "item" and block.depth == 0:
            code = next((p.text for p in block.pieces if p.kind == "code"), "")
            listed.setdefault(entry.source.line, []).append(code)
    for line, names in listed.items():
        wanted = [p.name for p in by_line[line].params]
        if names != wanted:
            raise ApiError(f"{path}:{line}: the Parameters list {names} does not match the signature {wanted}")
