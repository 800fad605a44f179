"""HTML into the document model, with lxml: any element, at any depth, walked without recursion.

`<h1>`-`<h6>` are headings, `<p>` paragraphs, `<pre>` code, `<li>` items, `<tr>` rows (`<th>` rows give the column
headers), `<dt>` terms whose `<dd>` blocks are their children, `<blockquote>` quotes; text that sits directly in any
other element (`<div>`, `<td>` of a layout table, `<body>`) is a paragraph of its own between the blocks around it.
`<script>`, `<style>`, `<template>`, `<noscript>`, `<nav>` and the `<head>` are dropped. Inline `<code>`, `<tt>`,
`<kbd>`, `<samp>` are code; `<strong>`, `<b>` strong; `<em>`, `<i>`, `<var>` emphasis; `<a href>` links. A block's
classes are its element's and those of the inline elements in it; its anchor the `id`/`name` on it, on an anchor
inside it, or on an empty anchor just before it.

libxml2 refuses documents nested deeper than its limit (2048 levels with `huge_tree`): such a file is read again with
its pure container and styling elements (`<div>`, `<span>`, `<font>`, ...) taken out, which keeps every block, and a
row says so.
"""

from __future__ import annotations

import re

import lxml.html
from lxml import etree

from luacoder.apidocs.inline import Piece, plain_text
from luacoder.apidocs.model import Block, Builder, Document
from luacoder.apidocs.reading import Skipped

HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
DROPPED = {"script", "style", "template", "noscript", "nav", "head", "svg", "math", "iframe", "object"}
LEAVES = set(HEADINGS) | {"p", "dt", "caption", "summary", "figcaption"}
CODE = {"code", "tt", "kbd", "samp"}
STRONG = {"strong", "b"}
EM = {"em", "i", "var", "cite"}
INLINE = CODE | STRONG | EM | {
    "a", "abbr", "bdi", "bdo", "data", "dfn", "font", "mark", "q", "s", "small", "span", "sub", "sup", "time", "u",
    "del", "ins", "strike", "big", "label", "img", "wbr", "nobr",
}  # fmt: skip
COLLECTING = ("leaf", "cell", "container", "item", "quote", "dd")
FLATTENED = re.compile(r"</?(?:div|span|font|section|article|center|b|i|u|small|big|nobr)\b[^>]*>", re.IGNORECASE)


def parse_html(text: str, path: str, report_file: str) -> Document:
    document = Document(path, "html")
    add_fragment(text, Builder(document), 0, report_file, whole=True)
    return document


def add_fragment(text: str, builder: Builder, line_offset: int, report_file: str, whole: bool = False) -> None:
    """Add the blocks of an HTML document (or of an HTML block inside Markdown) to a document being built."""
    if not text.strip():
        return
    root, problem = _parse(text, whole)
    if problem:
        builder.document.problems.append(Skipped(report_file, 1, "file", problem))
    if root is None:
        return
    _Walker(builder, line_offset).walk(root)


def _parse(text: str, whole: bool):
    """(root element or None, a problem to report or "")."""
    parser = lxml.html.HTMLParser(huge_tree=True, remove_comments=True, remove_pis=True)
    try:
        root = lxml.html.document_fromstring(text, parser=parser) if whole else _fragment(text, parser)
    except (etree.ParserError, ValueError) as exc:
        return None, f"cannot be parsed as HTML: {exc}"
    deep = next((e for e in parser.error_log if "depth" in e.message.lower()), None)
    if deep is None:
        return root, ""
    flat = FLATTENED.sub("", text)
    parser = lxml.html.HTMLParser(huge_tree=True, remove_comments=True, remove_pis=True)
    root = lxml.html.document_fromstring(flat, parser=parser) if whole else _fragment(flat, parser)
    still = next((e for e in parser.error_log if "depth" in e.message.lower()), None)
    if still is not None:
        return root, (
            f"nested deeper than the HTML parser reads ({deep.message.strip()}), even with its <div>, <span> and"
            f" styling elements taken out: what follows line {still.line} is not read"
        )
    return root, (
        f"nested deeper than the HTML parser reads at line {deep.line} ({deep.message.strip()}): read again with its"
        " <div>, <span> and styling elements taken out (every heading, paragraph, list, table and code block kept)"
    )


def _fragment(text: str, parser):
    return lxml.html.fragment_fromstring(text, create_parent="div", parser=parser)


