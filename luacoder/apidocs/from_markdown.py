"""Markdown into the document model, with markdown-it-py (CommonMark and GFM tables).

Front matter (`---` YAML or `+++` TOML, as Hugo and Jekyll write it) is a `front_matter` block; HTML blocks are read
by the HTML parser (an empty `<a id="x"></a>` line names the block after it); a paragraph whose second line starts
with `: ` is a definition (pandoc, PHP Markdown Extra): a term and its body. Inline elements are parsed only when the
reader first looks at a block, so that description paragraphs cost no inline parse.

A large file is read as several documents, cut before a heading outside any code fence that is as high as any
before it: it closes every section above it, so no entry spans two documents, and memory stays in proportion to one
piece, not to the whole file.
"""

from __future__ import annotations

import re
from functools import partial

import tomllib
import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from luacoder.apidocs.fence_check import fence_problems
from luacoder.apidocs.inline import Piece, inline_pieces, plain_text
from luacoder.apidocs.model import Block, Builder, Document
from luacoder.apidocs.reading import Skipped

_BLOCKS = MarkdownIt("commonmark").enable("table").disable(["inline", "text_join"])
PIECE_CHARS = 128 * 1024  # a large file is read this much at a time
_ATX = re.compile(r"^(#{1,6})(?:[ \t]|$)")
_SETEXT = re.compile(r"^ {0,3}(?:=+|-+)\s*$")
# What makes inline markup (code, emphasis, links, HTML, entities, escapes); `_` only where it can open or close
# emphasis (`get_x` is a name, _EMPHASIS_UNDERSCORE); `[ ]` only as links (`f(s [, i])` is text).
_MARKUP = re.compile(r"[`*<&\\]|\][(\[]|!\[")
# Inline markup other than single-backtick code spans: emphasis, links, HTML, entities, escapes, longer backtick runs.
_INLINE_MARKUP = re.compile(r"[*<&\\]|\][(\[]|!\[|``")
# Kept apart from the two above, whose plain alternatives the regex engine scans for fast.
_EMPHASIS_UNDERSCORE = re.compile(r"(?:^|[\s(\[{`\"'])_|_(?:$|[\s)\]},.;:!?`\"'])")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_EMPTY_ANCHOR = re.compile(r"^\s*<a\s+(?:id|name)\s*=\s*[\"']([^\"']+)[\"']\s*/?>\s*(?:</a>)?\s*$", re.IGNORECASE)


def parse_markdown(text: str, path: str, report_file: str) -> Document:
    """The whole file as one document."""
    documents = list(markdown_documents(text, path, report_file, piece_chars=None))
    return documents[0]


