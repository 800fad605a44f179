"""Inline elements (`Piece`s: text, code, strong, em, links, breaks), the same for every format, and how they are read:
visible text, code spans, bold labels, list items. Markdown's are parsed here with markdown-it-py, on first use.

Regexes here only ever look at one inline text (a heading, a list item, a row), never at a raw Markdown file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple

from markdown_it import MarkdownIt
from markdown_it.token import Token

_MD = MarkdownIt("commonmark")
# A reference link whose definition is not in the file stays text: `[audio.play()][api.library.audio.play]`.
REFERENCE_LINK = re.compile(r"\[([^\[\]]*)\]\[[^\[\]]*\]")
# Inline HTML that hides its content (`requir<span style="display: none;">X</span>e()` reads as `require()`).
HIDDEN_HTML = re.compile(r"display\s*:\s*none", re.IGNORECASE)
FLAG_WORDS = {"optional", "required"}
ALTERNATIVE_SEPARATORS = {"or", "|", ","}


class Piece(NamedTuple):
    """One inline element: text, code, break, or the opening/closing of strong, em and link. (A named tuple: a large
    file makes hundreds of thousands, and a tuple is the cheapest immutable record to make.)"""

    kind: str
    text: str = ""
    href: str = ""


def inline_pieces(content: str, env: dict) -> list[Piece]:
    """The visible inline elements of Markdown inline text, with reference links whose definitions are not in the
    file kept as their label text (`[audio.play()][api.library.audio.play]` reads `audio.play()`)."""
    children: list[Token] = []
    _MD.inline.parse(content, _MD, env, children)
    return [Piece("text", reference_labels(p.text)) if p.kind == "text" else p for p in _visible(children)]


def _visible(children: list[Token]) -> list[Piece]:
    out: list[Piece] = []
    hidden = 0
    for child in children:
        kind = child.type
        if kind == "html_inline":
            tag = child.content
            if hidden:
                if tag.startswith("</"):
                    hidden -= 1
                elif not tag.endswith("/>"):
                    hidden += 1
            elif HIDDEN_HTML.search(tag) and not tag.endswith("/>"):
                hidden = 1
            continue
        if hidden:
            continue
        if kind in ("text", "text_special"):  # text_special: an escaped character, `\\*`
            if not child.content:
                continue
            if out and out[-1].kind == "text":
                out[-1] = Piece("text", out[-1].text + child.content)
            else:
                out.append(Piece("text", child.content))
        elif kind == "code_inline":
            out.append(Piece("code", child.content))
        elif kind in ("softbreak", "hardbreak"):
            out.append(Piece("break"))
        elif kind.endswith("_open") or kind.endswith("_close"):
            href = str(child.attrGet("href") or "")
            out.append(Piece(kind, href=href))
        elif kind == "image":
            out.append(Piece("text", child.content))
    return out


def plain_text(items: list[Piece]) -> str:
    """Text and code content with emphasis dropped and breaks as spaces, whitespace normalised."""
    text = "".join(p.text if p.kind in ("text", "code") else " " if p.kind == "break" else "" for p in items)
    return " ".join(text.split())


def markdown_text(items: list[Piece]) -> str:
    """The elements written back as Markdown: `code`, **strong**, *em*, [text](href)."""
    marks = {"strong_open": "**", "strong_close": "**", "em_open": "*", "em_close": "*", "link_open": "["}
    out = []
    for p in items:
        if p.kind == "text":
            out.append(p.text)
        elif p.kind == "code":
            fence = "``" if "`" in p.text else "`"
            out.append(f"{fence}{p.text}{fence}")
        elif p.kind == "break":
            out.append("\n")
        elif p.kind == "link_close":
            out.append(f"]({p.href})" if p.href else "]")
        else:
            out.append(marks.get(p.kind, ""))
    return "".join(out).strip()


def code_spans(items: list[Piece]) -> list[str]:
    return [p.text for p in items if p.kind == "code"]


def reference_labels(text: str) -> str:
    """`[audio.play()][api.library.audio.play]` -> `audio.play()`: keep the text of unresolved reference links."""
    return REFERENCE_LINK.sub(r"\1", text)


def bold_label(items: list[Piece]) -> tuple[str, list[Piece]] | None:
    """(`Returns (sync version)`, rest) for a paragraph starting with **Returns (sync version):** rest."""
    if not items or items[0].kind != "strong_open":
        return None
    try:
        close = next(i for i, p in enumerate(items) if p.kind == "strong_close")
    except StopIteration:
        return None
    label = plain_text(items[1:close]).strip()
    rest = list(items[close + 1 :])
    if rest and rest[0].kind == "text" and rest[0].text.lstrip().startswith(":"):
        rest[0] = Piece("text", rest[0].text.lstrip()[1:])
    return label.rstrip(":").strip(), rest


@dataclass
class Item:
    """A list item such as - `name` (`type`, optional): text  or  - `name`: `type` or `nil` text."""

    first: str
    types: list[str] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)
    rest: list[Piece] = field(default_factory=list)

    @property
    def description(self) -> str:
        return markdown_text(self.rest).lstrip(":").strip()


def split_item(items: list[Piece], colon_types: bool) -> Item | None:
    """Split an item that starts with a code span; None when it does not.

    After the code span come either `(`type`|`type`, optional)` (only code spans and the words optional/required
    inside) or, when `colon_types`, `: `type` or `type``; the rest is the description.
    """
    items = _breaks_as_spaces(items)
    while items and items[0].kind == "text" and not items[0].text.strip():
        items = items[1:]
    if not items or items[0].kind != "code":
        return None
    item = Item(first=items[0].text, rest=list(items[1:]))
    if _paren_group(item) or not colon_types:
        return item
    _colon_group(item)
    return item


def _breaks_as_spaces(items: list[Piece]) -> list[Piece]:
    out: list[Piece] = []
    for p in items:
        if p.kind == "break":
            p = Piece("text", " ")
        if p.kind == "text" and out and out[-1].kind == "text":
            out[-1] = Piece("text", out[-1].text + p.text)
        else:
            out.append(p)
    return out


def _paren_group(item: Item) -> bool:
    rest = item.rest
    if not rest or rest[0].kind != "text" or not rest[0].text.lstrip().startswith("("):
        return False
    queue = [Piece("text", rest[0].text.lstrip()[1:]), *rest[1:]]
    types: list[str] = []
    flags: set[str] = set()
    for k, piece in enumerate(queue):
        if piece.kind == "code":
            types.append(piece.text)
            continue
        if piece.kind != "text":
            return False
        inside, closed, after = piece.text.partition(")")
        words = [w for w in re.split(r"[\s,|]+", inside.lower()) if w]
        if any(w not in FLAG_WORDS and w != "or" for w in words):
            return False
        flags |= set(words) - {"or"}
        if closed:
            item.types, item.flags = types, flags
            item.rest = ([Piece("text", after)] if after else []) + queue[k + 1 :]
            return True
    return False


def _colon_group(item: Item) -> None:
    rest = item.rest
    if len(rest) < 2 or rest[0].kind != "text" or rest[0].text.strip() != ":" or rest[1].kind != "code":
        return
    item.types, item.rest = alternatives(rest[1:])


def alternatives(items: list[Piece]) -> tuple[list[str], list[Piece]]:
    """The code spans at the start joined by `or`, `|` or `,` (`string` or `nil`), and what follows them."""
    codes: list[str] = []
    k = 0
    while k < len(items) and items[k].kind == "code":
        codes.append(items[k].text)
        k += 1
        if (
            k + 1 < len(items)
            and items[k].kind == "text"
            and items[k].text.strip().lower() in ALTERNATIVE_SEPARATORS
            and items[k + 1].kind == "code"
        ):
            k += 1
            continue
        break
    return codes, items[k:]


def value_groups(items: list[Piece]) -> list[tuple[list[str], str]]:
    """Comma-separated values of code spans: `a` or `nil`, `integer` -> [(['a', 'nil'], ''), (['integer'], '')].

    Each value is its code spans (alternatives) and its other words; a value without a code span is dropped.
    """
    groups: list[tuple[list[str], list[str]]] = [([], [])]
    for p in items:
        if p.kind == "code":
            groups[-1][0].append(p.text)
        elif p.kind == "text":
            parts = p.text.split(",")
            for n, part in enumerate(parts):
                if n:
                    groups.append(([], []))
                words = [w for w in part.split() if w.lower() != "or"]
                groups[-1][1].extend(words)
    return [(codes, " ".join(words).strip(" .")) for codes, words in groups if codes]
