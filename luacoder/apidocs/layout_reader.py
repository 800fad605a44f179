"""One generic reader of Markdown API docs: a Layout (layout.py) says where things are, markdown-it-py's tokens say
what is there. Nothing here is specific to one documentation set; every special rule is a layout option.

The reader walks the top-level blocks of a file. Headings at the layout's entry level open an entry, which lasts
until the next heading as high; inside it, section headings (or bold labels) give each following block its roles
(description, params, returns, examples, aliases, signature), and each role reads the block types it knows. An
entry that cannot be built is not dropped silently: it becomes a `Skipped` row with the file, line and reason.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from fnmatch import fnmatchcase

from markdown_it.token import Token

from luacoder.apidocs.call_forms import parse_call_form
from luacoder.apidocs.inline import (
    Piece,
    alternatives,
    bold_label,
    code_spans,
    markdown_text,
    meta_rows,
    only_code,
    parse_blocks,
    pieces,
    plain_text,
    reference_labels,
    split_item,
    value_groups,
)
from luacoder.apidocs.layout import ONCE_ROLES, Layout, meta_row
from luacoder.apidocs.schema import VARARG, ApiEntry, ApiError, CallForm, Param, Return, Source
from luacoder.apidocs.signature import Signature, parse_signature

LISTS = ("bullet_list", "ordered_list")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
PANDOC_MARK = re.compile(r"~\^\(\s*(\w+)\s*\)\^~")
# Characters of code, not of an info string: "lualocal rect = display.newRect( 1, 2 )" is code glued to the fence.
CODE = re.compile(r"[=(){}\"']")
PAREN_MARK = re.compile(r"\(\s*(optional|required)\s*\)\s*$", re.IGNORECASE)


def parse_markdown(text: str) -> list[Token]:
    return parse_blocks(text)


@dataclass
class Skipped:
    """Something in the docs that did not become (part of) an entry, and why."""

    file: str
    line: int
    what: str
    reason: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.what}: {self.reason}"


@dataclass
class FileReading:
    entries: list[ApiEntry]
    skipped: list[Skipped]
    candidates: int  # headings that opened an entry


def read_tokens(
    tokens: list[Token], layout: Layout, source_file: str, report_file: str | None = None, folder: str = ""
) -> FileReading:
    """Read the entries of one parsed file.

    `source_file` goes into each entry's `source` (a path relative to the docs root), `report_file` into skipped rows
    (the path a user can open), `folder` is the name of the file's folder (a module or object type for layouts that
    take them from there).
    """
    reader = _FileReader(layout, source_file, report_file or source_file, folder)
    for block in blocks(tokens):
        reader.block(block)
    reader.finish()
    return FileReading(reader.entries, reader.skipped, reader.candidates)


@dataclass
class Block:
    """A top-level block: one token (fence, code_block, hr, html_block) or an open/close pair and what is inside."""

    tokens: list[Token]

    @property
    def type(self) -> str:
        return self.tokens[0].type.removesuffix("_open")

    @property
    def line(self) -> int:
        found = self.tokens[0].map
        return found[0] + 1 if found else 0

    @property
    def inline(self) -> Token | None:
        """The inline token of a heading or paragraph."""
        return self.tokens[1] if len(self.tokens) > 1 and self.tokens[1].type == "inline" else None

    def inner(self) -> list[Block]:
        return blocks(self.tokens[1:-1]) if self.tokens[0].nesting == 1 else []


def blocks(tokens: list[Token]) -> list[Block]:
    out, i = [], 0
    while i < len(tokens):
        j, depth = i, tokens[i].nesting
        while depth > 0:
            j += 1
            depth += tokens[j].nesting
        out.append(Block(tokens[i : j + 1]))
        i = j + 1
    return out


def list_items(block: Block) -> list[Block]:
    """The items of a list block (each a `list_item` block whose inner blocks are its paragraphs and sub-lists)."""
    return [item for item in block.inner() if item.type == "list_item"]


def item_pieces(item: Block) -> list[Piece]:
    """The inline elements of a list item's first paragraph."""
    first = next((b for b in item.inner() if b.type == "paragraph"), None)
    return pieces(first.inline) if first is not None else []


