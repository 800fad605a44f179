"""Read Markdown API docs written to LuaCoder's own convention (data/docs/README.md), strictly.

One file per module: a level-1 heading names the module, each level-2 heading is an entry's signature, and level-3
headings open its Parameters, Returns, Example(s) and Aliases sections. This is the shipped `lua54` layout
(luacoder/apidocs/layouts/lua54.yaml) read by the generic layout reader, except that any problem is an error: the
bundled docs, and docs written to the convention, must be complete. `luacoder.apidocs.read_docs` reads any layout
and lists problems instead of raising.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from luacoder.apidocs.layout import Layout, load_layout
from luacoder.apidocs.layout_reader import parse_markdown, read_tokens
from luacoder.apidocs.schema import ApiEntry, ApiError, ApiSet

MARKDOWN_SUFFIXES = (".md", ".markdown")
NEEDS_HOST = "needs-host"
CONVENTION = "lua54"


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
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ApiError(f"{path}: cannot read ({exc.strerror})") from None
    reading = read_tokens(parse_markdown(text), _convention(), source_file=path.as_posix())
    if reading.skipped:
        first = reading.skipped[0]
        raise ApiError(f"{first.file}:{first.line}: {first.reason}")
    return reading.entries


@lru_cache(maxsize=1)
def _convention() -> Layout:
    return load_layout(CONVENTION)
