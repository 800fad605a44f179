"""Markdown API docs in any common convention, with no layout: find call signatures where real docs write them.

Signatures are looked for, in markdown-it-py's token stream, in:

- headings (ATX or setext, any level), whole or in a code span, with or without an `ok, err =` prefix:
  `### `uv.tcp_bind(tcp, host, port, [flags])``, `# audio.play()`, `ngx.say` over `---`;
- label lines under a heading: `**syntax:** *ok, err = ngx.say(a, b?)*`, `Syntax:`, `Usage:`, `Signature:`, the
  signature in the rest of the paragraph or in the code block right after it;
- the first lines of the first code block under a heading that names the entry (`## newRect` then
  `display.newRect( x, y, w, h )`), or under a `name()` heading that gives no parameters;
- list items that start with a code span: `* `core.mkdir(path)`: returns success.`, bare `* `get_pos()``
  under a heading that names a type (``ObjectRef`` over `---`, then `### Methods`): a method of that type;
- table rows whose first cell is a signature, bold or in a code span: `| **int Cost(string type)** | ... |`;
- definition-list paragraphs: a first line that is a signature, the next starting with `: `.

The description, parameters (`Parameters:` lists of `` `name` (`type`, optional): text ``), returns (`Returns:`)
and examples (Lua fences) come from the section around the signature: a heading entry lasts to the next heading as
high, a list or table entry is its own item or row. Text that names no callable (prose sections, directive lists,
tables of settings) makes no entry: the reader keeps to the parts of a file that document callables. `used` counts
what each entry came from, for the per-file log line.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.token import Token

from luacoder.apidocs.call_forms import IDENT, parse_call_form, read_param
from luacoder.apidocs.inline import Piece, code_spans, markdown_text, pieces, plain_text, reference_labels, split_item
from luacoder.apidocs.layout_reader import LISTS, Block, Skipped, blocks, item_pieces, list_items, list_text
from luacoder.apidocs.schema import VARARG, ApiEntry, ApiError, CallForm, Param, Return, Source

_PARSER = MarkdownIt("commonmark").enable("table")
SIGNATURE_LABELS = ("syntax", "signature", "usage", "synopsis", "prototype", "declaration", "definition", "call")
PARAM_LABELS = ("parameters", "params", "arguments", "args", "argument", "parameter")
RETURN_LABELS = ("returns", "return", "return value", "return values", "result", "results")
EXAMPLE_LABELS = ("example", "examples")
EXAMPLE_LANGUAGES = ("lua", "luau", "moon", "")
QUALIFIED = re.compile(r"^[A-Za-z_]\w*(?:[.:][A-Za-z_]\w*)+$")
PROPERTY = re.compile(r"^(?:(?P<type>[\w\[\]<>.,]+)\s+)?(?P<name>[A-Za-z_]\w*)\s*\{\s*get;")
TYPE_SECTION = re.compile(r"^(?P<type>[A-Za-z_]\w*)\s+(?:properties|methods|commands|functions)\b", re.IGNORECASE)
FUNCTION_SECTION = re.compile(r"\b(functions?|methods?|api|reference|callbacks?)\b", re.IGNORECASE)
PLAIN_CALL = re.compile(r"^(?:[A-Za-z_]\w*\s*(?:,\s*[A-Za-z_]\w*\s*)*=\s*)?[A-Za-z_][\w.:]*\(")
CALL_START = re.compile(r"^[A-Za-z_][\w.:]*\s*\(")
LABEL = re.compile(r"^\s*([A-Za-z][A-Za-z ]{1,30}?)\s*:")


def parse(text: str) -> list[Token]:
    return _PARSER.parse(text)


@dataclass
class _Draft:
    name: str
    line: int
    how: str
    forms: list[CallForm] = field(default_factory=list)
    level: int = 0  # heading level for heading entries; 0 for list items and rows
    name_only: bool = False  # the heading named it but gave no parameters: a code block or label may
    loose: bool = False  # named by a plain one-word heading: only a call of that very name makes it an entry
    description: list[str] = field(default_factory=list)
    params: list[Param] = field(default_factory=list)
    returns: list[Return] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    kind: str = ""
    owner: str = ""
    aliases: list[str] = field(default_factory=list)


@dataclass
class GenericReading:
    entries: list[ApiEntry]
    skipped: list[Skipped]
    used: Counter = field(default_factory=Counter)
    not_calls: int = 0  # syntax lines that are not Lua calls (directives, settings): not entries, counted for the log

    @property
    def candidates(self) -> int:
        return len(self.entries)

    def summary(self) -> str:
        if not self.entries:
            return "generic reader: no call signature in headings, label lines, code blocks, list items or tables"
        how = ", ".join(f"{n} from {what}" for what, n in self.used.most_common())
        extra = f"; {self.not_calls} syntax line(s) that are not Lua calls left out" if self.not_calls else ""
        return f"generic reader: {len(self.entries)} entries ({how}){extra}"


def read_markdown(text: str, source_file: str, report_file: str | None = None) -> GenericReading:
    reader = _Reader(source_file, report_file or source_file)
    reader.walk(blocks(parse(text)))
    reader.close()
    reader.keep_fields()
    return GenericReading(reader.entries, reader.skipped, reader.used, reader.not_calls)


def _heading_text(items: list[Piece]) -> tuple[str, bool]:
    """(the heading's signature text, whether it was a code span): the code span when the heading starts with one."""
    codes = code_spans(items)
    if codes and items and items[0].kind == "code":
        return codes[0], True
    text = plain_text(items).strip()
    return reference_labels(text), False


def _try_form(text: str) -> CallForm | None:
    try:
        form = parse_call_form(text)
    except ApiError:
        return None
    return form


def _clean_name(name: str) -> str:
    return re.sub(r"\s+", "", name)


class _Reader:
    def __init__(self, source_file: str, report_file: str):
        self.source_file, self.report_file = source_file, report_file
        self.entries: list[ApiEntry] = []
        self.skipped: list[Skipped] = []
        self.used: Counter = Counter()
        self.not_calls = 0
        self.headings: list[tuple[int, str, bool]] = []  # (level, text, is one code span)
        self.draft: _Draft | None = None
        self.waiting: str = ""  # a label's role waiting for the next block: signature, params, returns, examples
        self.by_name: dict[str, ApiEntry] = {}
        self.fields: list[_Draft] = []  # kept at the end when they belong to a module that has functions here

    # -- the walk ----------------------------------------------------------------------------------------------
    def walk(self, items: list[Block]) -> None:
        for block in items:
            kind = block.type
            if kind == "heading":
                self.heading(block)
            elif kind == "paragraph":
                self.paragraph(block)
            elif kind in ("fence", "code_block"):
                self.code(block)
            elif kind in LISTS:
                self.listing(block)
            elif kind == "table":
                self.table(block)
            elif kind == "blockquote" and self.draft is not None:
                self.quote(block)

    def heading(self, block: Block) -> None:
        level = int(block.tokens[0].tag[1:])
        items = pieces(block.inline)
        draft = self.draft
        if draft is not None and draft.level and (level <= draft.level or draft.loose and not draft.forms):
            self.close()  # a one-word heading that no call followed (`# Geometry`) holds no sections
        while self.headings and self.headings[-1][0] >= level:
            self.headings.pop()
        text, in_code = _heading_text(items)
        whole_code = in_code and len([p for p in items if p.kind != "break"]) == 1
        self.headings.append((level, plain_text(items).strip() if not whole_code else text, whole_code))
        self.waiting = ""
        if self.draft is not None and self.draft.level:
            title = plain_text(items).strip().lower().rstrip(":")
            self.waiting = self.section_role(title)
            return
        raw = block.inline.content.strip() if block.inline is not None else ""
        if raw.startswith("[") and raw.endswith(("]", ")")):
            return  # a heading that links to an entry's page (an index), not the entry
        form = _try_form(text) if ("(" in text or in_code) else None
        plain_call = bool(PLAIN_CALL.match(text)) and text.rstrip().endswith(")")
        if form is not None and form.callable and (in_code or plain_call or QUALIFIED.match(_clean_name(form.name))):
            if "(" in text and not form.params and not text.rstrip().endswith(")"):
                return
            self.draft = _Draft(_clean_name(form.name), block.line, "headings", [form], level=level)
            self.draft.name_only = not form.params
            return
        if "(" in text and (in_code or QUALIFIED.match(_clean_name(text.split("(")[0]))):
            self.row(block.line, f"heading {text!r}", "looks like a signature but cannot be read; left out")
            return
        name = _clean_name(text)
        if QUALIFIED.match(name) or (whole_code and IDENT.fullmatch(name) and not name[0].isupper()):
            self.draft = _Draft(name, block.line, "headings", [], level=level, name_only=True)
        elif IDENT.fullmatch(name):  # `## area`: an entry only if a code block or label under it calls `area`
            self.draft = _Draft(name, block.line, "headings", [], level=level, name_only=True, loose=True)

    def quote(self, block: Block) -> None:
        """A quote under an entry: a method form in a code span (luv's `> method form` then `tcp:bind(...)`) is an
        alias; the rest is description."""
        draft = self.draft
        assert draft is not None
        for inner in block.inner():
            if inner.type != "paragraph" or inner.inline is None:
                continue
            for code in code_spans(pieces(inner.inline)):
                form = _try_form(code) if "(" in code else None
                if form is not None and ":" in form.name and _clean_name(form.name) != draft.name:
                    draft.aliases.append(_clean_name(form.name))
            draft.description.append("> " + inner.inline.content.replace("\n", "\n> "))

    def section_role(self, title: str) -> str:
        if title in SIGNATURE_LABELS:
            return "signature"
        if title in PARAM_LABELS:
            return "params"
        if title in RETURN_LABELS:
            return "returns"
        if title.startswith(EXAMPLE_LABELS):
            return "examples"
        return ""

    def paragraph(self, block: Block) -> None:
        items = pieces(block.inline)
        draft = self.draft
        label, rest = self.label(items)
        if draft is not None and label:
            role = self.section_role(label)
            if role == "signature":
                lines = [ln for ln in plain_text(rest).splitlines() if ln.strip()]
                if lines:
                    self.signature_lines(lines, "label lines")
                else:
                    self.waiting = "signature"
                return
            if role == "returns":
                text = markdown_text(rest).strip()
                if text:
                    draft.returns.append(Return(type="|".join(code_spans(rest)) or "any", description=text))
                self.waiting = "returns"
                return
            if role in ("params", "examples"):
                self.waiting = role
                return
        if self.deflist(block, items):
            return
        if draft is not None and block.inline is not None:
            draft.description.append(reference_labels(block.inline.content))

    def label(self, items: list[Piece]) -> tuple[str, list[Piece]]:
        """`**Syntax:** rest`, `__Usage__: rest`, `Syntax: rest`: (label in lower case, the rest) or ("", [])."""
        if not items:
            return "", []
        if items[0].kind == "strong_open":
            close = next((i for i, p in enumerate(items) if p.kind == "strong_close"), None)
            if close is None:
                return "", []
            label = plain_text(items[1:close]).strip()
            rest = items[close + 1 :]
            if rest and rest[0].kind == "text":
                rest = [Piece("text", rest[0].text.lstrip().removeprefix(":").lstrip()), *rest[1:]]
            return label.rstrip(":").strip().lower(), rest
        if items[0].kind == "text":
            match = LABEL.match(items[0].text)
            if match and match.group(1).strip().lower() in SIGNATURE_LABELS + PARAM_LABELS + RETURN_LABELS:
                return match.group(1).strip().lower(), [Piece("text", items[0].text[match.end() :]), *items[1:]]
        return "", []

    def deflist(self, block: Block, items: list[Piece]) -> bool:
        """`` `f(a, b)` `` then a line starting with `: `: a definition-list entry (pandoc, PHP Markdown Extra)."""
        if block.inline is None or self.draft is not None and self.draft.level and not self.draft.name_only:
            return False
        lines = block.inline.content.split("\n")
        if len(lines) < 2 or not lines[1].lstrip().startswith(": "):
            return False
        form = _try_form(lines[0].strip().strip("`"))
        if form is None or not form.callable:
            return False
        draft = _Draft(_clean_name(form.name), block.line, "definition lists", [form])
        draft.description.append(" ".join(ln.lstrip().removeprefix(": ") for ln in lines[1:]))
        self.emit(draft)
        return True

    def signature_lines(self, lines: list[str], how: str) -> None:
        draft = self.draft
        assert draft is not None
        forms = []
        for line in lines:
            if "(" not in line:
                if not forms and how == "label lines":  # `**syntax:** lua_code_cache on | off`: a directive
                    self.not_calls += 1
                continue
            form = _try_form(line)
            if form is None:
                if how == "label lines":  # a code block's lines may be any code; a label says this is a signature
                    self.row(draft.line, f"signature {line.strip()!r}", "cannot be read as a call; left out")
                continue
            if form.callable:
                forms.append(form)
        if not forms:
            return
        same = [f for f in forms if _short(f.name) == _short(draft.name)]
        if not same and draft.name_only and how == "label lines" and not draft.loose:
            same = forms  # a label says outright that this is the call
        if not same:
            return
        if draft.name_only:
            draft.forms, draft.name_only = [], False
            draft.name = _clean_name(same[0].name) if "." in same[0].name or ":" in same[0].name else draft.name
            draft.how = how
        draft.forms += same

    def code(self, block: Block) -> None:
        token = block.tokens[0]
        draft = self.draft
        if draft is None:
            return
        language = (token.info.split() or [""])[0].lower() if block.type == "fence" else ""
        if self.waiting == "signature" or (draft.name_only and draft.level):
            lines = [ln.strip() for ln in token.content.splitlines() if ln.strip()]
            before = len(draft.forms)
            self.signature_lines(lines[:8], "label lines" if self.waiting == "signature" else "code blocks")
            self.waiting = ""
            if len(draft.forms) > before:
                return
        fenced = block.type == "fence" and (language or "(" in token.content)
        if language in EXAMPLE_LANGUAGES and (fenced or self.waiting == "examples"):
            draft.examples.append(token.content)

    def listing(self, block: Block) -> None:
        draft = self.draft
        if draft is not None and self.waiting == "params":
            self.param_list(block)
            self.waiting = ""
            return
        if draft is not None and self.waiting == "returns":
            for item in list_items(block):
                text = markdown_text(item_pieces(item)).strip()
                draft.returns.append(
                    Return(type="|".join(code_spans(item_pieces(item))[:1]) or "any", description=text)
                )
            self.waiting = ""
            return
        found = False
        for item in list_items(block):
            found |= self.list_entry(item)
        if not found and draft is not None:
            draft.description.append(list_text(block))

    def list_entry(self, item: Block) -> bool:
        items = item_pieces(item)
        if not items or items[0].kind != "code":
            return False
        text = items[0].text
        if "(" not in text:
            name = _clean_name(text)
            if QUALIFIED.match(name) and (self.draft is None or self.draft.name_only) and "." in name:
                draft = _Draft(name, item.line, "list items", [], kind="field")
                draft.description.append(markdown_text(items[1:]).lstrip(":- ").strip())
                self.fields.append(draft)
            return False
        form = _try_form(text)
        line = item.line
        if form is None:
            if CALL_START.match(text):
                self.row(line, f"list item {text!r}", "starts with a signature that cannot be read; left out")
            return False
        if not form.callable:
            return False
        name = _clean_name(form.name)
        owner = ""
        if "." not in name and ":" not in name:
            owner = self.type_heading()
            if owner:
                name = f"{owner}:{name}"
            elif not self.function_section():
                return False
        if self.draft is not None and self.draft.level and not self.draft.name_only:
            return False  # inside an entry: a list of its parameters or options, not entries of its own
        draft = _Draft(name, line, "list items", [form], owner=owner or name.split(":")[0] if ":" in name else "")
        rest = markdown_text(items[1:]).strip().lstrip(":-\u2014 ").strip()
        if rest:
            draft.description.append(rest)
        for sub in item.inner()[1:]:
            if sub.type in LISTS:
                draft.description.append(list_text(sub))
            elif sub.type == "paragraph" and sub.inline is not None:
                draft.description.append(sub.inline.content)
            elif sub.type == "fence" and (sub.tokens[0].info.split() or [""])[0].lower() in EXAMPLE_LANGUAGES:
                draft.examples.append(sub.tokens[0].content)
        self.emit(draft)
        return True

    def table(self, block: Block) -> None:
        rows = [b for b in _descend(block, "tr")]
        for row in rows:
            cells = [b for b in row.inner() if b.type in ("td", "th")]
            if not cells or cells[0].type == "th":
                continue
            first = pieces(cells[0].inline)
            text = self.cell_signature(first)
            if not text:
                continue
            line = row.line
            prop = PROPERTY.match(text)
            qualify, owner = self.table_scope()
            description = markdown_text(pieces(cells[1].inline)) if len(cells) > 1 else ""
            description = re.sub(r"<br\s*/?>", "\n", description).strip()
            if prop:
                name = prop.group("name")
                # A property is read as `actor.Owner`, not called: a field, named with a dot.
                draft = _Draft(qualify(name).replace(":", "."), line, "table rows", [], kind="field", owner=owner)
            else:
                form = _try_form(text)
                if form is None:
                    if CALL_START.match(text):
                        self.row(line, f"table row {text!r}", "starts with a signature that cannot be read")
                    continue
                if not form.callable:
                    continue
                name = _clean_name(form.name)
                name = name if "." in name or ":" in name else qualify(name)
                draft = _Draft(name, line, "table rows", [form], owner=owner if name.startswith(f"{owner}:") else "")
            if description:
                draft.description.append(description)
            self.emit(draft)

    def cell_signature(self, items: list[Piece]) -> str:
        """The signature of a first cell: its first bold or code element (a struck-out `<s>` row too)."""
        for i, piece in enumerate(items):
            if piece.kind == "code":
                return piece.text
            if piece.kind == "strong_open":
                close = next((j for j in range(i, len(items)) if items[j].kind == "strong_close"), len(items))
                return plain_text(items[i + 1 : close]).strip()
            if piece.kind == "text" and piece.text.strip():
                return ""
        return ""

    def table_scope(self):
        """How a table row's bare name is qualified: a `X Properties / Commands` section makes methods of X, a
        heading that is one identifier (`### Actor`) a module."""
        for _, title, _ in reversed(self.headings):
            match = TYPE_SECTION.match(title)
            if match:
                owner = match.group("type")
                return (lambda name, o=owner: f"{o}:{name}"), owner
        for _, title, _ in reversed(self.headings):
            if IDENT.fullmatch(title):
                return (lambda name, t=title: f"{t}.{name}"), ""
        return (lambda name: name), ""

    def type_heading(self) -> str:
        """The nearest heading that is one code span naming a type (`ObjectRef`), for bare method items."""
        for _, title, whole_code in reversed(self.headings):
            if whole_code and IDENT.fullmatch(title):
                return title
        return ""

    def function_section(self) -> bool:
        return any(FUNCTION_SECTION.search(title) for _, title, _ in self.headings)

    def param_list(self, block: Block) -> None:
        draft = self.draft
        assert draft is not None
        for item in list_items(block):
            items = item_pieces(item)
            parsed = split_item(items, colon_types=True)
            if parsed is not None:
                draft.params.append(
                    Param(
                        name=parsed.first,
                        type="|".join(parsed.types) or "any",
                        optional="optional" in parsed.flags or parsed.first == VARARG,
                        description=parsed.description,
                    )
                )
                continue
            text = plain_text(items)
            name, _, rest = text.partition(":")
            param = read_param(name) if name.strip() else None
            if param is not None:
                param.description = rest.strip()
                draft.params.append(param)

    def keep_fields(self) -> None:
        """A bare dotted name in a list (`core.registered_items`) is a field of an API module only where that module
        has functions in the file: elsewhere it is a file name or a setting (`game.conf`)."""
        roots = {re.split(r"[.:]", e.name)[0] for e in self.entries if e.kind in ("function", "method")}
        for draft in self.fields:
            if draft.name.split(".")[0] in roots:
                self.emit(draft)

    # -- building ----------------------------------------------------------------------------------------------
    def close(self) -> None:
        draft, self.draft = self.draft, None
        self.waiting = ""
        if draft is not None and (draft.forms or draft.kind == "field"):
            self.emit(draft)

    def emit(self, draft: _Draft) -> None:
        for form in draft.forms:
            self.type_params(form, draft.params)
        name = draft.name
        if name in self.by_name:  # an overload written as its own item or heading: one more form of the entry
            entry = self.by_name[name]
            if draft.forms:
                if not entry.forms:
                    entry.forms = [CallForm(entry.signature, entry.params, list(entry.returns))]
                entry.forms += [f for f in draft.forms if f.signature not in {g.signature for g in entry.forms}]
                entry.signature = "\n".join(f.signature for f in entry.forms)
            return
        kind = draft.kind or ("method" if ":" in name else "function")
        forms = draft.forms
        first = forms[0] if forms else None
        returns = list(draft.returns) or (list(first.returns) if first else [])
        module = re.split(r"[.:]", name)[0] if re.search(r"[.:]", name) else "_G"
        if ":" in name and not draft.owner:
            draft.owner = name.split(":")[0]
        entry = ApiEntry(
            name=name,
            kind=kind,
            module=module,
            signature="\n".join(f.signature for f in forms) if forms else name,
            params=list(first.params) if first else [],
            returns=returns,
            description="\n\n".join(d for d in draft.description if d.strip()).strip(),
            examples=draft.examples,
            aliases=list(dict.fromkeys(draft.aliases)),
            source=Source(self.source_file, draft.line),
            forms=forms if len(forms) > 1 else [],
            owner=draft.owner,
        )
        try:
            entry.validate(f"{self.report_file}:{draft.line}")
        except ApiError as exc:
            self.row(draft.line, f"entry {name!r}", str(exc))
            return
        self.by_name[name] = entry
        self.entries.append(entry)
        self.used[draft.how] += 1

    @staticmethod
    def type_params(form: CallForm, documented: list[Param]) -> None:
        by_name = {p.name: p for p in documented}
        for param in form.params:
            doc = by_name.get(param.name)
            if doc is None:
                continue
            if param.type == "any":
                param.type = doc.type
            param.description = param.description or doc.description
            param.optional = param.optional or doc.optional or "nil" in doc.type.split("|")

    def row(self, line: int, what: str, reason: str) -> None:
        self.skipped.append(Skipped(self.report_file, line, what, reason))


def _short(name: str) -> str:
    return re.split(r"[.:]", _clean_name(name))[-1]


def _descend(block: Block, kind: str):
    for inner in block.inner():
        if inner.type == kind:
            yield inner
        else:
            yield from _descend(inner, kind)