def list_text(block: Block, depth: int = 0) -> str:
    """A list written back as Markdown lines, `- text`, sub-lists indented."""
    lines = []
    bullet = "-" if block.type == "bullet_list" else "1."
    for item in list_items(block):
        marker = f"{'  ' * depth}{bullet} "
        for sub in item.inner():
            if sub.type == "paragraph" and sub.inline is not None:
                lines.append(marker + sub.inline.content)
                marker = " " * len(marker)
            elif sub.type in LISTS:
                lines.append(list_text(sub, depth + 1))
            elif sub.type == "fence":
                lines.append(f"```{sub.tokens[0].info}\n{sub.tokens[0].content}```")
    return "\n".join(lines)


@dataclass
class _Draft:
    heading: str  # the heading's text: the signature, or (signature: section) the name
    line: int
    meta: dict[str, str] | None = None
    blocks_seen: int = 0
    description: list[str] = field(default_factory=list)
    params: list[Param] | None = None  # None: no parameters section
    pending: list[Param] = field(default_factory=list)  # named by the last parameter heading, awaiting a type
    returns: list[Return] | None = None
    signature_lines: list[str] | None = None
    # Signature code blocks of a `signature: section` layout, each with the parameter headings that follow it: one
    # call variant each (Solar2D's "Image File" and "Image Sheet" forms of display.newImageRect).
    groups: list[tuple[list[str], list[Param]]] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    needs_host: list[int] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    claimed: set[str] = field(default_factory=set)
    rejected: bool = False  # its metadata says it is of a kind the layout does not read
    fatal: str | None = None  # a problem that keeps the entry out
    problems: list[Skipped] = field(default_factory=list)  # parts left out of an entry that is kept


