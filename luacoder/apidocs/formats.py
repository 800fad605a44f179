"""Which reader a docs file needs, chosen by its extension and its content, and the files a folder walk must report.

    format_of(Path("manual.html"), head)  # "html"
    format_of(Path("sprite.lua"), head)   # "luacats" (---@param ...) or "ldoc" (-- @param, ---@tparam ...)

Markdown goes through the layouts or the generic Markdown reader (luacoder.apidocs.docs); HTML, reStructuredText,
LuaCATS and LDoc each have a reader module of their own, JSON, YAML, XML and Lua-table API descriptions are read by
their shape (structured), and LuaCoder's own JSON docs keep their reader (json_docs).
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

from luacoder.apidocs.layout_reader import FileReading, Skipped
from luacoder.apidocs.structured import looks_structured, read_structured

MARKDOWN = (".md", ".markdown", ".mdown", ".mkd")
HTML = (".html", ".htm", ".xhtml")
RST = (".rst", ".rest")
LUA = (".lua",)
OTHER_FORMATS = ("html", "rst", "luacats", "ldoc", "structured")
HEAD_BYTES = 65536  # what the content test reads of a file
_LUACATS = re.compile(r"^\s*---\s*@(param|return|class|field|overload|meta|alias|enum)\b", re.MULTILINE)
_LDOC = re.compile(
    r"^\s*---?\s*@(t?param|t?return|ret|usage|module|classmod|function|string|int|number|bool|tab|func|array|table)\b",
    re.MULTILINE,
)
_LDOC_TYPED = re.compile(r"^\s*---?\s*@(tparam|treturn|module|submodule|classmod|usage)\b", re.MULTILINE)


def format_of(path: Path, head: str) -> str | None:
    """ "html", "rst", "luacats", "ldoc", "markdown", "structured" or None (not documentation this reads)."""
    suffix = path.suffix.lower()
    if suffix in HTML or (not suffix and head.lstrip()[:15].lower().startswith(("<!doctype html", "<html"))):
        return "html"
    if suffix in RST:
        return "rst"
    if suffix in LUA:
        if looks_structured(path, head):  # a data table, whatever its descriptions quote
            return "structured"
        # LDoc written LuaCATS-style (`---@tparam`) is LDoc: its tags are LDoc's, whatever the dashes.
        if _LDOC_TYPED.search(head):
            return "ldoc"
        if _LUACATS.search(head):
            return "luacats"
        if _LDOC.search(head):
            return "ldoc"
        return None
    if suffix in MARKDOWN:
        return "markdown"
    return "structured" if looks_structured(path, head) else None


def read_head(path: Path) -> str:
    with open(path, "rb") as handle:
        return handle.read(HEAD_BYTES).decode("utf-8", errors="replace")


def read_format(fmt: str, text: str, source_file: str, report_file: str) -> FileReading:
    """Read one file of an other-than-Markdown format."""
    if fmt == "html":
        from luacoder.apidocs.html_reader import read_html

        return read_html(text, source_file, report_file)
    if fmt == "rst":
        from luacoder.apidocs.rst_reader import read_rst

        return read_rst(text, source_file, report_file)
    if fmt == "luacats":
        from luacoder.apidocs.luacats_reader import read_luacats

        return read_luacats(text, source_file, report_file)
    if fmt == "ldoc":
        from luacoder.apidocs.ldoc_reader import read_ldoc

        return read_ldoc(text, source_file, report_file)
    if fmt == "structured":
        return read_structured(text, source_file, report_file)
    raise ValueError(f"no reader for format {fmt!r}")


def other_format_files(path: Path) -> list[tuple[Path, str]]:
    """(file, format) of every HTML, reStructuredText, LuaCATS, LDoc or structured API description file a path
    holds, sorted. Any suffix may be a structured description (Defold's `.script_api` is YAML): all but Markdown's
    are looked at."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if _regular(p))
    out = []
    for file in files:
        if file.suffix.lower() in MARKDOWN:
            continue
        try:
            fmt = format_of(file, read_head(file))
        except OSError:
            continue  # reported by the caller's read, which names the error
        if fmt in OTHER_FORMATS:
            out.append((file, fmt))
    return out


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def odd_paths(root: Path, suffixes: tuple[str, ...]) -> list[Skipped]:
    """Rows for what a folder walk would pass over in silence: a FIFO, socket or device named like a docs file, a
    link whose target is missing, a folder named `*.md`."""
    rows = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in suffixes:
            continue
        try:
            mode = path.lstat().st_mode
        except OSError as exc:
            rows.append(Skipped(str(path), 0, "file", f"cannot be read ({exc.strerror})"))
            continue
        if stat.S_ISLNK(mode) and not path.exists():
            rows.append(Skipped(str(path), 0, "file", "a link whose target does not exist; not read"))
        elif path.is_dir():
            rows.append(
                Skipped(str(path), 0, "file", "a folder named like a docs file; its files are read, it is not")
            )
        elif stat.S_ISFIFO(mode):
            rows.append(Skipped(str(path), 0, "file", "a FIFO (named pipe), not a file; not read"))
        elif not stat.S_ISREG(path.stat().st_mode):
            rows.append(Skipped(str(path), 0, "file", "not a regular file (socket or device); not read"))
    return rows