def markdown_documents(text: str, path: str, report_file: str, piece_chars: int | None = PIECE_CHARS):
    """The file as documents of about `piece_chars` each (None: one), cut before a heading as high as any before
    it, so that no section spans two documents (the front matter, if any, begins each one)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    front = Document(path, "markdown")
    first_line = _front_matter(text, Builder(front), report_file)
    for start, end in _pieces(lines, first_line, piece_chars):
        document = Document(path, "markdown", problems=list(front.problems) if start == first_line else [])
        builder = Builder(document)
        for block in front.blocks:
            builder.add(Block(block.kind, block.line, options=block.options))
        chunk = "\n".join(lines[start:end])
        env: dict = {}
        tokens = _BLOCKS.parse(chunk, env)
        for row in fence_problems(chunk, tokens, report_file):
            row.line += start
            document.problems.append(row)
        _Converter(builder, env, start, report_file).run(tokens)
        del tokens
        yield document


def _front_matter(text: str, builder: Builder, report_file: str) -> int:
    """Add the front matter block, if any; the index of the first line after it."""
    for fence, load in (("---", yaml.safe_load), ("+++", tomllib.loads)):
        if not text.startswith(fence + "\n"):
            continue
        end = text.find(f"\n{fence}\n", len(fence))
        if end < 0 and text.endswith(f"\n{fence}"):
            end = len(text) - len(fence) - 1
        if end < 0:
            return 0
        try:
            data = load(text[len(fence) + 1 : end])
        except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
            builder.document.problems.append(
                Skipped(report_file, 1, "front matter", f"cannot be read, the page is read without it: {exc}")
            )
            data = None
        options = (
            {str(k): str(v) for k, v in data.items() if not isinstance(v, dict | list)}
            if isinstance(data, dict)
            else {}
        )
        builder.add(Block("front_matter", 1, options=options))
        return text.count("\n", 0, end) + 2
    return 0


def _pieces(lines: list[str], first: int, piece_chars: int | None):
    """(start, end) line ranges of about `piece_chars` each, cut before an ATX heading outside any fence whose level
    is no deeper than any heading before it (it closes every section open above it)."""
    start, size, fence, highest = first, 0, "", 7
    for i in range(first, len(lines)):
        line = lines[i]
        match = _FENCE.match(line)
        if fence:
            closing = match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence)
            if closing and not match.group(2).strip():
                fence = ""
        elif match and not (match.group(1)[0] == "`" and "`" in match.group(2)):
            fence = match.group(1)
        else:
            atx = _ATX.match(line)
            level = len(atx.group(1)) if atx else 0
            if not level and i and lines[i - 1].strip() and _SETEXT.match(line):
                level = 1 if line.lstrip().startswith("=") else 2
            if piece_chars and level and level <= highest and size >= piece_chars and atx:
                yield start, i
                start, size = i, 0
            highest = min(highest, level or 7)
        size += len(line) + 1
    yield start, len(lines)


class _Converter:
    """markdown-it's block tokens to blocks."""

    def __init__(self, builder: Builder, env: dict, line_offset: int, report_file: str):
        self.builder, self.env, self.offset, self.report_file = builder, env, line_offset, report_file
        self.lists: list[str] = []  # "ordered" or "" for each list open around the tokens

    def line(self, token: Token) -> int:
        return (token.map[0] if token.map else 0) + 1 + self.offset

    def inline_block(self, kind: str, token: Token, inline: Token, **extra) -> Block:
        content = inline.content
        return Block(
            kind,
            self.line(token),
            text=content,
            source=content,
            _parse=partial(_pieces_of, content, self.env),
            **extra,
        )

    def run(self, tokens: list[Token]) -> None:
        b = self.builder
        i = 0
        while i < len(tokens):
            token = tokens[i]
            kind = token.type
            if kind == "heading_open":
                block = self.inline_block("heading", token, tokens[i + 1], level=int(token.tag[1:]))
                if _has(_MARKUP, block.source):
                    block.text = plain_text(block.pieces)
                else:  # plain text needs no inline parse
                    block.text = " ".join(block.source.split())
                    block._pieces, block._parse = [Piece("text", block.text)], None
                b.add(block)
                i += 3
                continue
            if kind == "paragraph_open":
                self.paragraph(token, tokens[i + 1])
                i += 3
                continue
            if kind in ("bullet_list_open", "ordered_list_open"):
                self.lists.append("ordered" if kind == "ordered_list_open" else "")
            elif kind in ("bullet_list_close", "ordered_list_close"):
                self.lists.pop()
            if kind == "list_item_open":
                first = tokens[i + 1] if i + 1 < len(tokens) else None
                if first is not None and first.type == "paragraph_open":
                    item = self.inline_block("item", token, tokens[i + 2])
                    i += 4
                else:
                    item = Block("item", self.line(token))
                    i += 1
                item.info = self.lists[-1] if self.lists else ""
                b.enter(b.add(item))
                continue
            if kind in ("list_item_close", "blockquote_close"):
                b.leave()
            elif kind == "blockquote_open":
                b.enter(b.add(Block("quote", self.line(token))))
            elif kind in ("fence", "code_block"):
                info = token.info.strip() if kind == "fence" else ""
                words = info.split()
                b.add(
                    Block(
                        "code",
                        self.line(token),
                        text=token.content,
                        language=words[0].lower() if words else "",
                        info=info,
                        source=f"```{info}\n{token.content}```",
                    )
                )
            elif kind == "table_open":
                i = self.table(tokens, i)
                continue
            elif kind == "html_block":
                self.html(token)
            i += 1

    def paragraph(self, token: Token, inline: Token) -> None:
        content = inline.content
        lines = content.split("\n")
        if len(lines) >= 2 and lines[1].lstrip().startswith(": "):  # Term / : definition
            b = self.builder
            term = Block(
                "term",
                self.line(token),
                text=lines[0],
                source=lines[0],
                _parse=partial(_pieces_of, lines[0], self.env),
            )
            b.enter(b.add(term))
            body = " ".join(line.strip().removeprefix(": ") for line in lines[1:])
            b.add(
                Block(
                    "paragraph",
                    self.line(token) + 1,
                    text=body,
                    source=body,
                    _parse=partial(_pieces_of, body, self.env),
                )
            )
            b.leave()
            return
        self.builder.add(self.inline_block("paragraph", token, inline))

    def table(self, tokens: list[Token], i: int) -> int:
        headers: list[str] = []
        in_head = False
        row: list[Token] = []
        row_token = tokens[i]
        while i < len(tokens) and tokens[i].type != "table_close":
            token = tokens[i]
            if token.type == "thead_open":
                in_head = True
            elif token.type == "thead_close":
                in_head = False
            elif token.type == "tr_open":
                row, row_token = [], token
            elif token.type == "inline":
                row.append(token)
            elif token.type == "tr_close":
                if in_head:
                    headers = [plain_text(_pieces_of(cell.content, self.env)) for cell in row]
                elif row:
                    cells = [cell.content for cell in row]
                    self.builder.add(
                        Block(
                            "row",
                            self.line(row_token),
                            text=cells[0],
                            source=" | ".join(cells),
                            cells=cells,
                            headers=headers,
                            _parse=partial(_pieces_of, cells[0], self.env),
                        )
                    )
            i += 1
        return i + 1

    def html(self, token: Token) -> None:
        anchor = _EMPTY_ANCHOR.match(token.content)
        if anchor:
            self.builder.anchor = anchor.group(1)
            return
        from luacoder.apidocs.from_html import add_fragment

        add_fragment(token.content, self.builder, self.line(token) - 1, self.report_file)


def _has(markup: re.Pattern, text: str) -> bool:
    return markup.search(text) is not None or ("_" in text and _EMPHASIS_UNDERSCORE.search(text) is not None)


def _pieces_of(content: str, env: dict) -> list[Piece]:
    """The inline elements of Markdown text; text whose only markup is single-backtick code spans is split here,
    as CommonMark reads it, without the inline parser (most items and paragraphs of API docs are such text)."""
    if _has(_INLINE_MARKUP, content) or content.count("`") % 2 or ("[" in content and env.get("references")):
        return inline_pieces(content, env)
    out: list[Piece] = []
    for n, part in enumerate(content.split("`")):
        if n % 2:
            code = part.replace("\n", " ")
            if len(code) > 2 and code.startswith(" ") and code.endswith(" ") and code.strip():
                code = code[1:-1]
            out.append(Piece("code", code))
            continue
        lines = part.split("\n")
        for k, line in enumerate(lines):
            if k:
                out.append(Piece("break"))
            # A line break drops the spaces around it, as markdown-it's softbreak does.
            line = line.lstrip(" ") if k else line
            line = line.rstrip(" ") if k < len(lines) - 1 else line
            if line:
                out.append(Piece("text", line))
    return out
