"""Which reader a docs file needs, chosen by its extension and its content, and the walk over a docs folder.

    format_of(Path("manual.html"), head)  # "html"
    format_of(Path("sprite.lua"), head)   # "luacats" (---@param ...), "ldoc" (-- @param, ---@tparam ...) or None

Markdown, HTML, reStructuredText and plain text are parsed into the document model (model.py) and read by the one
signature-first reader (reader.py); LuaCATS and LDoc (annotated Lua source) and JSON docs have readers of their own;
JSON, YAML, XML and Lua-table API descriptions are read by their shape (structured.py), whatever their suffix.
`READERS` names each format's reader as "module:function", loaded on first use.
"""

from __future__ import annotations

import importlib
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from luacoder.apidocs.reading import FileReading, Skipped

MARKDOWN = (".md", ".markdown", ".mdown", ".mkd", ".mdx")
HTML = (".html", ".htm", ".xhtml")
RST = (".rst", ".rest")
TEXT = (".txt",)
LUA = (".lua",)
JSON = (".json",)
DOC_SUFFIXES = MARKDOWN + HTML + RST + TEXT + LUA + JSON
# Files a folder walk passes over (a file named on the command line is always read).
NOT_API_DOCS = ("README*", "LICENSE*", "COPYING*", "CHANGELOG*", "CONTRIBUTING*", "AUTHORS*", "NOTICE*", "CODE_OF*")
# Documents parsed into the model and read by the signature-first reader, and the parser of each.
DOCUMENT_FORMATS = {
    "markdown": "luacoder.apidocs.from_markdown:parse_markdown",
    "html": "luacoder.apidocs.from_html:parse_html",
    "rst": "luacoder.apidocs.from_rst:parse_rst",
    "text": "luacoder.apidocs.from_text:parse_text",
}
# Formats with readers of their own: reader(text, source_file, report_file) -> FileReading.
READERS = {
    "luacats": "luacoder.apidocs.luacats_reader:read_luacats",
    "ldoc": "luacoder.apidocs.ldoc_reader:read_ldoc",
    "structured": "luacoder.apidocs.structured:read_structured",
}
_LUACATS = re.compile(r"^\s*---\s*@(param|return|class|field|overload|meta|alias|enum)\b", re.MULTILINE)
_LDOC = re.compile(
    r"^\s*---?\s*@(t?param|t?return|ret|usage|module|classmod|function|string|int|number|bool|tab|func|array|table)\b",
    re.MULTILINE,
)
_LDOC_TYPED = re.compile(r"^\s*---?\s*@(tparam|treturn|module|submodule|classmod|usage)\b", re.MULTILINE)


def format_of(path: Path, head: str, keys: Iterable[str] = ()) -> str | None:
    """ "markdown", "html", "rst", "text", "luacats", "ldoc", "structured", "json" or None (not documentation this
    reads). `keys`: key words a layout names for structured descriptions (a file that uses them is one)."""
    suffix = path.suffix.lower()
    if suffix in HTML or (not suffix and head.lstrip()[:15].lower().startswith(("<!doctype html", "<html"))):
        return "html"
    if suffix in MARKDOWN:
        return "markdown"
    if suffix in RST:
        return "rst"
    if suffix in TEXT:
        return "text"
    from luacoder.apidocs.structured import looks_structured

    # Any other suffix may hold a structured description (an editor's `.script_api` is YAML); LuaCoder's own JSON
    # and annotated Lua source are not one.
    if looks_structured(path, head, keys):
        return "structured"
    if suffix in JSON:
        return "json"
    if suffix in LUA:
        # LDoc written LuaCATS-style (`---@tparam`) is LDoc: its tags are LDoc's, whatever the dashes.
        if _LDOC_TYPED.search(head):
            return "ldoc"
        if _LUACATS.search(head):
            return "luacats"
        if _LDOC.search(head):
            return "ldoc"
    return None