class _FileReader:
    def __init__(self, layout: Layout, source_file: str, report_file: str, folder: str):
        self.layout, self.source_file, self.report_file, self.folder = layout, source_file, report_file, folder
        self.entries: list[ApiEntry] = []
        self.skipped: list[Skipped] = []
        self.candidates = 0
        self.module: str | None = None
        self.module_problem: str | None = None
        self.draft: _Draft | None = None
        self.roles: list[str] = []
        self.label_roles: list[str] | None = None  # roles of a bold label, for the list right after it

    # -- text helpers ------------------------------------------------------------------------------------------
    def clean(self, text: str) -> str:
        return reference_labels(text) if self.layout.references == "label" else text

    def row(self, line: int, what: str, reason: str) -> Skipped:
        return Skipped(self.report_file, line, what, reason)

    # -- blocks --------------------------------------------------------------------------------------------------
    def block(self, block: Block) -> None:
        if block.type == "heading":
            self.heading(block)
        elif self.draft is not None:
            self.content(block)

    def heading(self, block: Block) -> None:
        layout = self.layout
        level = int(block.tokens[0].tag[1:])
        if level <= layout.entry.heading:
            self.finish()
        if layout.module.heading and level == layout.module.heading:
            self.module_heading(block, pieces(block.inline))
            return
        if level == layout.entry.heading:
            items = pieces(block.inline)
            text = only_code(items) if layout.entry.code_heading else plain_text(items)
            if text is None:
                return  # a heading at the entry level that is not an entry (luv: "### Signals")
            self.candidates += 1
            self.draft = _Draft(heading=self.clean(text).strip(), line=block.line)
            self.roles, self.label_roles = [layout.sections.before], None
            return
        if self.draft is None or self.draft.rejected:
            return
        if layout.sections.heading and level == layout.sections.heading:
            self.roles, self.label_roles = self.claim(self.roles_for(plain_text(pieces(block.inline)))), None
        elif layout.params.headings and level == layout.params.headings and "params" in self.roles:
            self.param_heading(block, pieces(block.inline))

    def module_heading(self, block: Block, items: list[Piece]) -> None:
        level = self.layout.module.heading
        if self.layout.module.heading_code:
            codes = code_spans(items)
            name = codes[0].strip() if codes else ""
            how = "in a code span, e.g. # `string`"
        else:
            name = self.clean(plain_text(items))
            how = "in its text"
        if name:
            self.module, self.module_problem = name, None
            return
        reason = f"the level-{level} heading must name the module {how}"
        self.module, self.module_problem = (
            None,
            f"no module: the level-{level} heading at line {block.line} does not name it {how}",
        )
        self.skipped.append(self.row(block.line, f"module heading {plain_text(items)!r}", reason))

    def roles_for(self, title: str) -> list[str]:
        return self.matched_roles(title) or [self.layout.sections.unknown]

    def matched_roles(self, title: str) -> list[str] | None:
        title = " ".join(title.lower().split()).rstrip(":").strip()
        for pattern, roles in self.layout.sections.titles.items():
            if fnmatchcase(title, pattern.lower()):
                return list(roles)
        return None

    def claim(self, roles: list[str]) -> list[str]:
        """The first section with a read-once role gets it; later ones are read as description."""
        assert self.draft is not None
        out = []
        for role in roles:
            repeatable = role in ("signature", "params") and self.layout.entry.signature == "section"
            if role in ONCE_ROLES and role in self.draft.claimed and not repeatable:
                role = "description"
            elif role in ONCE_ROLES:
                self.draft.claimed.add(role)
            if role not in out:
                out.append(role)
        return out

    def content(self, block: Block) -> None:
        draft, layout = self.draft, self.layout
        assert draft is not None
        if draft.rejected:
            return
        first_block = draft.blocks_seen == 0
        draft.blocks_seen += 1
        if block.type == "blockquote" and self.special_quote(block, first_block):
            return
        if layout.sections.labels and block.type == "paragraph" and _may_be_bold(block):
            label = bold_label(pieces(block.inline))
            roles = self.matched_roles(label[0]) if label else None
            if label and roles is not None:
                roles = self.claim(roles)
                self.label_rest(block, roles, label[1])
                self.label_roles = roles
                return
        roles = self.label_roles if self.label_roles is not None and block.type in LISTS else self.roles
        self.label_roles = None
        self.dispatch(block, roles)

    def special_quote(self, block: Block, first_block: bool) -> bool:
        """A metadata table or an alias quote (layout options `meta` and `aliases.blockquote`)."""
        draft, layout = self.draft, self.layout
        assert draft is not None
        paragraphs = [pieces(b.inline) for b in block.inner() if b.type == "paragraph"]
        if layout.meta == "blockquote_rows" and draft.meta is None and first_block:
            rows: dict[str, str] = {}
            for items in paragraphs:
                rows.update(meta_rows(items))
            if rows:
                draft.meta = {key: reference_labels(value) for key, value in rows.items()}
                kind_row = layout.entry.kind_row.lower()
                # A page of a kind the layout does not read: `build` says why; the rest need not be read.
                draft.rejected = bool(kind_row) and _lookup(layout.entry.kinds, draft.meta.get(kind_row, "")) is None
                return True
        prefix = layout.aliases.blockquote.lower()
        if prefix and paragraphs and plain_text(paragraphs[0]).lower().startswith(prefix):
            for items in paragraphs:
                draft.aliases += [name for code in code_spans(items) if (name := _name_or_none(code))]
            return True
        return False

    def label_rest(self, block: Block, roles: list[str], rest: list[Piece]) -> None:
        """The text after a bold label: returns written inline (`**Returns:** `0` or `fail``), or description."""
        draft = self.draft
        assert draft is not None
        if "returns" in roles:
            draft.returns = draft.returns or []
            for codes, words in value_groups(rest):
                draft.returns.append(Return(type="|".join(codes), description=self.clean(words)))
        if "aliases" in roles:
            draft.aliases += [name for code in code_spans(rest) if (name := _name_or_none(code))]
        if "description" in roles and block.inline is not None:
            draft.description.append(self.clean(block.inline.content))

    def dispatch(self, block: Block, roles: list[str]) -> None:
        draft, layout = self.draft, self.layout
        assert draft is not None
        kind = block.type
        if kind == "fence":
            self.fence(block, roles)
        elif kind == "code_block":
            code = block.tokens[0].content
            if "signature" in roles and self.wants_signature():
                self.add_signature(_lines(code))
            elif "description" in roles:
                draft.description.append(f"```\n{code}```")
        elif kind == "paragraph":
            text = plain_text(pieces(block.inline)) if "signature" in roles else ""
            if "signature" in roles and self.wants_signature() and _is_signature(text):
                self.add_signature([text])
            elif "params" in roles and layout.params.headings and draft.pending:
                self.param_type(pieces(block.inline))
            elif "description" in roles and block.inline is not None:
                draft.description.append(self.clean(block.inline.content))
        elif kind in LISTS:
            if "params" in roles and not layout.params.headings:
                self.param_list(block)
            elif "returns" in roles:
                self.return_list(block)
            elif "aliases" in roles:
                for item in list_items(block):
                    draft.aliases += [n for code in code_spans(item_pieces(item)) if (n := _name_or_none(code))]
            elif "description" in roles:
                draft.description.append(self.clean(list_text(block)))
        elif kind == "blockquote" and "description" in roles:
            quoted = [b.inline.content for b in block.inner() if b.type == "paragraph" and b.inline is not None]
            draft.description += [self.clean("> " + text.replace("\n", "\n> ")) for text in quoted]

    def wants_signature(self) -> bool:
        assert self.draft is not None
        return self.draft.signature_lines is None or self.layout.entry.signature == "section"

    def add_signature(self, lines: list[str]) -> None:
        draft = self.draft
        assert draft is not None
        draft.signature_lines = (draft.signature_lines or []) + lines
        draft.groups.append((lines, []))

    def fence(self, block: Block, roles: list[str]) -> None:
        draft, rule = self.draft, self.layout.examples
        assert draft is not None
        token = block.tokens[0]
        words = token.info.split()
        language = words[0].lower() if words else ""
        languages = [lang.lower() for lang in rule.languages]
        if language in languages and ("examples" in roles or rule.anywhere):
            if rule.needs_host and rule.needs_host in words[1:]:
                draft.needs_host.append(len(draft.examples))
            draft.examples.append(token.content)
        elif "examples" in roles and any(language.startswith(lang) for lang in languages) and CODE.search(token.info):
            # "``````lualocal rect = ...": the code's first line was glued to the language; the block is not whole.
            info = token.info if len(token.info) <= 40 else token.info[:40] + "..."
            draft.problems.append(
                self.row(
                    block.line,
                    "example",
                    f"the fence's info string {info!r} is not a language name (code written on the fence line?);"
                    " the example is left out",
                )
            )
        elif "signature" in roles and self.wants_signature():
            self.add_signature(_lines(token.content))
        elif "description" in roles:
            draft.description.append(f"```{token.info}\n{token.content}```")

    # -- parameters and returns ------------------------------------------------------------------------------
    def param_list(self, block: Block) -> None:
        draft = self.draft
        assert draft is not None
        draft.params = draft.params or []
        for item in list_items(block):
            items = item_pieces(item)
            parsed = split_item(items, colon_types=True)
            if parsed is None:
                draft.fatal = draft.fatal or (
                    f"a parameter item must start with its name in a code span: {markdown_text(items)!r}"
                )
                continue
            draft.params.append(
                Param(
                    name=parsed.first,
                    type=self.clean("|".join(parsed.types)) or "any",
                    optional="optional" in parsed.flags or parsed.first == VARARG,
                    description=self.clean(parsed.description),
                )
            )

    def return_list(self, block: Block) -> None:
        draft = self.draft
        assert draft is not None
        draft.returns = draft.returns or []
        for item in list_items(block):
            items = item_pieces(item)
            parsed = split_item(items, colon_types=False)
            if parsed is None:
                draft.fatal = draft.fatal or (
                    f"a return value item must start with its type in a code span: {markdown_text(items)!r}"
                )
                continue
            if parsed.types:  # `name` (`type`): description
                value = Return(name=parsed.first, type="|".join(parsed.types), description=parsed.description)
            else:  # `type` or `type`: description
                codes, rest = alternatives([Piece("code", parsed.first), *parsed.rest])
                value = Return(type="|".join(codes), description=markdown_text(rest).lstrip(":").strip())
            value.type, value.description = self.clean(value.type), self.clean(value.description)
            draft.returns.append(value)

    def param_heading(self, block: Block, items: list[Piece]) -> None:
        """`##### x, y ~^(optional)^~`: one or more parameters named by a heading (layout option params.headings)."""
        draft = self.draft
        assert draft is not None
        text = plain_text(items)
        mark = (PANDOC_MARK if self.layout.params.marks == "pandoc" else PAREN_MARK).search(text)
        names_part = text[: mark.start()] if mark else text
        optional = bool(mark) and mark.group(1).lower() == "optional"
        names = [n.strip(" []") for n in re.split(r"[,/]", names_part)]
        names = [n for n in names if n]
        bad = [n for n in names if n != VARARG and not IDENTIFIER.match(n)]
        draft.pending = []
        if bad or not names:
            draft.problems.append(
                self.row(block.line, f"parameter heading {text!r}", f"{bad or names_part!r} is not a parameter name")
            )
            return
        params = [Param(name=n, optional=optional or n == VARARG) for n in names]
        draft.params = (draft.params or []) + params
        draft.pending = params
        if draft.groups:
            draft.groups[-1][1].extend(params)

    def param_type(self, items: list[Piece]) -> None:
        """The paragraph under a parameter heading: `_[Number][api.type.Number]._ The description.`"""
        draft = self.draft
        assert draft is not None
        types, rest = [], items
        # `_[String]_ or _[Table]._`: alternatives, each in its own emphasis.
        while rest and rest[0].kind == "em_open":
            close = next((i for i, p in enumerate(rest) if p.kind == "em_close"), None)
            if close is None:
                break
            types.append(self.clean(plain_text(rest[1:close])).strip().rstrip(".").strip())
            rest = rest[close + 1 :]
            between = rest[0].text.strip().lower() if rest and rest[0].kind == "text" else ""
            if between in ("or", ",", "|") and len(rest) > 1 and rest[1].kind == "em_open":
                rest = rest[1:]
        description = self.clean(markdown_text(rest)).lstrip(".").strip()
        for param in draft.pending:
            param.type, param.description = "|".join(t for t in types if t) or "any", description
        draft.pending = []

    # -- building the entry ------------------------------------------------------------------------------------
    def finish(self) -> None:
        draft, self.draft = self.draft, None
        if draft is None:
            return
        try:
            entry = self.build(draft)
        except ApiError as exc:
            self.skipped.append(self.row(draft.line, f"entry {draft.heading!r}", str(exc)))
            return
        self.entries.append(entry)
        self.skipped += draft.problems

    def build(self, draft: _Draft) -> ApiEntry:
        layout = self.layout
        level = layout.entry.heading
        if layout.module.heading and self.module is None:
            raise ApiError(
                self.module_problem
                or f"an entry (level-{level} heading) comes before the module's level-{layout.module.heading} heading"
            )
        meta = draft.meta or {}
        kind_value = None
        if layout.entry.kind_row:
            row = layout.entry.kind_row
            if draft.meta is None:
                raise ApiError(f"no metadata table (a block quote of __Key__ rows) under the heading to say its {row}")
            if row.lower() not in meta:
                raise ApiError(f"the metadata table has no __{row}__ row")
            kind_value = _lookup(layout.entry.kinds, meta[row.lower()])
            if kind_value is None:
                raise ApiError(
                    f"its __{row}__ is {meta[row.lower()]}; this layout reads only {', '.join(layout.entry.kinds)}"
                )
        if draft.fatal:
            raise ApiError(draft.fatal)
        head = parse_signature(draft.heading)
        forms = _forms(draft.signature_lines or [])
        name = head.name
        qualified = self.qualify(name, meta)
        if kind_value is not None:
            kind = "method" if kind_value == "function" and ":" in qualified else kind_value
        elif not head.callable and forms and forms[0].callable:
            kind = "method" if ":" in qualified else "function"
        else:
            kind = head.kind
        call_forms = self.call_forms(draft, name)
        params = call_forms[0].params if call_forms else self.params(draft, forms[0] if forms else head)
        if layout.returns.meta_row:
            value = meta.get(layout.returns.meta_row.lower(), "").strip()
            returns = [] if not value or value.lower() in _lower(layout.none) else [Return(type=value)]
        else:
            returns = draft.returns or []
        aliases = list(draft.aliases)
        if layout.entry.forms_as_aliases:
            aliases += [form.name for form in forms]
        aliases = list(dict.fromkeys(a for a in aliases if a not in (name, qualified)))
        if layout.entry.signature == "section" and draft.signature_lines:
            signature = "\n".join(_requalify(line, name, qualified) for line in draft.signature_lines)
        else:
            signature = draft.heading
        entry = ApiEntry(
            name=qualified,
            kind=kind,
            module=self.module_of(qualified, meta),
            signature=signature,
            params=params,
            returns=returns,
            description="\n\n".join(p for p in draft.description if p.strip()).strip(),
            examples=draft.examples,
            aliases=aliases,
            source=Source(file=self.source_file, line=draft.line),
            needs_host=draft.needs_host,
            forms=call_forms if len(call_forms) > 1 else [],
            owner=qualified.split(":", 1)[0] if ":" in qualified else "",
        )
        entry.validate(f"{self.report_file}:{draft.line}")
        return entry

    def params(self, draft: _Draft, signature: Signature) -> list[Param]:
        rule = self.layout.params
        from_signature = signature.params
        if draft.params:
            params = draft.params
            names, signature_names = [p.name for p in params], [p.name for p in from_signature]
            if rule.must_match_signature and from_signature and names != signature_names:
                raise ApiError(f"the Parameters list {names} does not match the signature {signature_names}")
            if rule.optional_from_signature:
                optional = {p.name for p in from_signature if p.optional}
                for p in params:
                    p.optional = p.optional or p.name in optional
        else:
            params = from_signature
        if rule.nil_is_optional:
            for p in params:
                p.optional = p.optional or "nil" in p.type.split("|")
        return params

    def call_forms(self, draft: _Draft, name: str) -> list[CallForm]:
        """The entry's call variants from its signature blocks (layouts with `signature: section`), typed by the
        parameter headings under each block.

        Brackets in the line say what is optional; a heading's mark counts only for the one line of a block without
        brackets: where a block lists several lines, each is a whole call (`gray`, `gray, alpha`, `red, green,
        blue`), and one heading's mark for `gray, red, green, blue, alpha` says nothing about any one of them. Headings
        under a line that takes one parameter and that name none of its parameters are the keys of that parameter,
        an options table (`display.newText( options )`). Lines written with another name (`s:len()` under
        `string.len`) are aliases, not forms.
        """
        if self.layout.entry.signature != "section":
            return []
        documented = {p.name: p for p in draft.params or []}
        out: list[CallForm] = []
        for lines, headed in draft.groups:
            by_name = {p.name: p for p in headed}
            for line in lines:
                try:
                    form = parse_call_form(self.clean(line))
                except ApiError:
                    continue
                if not form.callable or not _same_callee(form.name.replace(" ", ""), name):
                    continue
                marks_count = "[" not in line and len(lines) == 1
                named = {p.name for p in form.params}
                for param in form.params:
                    doc = by_name.get(param.name) or documented.get(param.name)
                    if doc is None:
                        continue
                    param.type, param.description = doc.type, doc.description
                    if marks_count:
                        param.optional = param.optional or doc.optional
                keys = [p for p in headed if p.name not in named]
                real = [p for p in form.params if p.name != VARARG]
                if keys and len(real) == 1 and not any(p.name in named for p in headed):
                    real[0].fields = [Param(p.name, p.type, p.optional, p.description) for p in keys]
                    real[0].type = real[0].type if real[0].type != "any" else "table"
                form.signature = _requalify(form.signature, name, self.qualify(name, draft.meta or {}))
                form.name = ""
                out.append(form)
        return out

    def qualify(self, name: str, meta: dict[str, str]) -> str:
        """`object:setFillColor` -> `ShapeObject:setFillColor` (layout option entry.object_type)."""
        if ":" not in name or not self.layout.entry.object_type:
            return name
        for source in self.layout.entry.object_type:
            row = meta_row(source)
            value = meta.get(row.lower(), "") if row else self.folder
            value = value.strip()
            if IDENTIFIER.match(value) and value.lower() not in _lower(self.layout.none):
                return f"{value}:{name.split(':', 1)[1]}"
        sources = ", ".join(self.layout.entry.object_type)
        raise ApiError(f"{name} is a method, but its object type is not given ({sources})")

    def module_of(self, name: str, meta: dict[str, str]) -> str:
        rule = self.layout.module
        for source in rule.sources:
            row = meta_row(source)
            if source == "heading":
                value = self.module or ""
            elif row is not None:
                value = meta.get(row.lower(), "").strip().removesuffix(".*")
            elif source == "name":
                value = re.split(r"[.:]", name)[0] if re.search(r"[.:]", name) else rule.default
            else:
                value = self.folder
            if MODULE_NAME.match(value) and value.lower() not in _lower(self.layout.none):
                return value
        return rule.default


