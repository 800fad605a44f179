"""Read Markdown API docs written to LuaCoder's convention (data/docs/README.md) from markdown-it-py's token stream.

One file per module: a level-1 heading names the module, each level-2 heading is an entry's signature, and level-3
headings open its Parameters, Returns, Example(s) and Aliases sections.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

from luacoder.apidocs.schema import VARARG, ApiEntry, ApiError, ApiSet, Param, Return, Source
from luacoder.apidocs.signature import name_of, parse_signature

MARKDOWN_SUFFIXES = (".md", ".markdown")
NEEDS_HOST = "needs-host"


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
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ApiError(f"{path}: cannot read ({exc.strerror})") from None
    return _Reader(path, MarkdownIt("commonmark").parse(text)).read()


@dataclass
class _Draft:
    heading: str
    line: int
    description: list[str] = field(default_factory=list)
    params: list[Param] = field(default_factory=list)
    returns: list[Return] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    needs_host: list[int] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)


class _Reader:
    def __init__(self, path: Path, tokens: list[Token]):
        self.path, self.tokens = path, tokens
        self.module: str | None = None
        self.entries: list[ApiEntry] = []

    def fail(self, token: Token, message: str) -> ApiError:
        line = token.map[0] + 1 if token.map else 0
        return ApiError(f"{self.path}:{line}: {message}")

    def read(self) -> list[ApiEntry]:
        draft: _Draft | None = None
        section = "description"
        list_depth = 0
        tokens = self.tokens
        for i, tok in enumerate(tokens):
            if tok.type == "heading_open":
                inline = tokens[i + 1]
                if tok.tag == "h1":
                    self.module = _first_code(inline)
                    if not self.module:
                        raise self.fail(
                            tok, "the level-1 heading must name the module in a code span, e.g. # `string`"
                        )
                elif tok.tag == "h2":
                    self._finish(draft)
                    if self.module is None:
                        raise self.fail(tok, "an entry (level-2 heading) comes before the module's level-1 heading")
                    draft, section = _Draft(heading=inline.content, line=tok.map[0] + 1), "description"
                elif tok.tag == "h3" and draft is not None:
                    section = inline.content.strip().lower()
                continue
            if draft is None:
                continue
            if tok.type in ("bullet_list_open", "ordered_list_open"):
                list_depth += 1
            elif tok.type in ("bullet_list_close", "ordered_list_close"):
                list_depth -= 1
            elif tok.type == "fence":
                words = tok.info.split()
                if words[:1] == ["lua"] and section in ("example", "examples"):
                    if NEEDS_HOST in words:
                        draft.needs_host.append(len(draft.examples))
                    draft.examples.append(tok.content)
                elif section == "description":
                    draft.description.append(f"```{tok.info}\n{tok.content}```")
            elif tok.type == "inline" and tokens[i - 1].type != "heading_open":
                in_item = tokens[i - 2].type == "list_item_open" if i >= 2 else False
                if section == "description":
                    draft.description.append(tok.content)
                elif section == "parameters" and in_item and list_depth == 1:
                    draft.params.append(self._param(tok))
                elif section == "returns" and in_item and list_depth == 1:
                    draft.returns.append(self._return(tok))
                elif section == "aliases" and in_item:
                    draft.aliases += [name_of(code) for code in _codes(tok)]
        self._finish(draft)
        return self.entries

    def _param(self, tok: Token) -> Param:
        name, types, flags, description = self._item(tok, "parameter")
        optional = "optional" in flags or name == VARARG
        return Param(name=name, type=types or "any", optional=optional, description=description)

    def _return(self, tok: Token) -> Return:
        first, types, _flags, description = self._item(tok, "return value")
        if types:  # `name` (`type`): description
            return Return(name=first, type=types, description=description)
        return Return(type=first, description=description)

    def _item(self, tok: Token, what: str) -> tuple[str, str, set[str], str]:
        """Split "`name` (`type`, optional): description" into its parts, from the inline children."""
        children = [c for c in tok.children or [] if c.type != "softbreak"]
        if not children or children[0].type != "code_inline":
            raise self.fail(tok, f"a {what} item must start with its name in a code span: {tok.content!r}")
        first, rest = children[0].content, children[1:]
        types: list[str] = []
        flags: set[str] = set()
        if rest and rest[0].type == "text" and rest[0].content.lstrip().startswith("("):
            inside = True
            while rest and inside:
                child = rest.pop(0)
                if child.type == "code_inline":
                    types.append(child.content)
                    continue
                text = child.content
                if ")" in text:
                    text, _, after = text.partition(")")
                    inside = False
                    if after.strip():
                        rest.insert(0, Token("text", "", 0, content=after))
                flags |= {w.strip().lower() for w in text.strip(" (").split(",") if w.strip()}
        description = "".join(f"`{c.content}`" if c.type == "code_inline" else c.content for c in rest)
        return first, "|".join(types), flags, description.strip().lstrip(":").strip()

    def _finish(self, draft: _Draft | None) -> None:
        if draft is None:
            return
        where = f"{self.path}:{draft.line}"
        try:
            sig = parse_signature(draft.heading)
        except ApiError as exc:
            raise ApiError(f"{where}: {exc}") from None
        params = draft.params or sig.params
        if draft.params and sig.params and [p.name for p in draft.params] != [p.name for p in sig.params]:
            raise ApiError(
                f"{where}: the Parameters list {[p.name for p in draft.params]} does not match the signature"
                f" {[p.name for p in sig.params]}"
            )
        entry = ApiEntry(
            name=sig.name,
            kind=sig.kind,
            module=self.module or "",
            signature=draft.heading.strip(),
            params=params,
            returns=draft.returns,
            description="\n\n".join(draft.description).strip(),
            examples=draft.examples,
            aliases=draft.aliases,
            source=Source(file=self.path.as_posix(), line=draft.line),
            needs_host=draft.needs_host,
        )
        entry.validate(where)
        self.entries.append(entry)


def _first_code(inline: Token) -> str | None:
    codes = _codes(inline)
    return codes[0] if codes else None


def _codes(inline: Token) -> list[str]:
    return [c.content for c in inline.children or [] if c.type == "code_inline"]