def read_format(fmt: str, text: str, source_file: str, report_file: str, layout=None) -> FileReading:
    """Read one file's text in its format (`source_file`: its path relative to the docs root)."""
    if fmt == "markdown":  # a large file is read one piece at a time (from_markdown.markdown_documents)
        from luacoder.apidocs.from_markdown import markdown_documents
        from luacoder.apidocs.reader import read_document

        return _merge(
            [read_document(d, report_file, layout) for d in markdown_documents(text, source_file, report_file)]
        )
    if fmt in DOCUMENT_FORMATS:
        from luacoder.apidocs.reader import read_document

        document = _load(DOCUMENT_FORMATS[fmt])(text, source_file, report_file)
        return read_document(document, report_file, layout)
    if fmt == "structured" and layout is not None and layout.keys:
        from luacoder.apidocs.structured import read_structured

        return read_structured(text, source_file, report_file, keys=layout.keys)
    if fmt in READERS:
        return _load(READERS[fmt])(text, source_file, report_file)
    raise ValueError(f"no reader for format {fmt!r}")


def _merge(readings: list[FileReading]) -> FileReading:
    if len(readings) == 1:
        return readings[0]
    merged = FileReading([], [], 0)
    for reading in readings:
        merged.entries += reading.entries
        merged.skipped += reading.skipped
        merged.candidates += reading.candidates
        merged.rejected += reading.rejected
    kept = len(merged.entries)
    merged.summary = f"{kept} entries from {merged.candidates} signature(s) in {len(readings)} pieces"
    return merged


def _load(target: str):
    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)


@dataclass
class Found:
    path: Path
    relative: str  # to the docs root, with forward slashes


def walk(root: Path) -> tuple[list[Found], list[Skipped]]:
    """Every file under a folder, sorted, following linked folders once each; and a row for what is passed over
    that a reader would want to know of: a folder that cannot be read, a link loop, a dangling link, a FIFO, socket or
    device named like a docs file, a folder named like one."""
    files: list[Found] = []
    rows: list[Skipped] = []
    seen: set[tuple[int, int]] = set()
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            info = folder.stat()
        except OSError as exc:
            rows.append(Skipped(str(folder), 0, "folder", f"cannot be read ({exc.strerror}); not read"))
            continue
        if (info.st_dev, info.st_ino) in seen:
            rows.append(Skipped(str(folder), 0, "folder", "a link back to a folder already read; not read again"))
            continue
        seen.add((info.st_dev, info.st_ino))
        try:
            with os.scandir(folder) as listing:
                children = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            rows.append(Skipped(str(folder), 0, "folder", f"cannot be read ({exc.strerror}); its files are not read"))
            continue
        subfolders = []
        for child in children:
            path = Path(child.path)
            docs_named = path.suffix.lower() in DOC_SUFFIXES
            try:
                mode = path.stat().st_mode
            except OSError as exc:
                if docs_named or child.is_symlink():
                    reason = "a link whose target does not exist" if child.is_symlink() else exc.strerror
                    rows.append(Skipped(str(path), 0, "file", f"{reason}; not read"))
                continue
            if stat.S_ISDIR(mode):
                if docs_named:
                    rows.append(Skipped(str(path), 0, "file", "a folder named like a docs file; its files are read"))
                subfolders.append(path)
            elif stat.S_ISREG(mode):
                files.append(Found(path, path.relative_to(root).as_posix()))
            elif docs_named:
                what = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "not a regular file (socket or device)"
                rows.append(Skipped(str(path), 0, "file", f"{what}; not read"))
        pending += reversed(subfolders)
    files.sort(key=lambda f: f.relative)
    return files, rows


def api_docs_name(relative: str) -> bool:
    """Whether a file found in a folder may be API docs (not a README, licence or changelog)."""
    name = relative.rsplit("/", 1)[-1]
    return not any(fnmatchcase(name.upper(), pattern.upper()) for pattern in NOT_API_DOCS)
