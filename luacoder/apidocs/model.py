"""The document model every docs format is read into: a file is a flat sequence of blocks.

    heading      a title, `level` 1-6                      (# x, <h3>, an underlined reST title)
    paragraph    running text                              (a lone code span, `lone_code`, is one too)
    code         a code block, `language` from its info    (``` fences, <pre>, `::` and code directives)
    item         a list item: its first paragraph; what else it holds are child blocks
    row          a table row: `cells` (text) under `headers` (the column titles); `pieces` are its first cell's
    term         a definition term (<dt>, a reST term or field name); its definition's blocks are its children
    directive    a reST directive: `name`, `text` (its arguments, one signature a line), `options`; body as children
    quote        a block quote; its blocks are its children
    front_matter a page's YAML/TOML front matter: `options`

Every block has its source `line`, the `anchor` id that names it (an `id`/`name` on it or an empty anchor just
before it) and its `classes`; `parent` is the index of the block it sits in (an item, term, directive or quote) and
`depth` how many such blocks it is in. `text` is the visible text (code for a code block), `source` the block as
written where the format has a source worth keeping as description (Markdown), and `pieces` its inline elements
(`luacoder.apidocs.inline.Piece`: text, code, strong, em, links, breaks), the same for every format.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from luacoder.apidocs.inline import Piece, plain_text
from luacoder.apidocs.reading import Skipped

KINDS = ("heading", "paragraph", "code", "item", "row", "term", "directive", "quote", "front_matter")


@dataclass(slots=True, eq=False)
class Block:
    kind: str
    line: int
    text: str = ""
    level: int = 0
    depth: int = 0
    parent: int = -1
    anchor: str = ""
    classes: tuple[str, ...] = ()
    language: str = ""  # code: the first word of its info string; `info` keeps the rest
    info: str = ""  # code: its info string; item: "ordered" in a numbered list
    source: str = ""
    name: str = ""  # directive
    options: dict[str, str] | None = None  # directive options, front matter keys
    cells: list[str] | None = None  # row
    headers: list[str] | None = None  # row
    _pieces: list[Piece] | None = None
    _parse: Callable[[], list[Piece]] | None = None  # inline elements parsed on first use (Markdown)

    @property
    def pieces(self) -> list[Piece]:
        if self._pieces is None:
            self._pieces = self._parse() if self._parse is not None else [Piece("text", self.text)]
            self._parse = None
        return self._pieces

    @property
    def plain(self) -> str:
        """The visible text on one line (inline markup dropped)."""
        if self.kind in ("code", "directive", "front_matter"):
            return " ".join(self.text.split())
        return plain_text(self.pieces)

    @property
    def lone_code(self) -> str | None:
        """The code of a block whose whole text is one code span (`` `f(a)` `` alone in a paragraph), else None."""
        meaningful = [p for p in self.pieces if not (p.kind in ("text", "break") and not p.text.strip())]
        if len(meaningful) == 1 and meaningful[0].kind == "code":
            return meaningful[0].text
        return None

    @property
    def description(self) -> str:
        """The block as a description keeps it: its source where the format has one, else its text."""
        return self.source or self.text


@dataclass
class Document:
    """One docs file in the model: its blocks in order, and what the parser could not read (rows)."""

    path: str  # relative to the docs root: what entries cite as their source
    format: str
    blocks: list[Block] = field(default_factory=list)
    problems: list[Skipped] = field(default_factory=list)

    @property
    def title(self) -> str:
        """The page's title: its front matter's `title`, else its first level-1 heading."""
        for block in self.blocks:
            if block.kind == "front_matter" and block.options and block.options.get("title"):
                return str(block.options["title"]).strip()
        for block in self.blocks:
            if block.kind == "heading" and block.level == 1:
                return block.plain
        return ""

    def children(self, index: int) -> list[int]:
        """Indices of the blocks inside the block at `index` (at any depth), which follow it in order."""
        depth = self.blocks[index].depth
        out = []
        for j in range(index + 1, len(self.blocks)):
            if self.blocks[j].depth <= depth:
                break
            out.append(j)
        return out


class Builder:
    """Appends blocks in document order, keeping `parent` and `depth` from the containers opened around them, and an
    empty anchor (`<a id="x"></a>` on a line of its own) for the block that follows it."""

    def __init__(self, document: Document):
        self.document = document
        self.open: list[int] = []  # indices of the containers the next block is inside
        self.anchor = ""

    def add(self, block: Block) -> int:
        blocks = self.document.blocks
        block.parent = self.open[-1] if self.open else -1
        block.depth = len(self.open)
        if self.anchor and not block.anchor:
            block.anchor = self.anchor
        self.anchor = ""
        blocks.append(block)
        return len(blocks) - 1

    def enter(self, index: int) -> None:
        self.open.append(index)

    def leave(self) -> None:
        self.open.pop()