def _may_be_bold(block: Block) -> bool:
    """Whether a paragraph can start with bold text, read from its source before parsing its inline content."""
    return block.inline is not None and block.inline.content.startswith(("**", "__"))


def _lower(words: list[str]) -> set[str]:
    return {w.lower() for w in words}


def _lookup(table: dict[str, str], key: str) -> str | None:
    if key in table:
        return table[key]
    folded = {k.lower(): v for k, v in table.items()}
    return folded.get(key.lower())


def _lines(code: str) -> list[str]:
    return [line.strip() for line in code.splitlines() if line.strip()]


def _is_signature(text: str) -> bool:
    try:
        return parse_signature(text).callable
    except ApiError:
        return False


def _forms(lines: list[str]) -> list[Signature]:
    """The signature lines that parse (`local name = require "x"` does not), in order."""
    forms = []
    for line in lines:
        try:
            forms.append(parse_signature(line))
        except ApiError:
            continue
    return forms


def _same_callee(written: str, name: str) -> bool:
    """`File:write` under `file:write()`, `object:rotate` under `object:rotate()`: a method form names its object
    as it likes; a function form must be the entry's name (`s:len()` under `string.len` is an alias)."""
    if written == name:
        return True
    return ":" in written and ":" in name and written.rsplit(":", 1)[1] == name.rsplit(":", 1)[1]


def _requalify(line: str, name: str, qualified: str) -> str:
    return qualified + line[len(name) :] if name != qualified and line.startswith(name) else line


def _name_or_none(code: str) -> str | None:
    try:
        return parse_signature(code).name
    except ApiError:
        return None