class _Frame:
    __slots__ = ("role", "element", "pieces", "classes", "anchor", "index", "cells", "headers", "first_run", "code")

    def __init__(self, role: str, element, index: int = -1):
        self.role = role  # dropped, pre, leaf, inline, code, container, item, row, cell, table
        self.element = element
        self.pieces: list[Piece] = []
        self.classes: list[str] = []
        self.anchor = ""
        self.index = index  # the block this frame opened (item, term's dd, quote), for `leave`
        self.cells: list[tuple[str, list[Piece], bool]] = []  # row: (text, pieces, is a header cell)
        self.headers: list[str] = []  # table
        self.first_run = role == "item"  # an item's first run of text is the item's own text
        self.code: list[str] = []


class _Walker:
    def __init__(self, builder: Builder, line_offset: int):
        self.builder, self.offset = builder, line_offset
        self.frames: list[_Frame] = []
        self.last_term = -1

    def line(self, element) -> int:
        return (element.sourceline or 1) + self.offset

    def collector(self) -> _Frame:
        """The frame whose text the inline content goes to: the nearest leaf, cell or container."""
        return next(frame for frame in reversed(self.frames) if frame.role in COLLECTING)

    def walk(self, root) -> None:
        for event, element in etree.iterwalk(root, events=("start", "end")):
            if not isinstance(element.tag, str):
                if event == "end" and self.frames and element.tail:
                    self.text(element.tail)
                continue
            if event == "start":
                self.start(element)
            else:
                self.end(element)
                if element is not root and element.tail and self.frames:
                    self.text(element.tail)

    def text(self, text: str) -> None:
        target = None
        for frame in reversed(self.frames):
            if frame.role in ("dropped", "pre"):
                return
            if frame.role == "code":
                frame.code.append(text)
                return
            if frame.role in COLLECTING:
                target = frame
                break
        if target is None or (
            target.role in ("container", "item", "quote", "dd") and not target.pieces and not text.strip()
        ):
            return
        if target.pieces and target.pieces[-1].kind == "text":
            target.pieces[-1] = Piece("text", target.pieces[-1].text + text)
        else:
            target.pieces.append(Piece("text", text))

    def start(self, element) -> None:
        tag = element.tag.lower() if isinstance(element.tag, str) else ""
        top = self.frames[-1] if self.frames else None
        if top is not None and top.role in ("dropped", "pre"):
            self.frames.append(_Frame("dropped", element))
            return
        if tag in DROPPED:
            self.frames.append(_Frame("dropped", element))
            return
        if any(f.role == "code" for f in self.frames):  # markup inside code is part of the code
            self.frames.append(_Frame("plain", element))
            if element.text:
                self.text(element.text)
            return
        inside_inline = top is not None and top.role in ("leaf", "cell", "inline")
        if inside_inline or tag in INLINE or tag == "br":
            self.inline_start(element, tag)
            return
        self.flush()
        if tag == "pre":
            self.frames.append(_Frame("pre", element))
        elif tag in LEAVES:
            frame = _Frame("leaf", element)
            self.mark(frame, element)
            self.frames.append(frame)
            if element.text:
                self.text(element.text)
        elif tag == "li":
            index = self.builder.add(Block("item", self.line(element)))
            self.builder.enter(index)
            frame = _Frame("item", element, index)
            self.mark(frame, element)
            self.frames.append(frame)
            if element.text:
                self.text(element.text)
        elif tag == "dd":
            entered = self.last_term >= 0
            if entered:
                self.builder.enter(self.last_term)
            frame = _Frame("dd", element, self.last_term if entered else -1)
            self.frames.append(frame)
            if element.text:
                self.text(element.text)
        elif tag == "blockquote":
            index = self.builder.add(Block("quote", self.line(element)))
            self.builder.enter(index)
            self.frames.append(_Frame("quote", element, index))
            if element.text:
                self.text(element.text)
        elif tag == "table":
            self.frames.append(_Frame("table", element))
        elif tag == "tr":
            self.frames.append(_Frame("row", element))
        elif tag in ("td", "th") and top is not None and top.role == "row":
            frame = _Frame("cell", element)
            self.mark(frame, element)
            self.frames.append(frame)
            if element.text:
                self.text(element.text)
        else:
            frame = _Frame("container", element)
            if element.get("id") or element.get("name"):
                self.builder.anchor = element.get("id") or element.get("name")
            self.frames.append(frame)
            if element.text:
                self.text(element.text)

    def mark(self, frame: _Frame, element) -> None:
        frame.classes += (element.get("class") or "").split()
        frame.anchor = frame.anchor or element.get("id") or element.get("name") or ""

    def inline_start(self, element, tag: str) -> None:
        target = self.collector()
        if tag == "br":
            target.pieces.append(Piece("break"))
            self.frames.append(_Frame("inline", element))
            return
        target.classes += (element.get("class") or "").split()
        anchor = element.get("id") or element.get("name") or ""
        if tag == "a" and anchor and target.role in ("leaf", "cell", "item"):
            target.anchor = target.anchor or anchor
        elif (
            tag == "a" and anchor and not element.get("href") and not (element.text or "").strip() and not len(element)
        ):
            self.builder.anchor = anchor  # an empty anchor names the block after it
        if tag in CODE:
            frame = _Frame("code", element)
            self.frames.append(frame)
            if element.text:
                frame.code.append(element.text)
            return
        frame = _Frame("inline", element)
        self.frames.append(frame)
        if tag in STRONG:
            target.pieces.append(Piece("strong_open"))
        elif tag in EM:
            target.pieces.append(Piece("em_open"))
        elif tag == "a" and element.get("href"):
            target.pieces.append(Piece("link_open", href=element.get("href")))
        elif tag == "img" and element.get("alt"):
            target.pieces.append(Piece("text", element.get("alt")))
        if element.text:
            self.text(element.text)

    def end(self, element) -> None:
        frame = self.frames.pop()
        tag = element.tag.lower()
        role = frame.role
        if role in ("dropped", "plain"):
            return
        if role == "code":
            code = " ".join("".join(frame.code).split())
            if code:
                self.collector().pieces.append(Piece("code", code))
            return
        if role == "inline":
            if not self.frames:
                return
            target = self.collector()
            if tag in STRONG:
                target.pieces.append(Piece("strong_close"))
            elif tag in EM:
                target.pieces.append(Piece("em_close"))
            elif tag == "a" and element.get("href"):
                target.pieces.append(Piece("link_close", href=element.get("href")))
            return
        if role == "pre":
            code = element.text_content()
            classes = (element.get("class") or "").split()
            language = next((c.split("-", 1)[-1] for c in classes if c.startswith(("language-", "lang-"))), "")
            self.builder.add(
                Block("code", self.line(element), text=code.strip("\n") + "\n", language=language.lower())
            )
            return
        if role == "leaf":
            self.leaf(frame, tag)
            return
        if role == "cell":
            row = self.frames[-1]
            row.cells.append((plain_text(frame.pieces), frame.pieces, tag == "th"))
            return
        if role == "row":
            self.row(frame)
            return
        self.flush(frame)
        if role in ("item", "quote") or (role == "dd" and frame.index >= 0):
            self.builder.leave()

    def leaf(self, frame: _Frame, tag: str) -> None:
        pieces = _trim(frame.pieces)
        text = plain_text(pieces)
        if not text:
            if frame.anchor:
                self.builder.anchor = frame.anchor
            return
        kind = "heading" if tag in HEADINGS else "term" if tag == "dt" else "paragraph"
        block = Block(
            kind,
            self.line(frame.element),
            text=text,
            level=HEADINGS.get(tag, 0),
            anchor=frame.anchor,
            classes=tuple(dict.fromkeys(frame.classes)),
            _pieces=pieces,
        )
        index = self.builder.add(block)
        if kind == "term":
            self.last_term = index

    def row(self, frame: _Frame) -> None:
        if not frame.cells:
            return
        table = next((f for f in reversed(self.frames) if f.role == "table"), None)
        in_head = any(a.tag == "thead" for a in frame.element.iterancestors("thead", "table"))
        if in_head or all(header for _, _, header in frame.cells):
            if table is not None:
                table.headers = [text for text, _, _ in frame.cells]
            return
        first_text, first_pieces, _ = frame.cells[0]
        self.builder.add(
            Block(
                "row",
                self.line(frame.element),
                text=first_text,
                source=" | ".join(text for text, _, _ in frame.cells),
                cells=[text for text, _, _ in frame.cells],
                headers=list(table.headers) if table is not None else [],
                classes=tuple((frame.element.get("class") or "").split()),
                _pieces=_trim(first_pieces),
            )
        )

    def flush(self, frame: _Frame | None = None) -> None:
        """The text gathered directly in a container becomes a paragraph (an item's first run: the item's text)."""
        frame = frame or (self.frames[-1] if self.frames else None)
        if frame is None or frame.role not in ("container", "item", "quote", "dd") or not frame.pieces:
            return
        pieces, frame.pieces = _trim(frame.pieces), []
        text = plain_text(pieces)
        if not text:
            return
        if frame.first_run:
            item = self.builder.document.blocks[frame.index]
            item.text, item._pieces = text, pieces
            item.classes, item.anchor = tuple(dict.fromkeys(frame.classes)), frame.anchor
            frame.first_run = False
            return
        self.builder.add(Block("paragraph", self.line(frame.element), text=text, _pieces=pieces))


def _trim(pieces: list[Piece]) -> list[Piece]:
    while pieces and pieces[-1].kind == "break":
        pieces = pieces[:-1]
    while pieces and pieces[0].kind == "break":
        pieces = pieces[1:]
    return pieces
