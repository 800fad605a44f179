"""Plain text into the document model: a line at column 0 starts a paragraph, the indented lines under it continue it
(a hanging indent, as `name(args): text` references write), a blank line ends it; a line underlined with `===` or
`---` is a heading."""

from __future__ import annotations

import re

from luacoder.apidocs.inline import Piece
from luacoder.apidocs.model import Block, Builder, Document

_UNDERLINE = re.compile(r"^\s*(=+|-+|~+)\s*$")


def parse_text(text: str, path: str, report_file: str) -> Document:
    document = Document(path, "text")
    builder = Builder(document)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    current: list[str] = []
    start = 0

    def flush() -> None:
        if current:
            body = "\n".join(current)
            pieces = [Piece("text", current[0])] + [
                p for line in current[1:] for p in (Piece("break"), Piece("text", line))
            ]
            builder.add(Block("paragraph", start + 1, text=body, source=body, _pieces=pieces))
            current.clear()

    for number, line in enumerate(lines):
        if not line.strip():
            flush()
            continue
        if _UNDERLINE.match(line) and len(current) == 1 and len(line.strip()) >= len(current[0].strip()) - 2:
            level = 1 if line.strip()[0] == "=" else 2
            builder.add(Block("heading", start + 1, text=current[0].strip(), level=level))
            current.clear()
            continue
        if line[:1].isspace() and current:
            current.append(line.strip())
            continue
        flush()
        current.append(line.strip())
        start = number
    flush()
    return document
