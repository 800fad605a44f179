"""One signature-first reader for every text format: find API entries in a document model (model.py) by evidence.

1. Candidates. Any block, or the first line of one, or a code span alone in a paragraph, that `call_forms` reads as a
   Lua call signature is a candidate: a heading, a directive's arguments (one signature a line), a definition term
   (each code span in it), a table row's first cell, a list item's leading code span or bold text, a paragraph that is
   one line or one code span, a paragraph's first line. A heading or a page title that names a callable without its
   parameters (`## Widget()`, `# net.send()`, a front-matter title over an anonymous `function(a, b)` block) takes
   its forms from the code blocks of its section that call that name (never from an example section).
2. Evidence. A candidate is kept when its points reach THRESHOLD: where it sits (POSITION_POINTS), how it is marked
   (a code span, code element or bold: +1), an anchor id that names it (+1), a description that follows it (+1), the
   same shape (position, level, marking, depth) repeated down the page (+1). It is left out, whatever its
   points, when its arguments are values rather than names (an example call), when it is a C declaration, when it is
   a Lua keyword, or when it sits inside an entry already read (a parameter, a callback, an option table's key).
3. Context. A bare name is qualified by the class directive it is nested in, else the nearest heading that names a
   module or type (`Module x`, `Class X`, a heading that is one code span, `X methods`, `The x module`), else the
   module directive in force, else the nearest heading that is a plain name; an anchor id that qualifies it may name
   it too. A method whose owner is a placeholder in lower case (`object:rotate`) takes the type its page's folder
   names (`types/Widget/resize.md`).
4. Entries. Each kept candidate's section (the blocks up to the next heading as high, or the container's children)
   gives the description, parameters (a list, terms, rows or headings that name a parameter of the signature: its
   type, "optional", default), returns, examples (code blocks that are not the signature) and aliases (method forms
   `x:m(...)` of the same call, an Aliases section). A name written twice is one entry with a form per signature.

A layout (layout.py) overrides what cannot be guessed: which blocks are entries, which to ignore, which name the
context. Every candidate left out is kept with its reason (`FileReading.rejected`), for `luacoder docs` to explain.
What a block's text says (its lead, label, role, context; values or prose in a call) is read by block_text.py.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from luacoder.apidocs.block_text import (
    MODULE_WORDS,
    SECTION_WORDS,
    SEPARATOR,
    TYPE_WORDS,
    after_lead,
    anchor_name,
    anonymous_signature,
    context_of,
    directive_kind,
    first_emphasis,
    form_of,
    is_callback_name,
    is_name,
    key_value_rows,
    label_of,
    leading_emphasis_types,
    leading_mark,
    link_only,
    may_hold_signature,
    merge_forms,
    module_of,
    names_something,
    piece_lines,
    requalify,
    return_item,
    role_of,
    short_name,
    starts_marked,
    statements,
    type_params,
    unique_forms,
    written_as_values,
    written_name,
)
from luacoder.apidocs.call_forms import IDENT
from luacoder.apidocs.inline import (
    code_spans,
    plain_text,
    split_item,
    value_groups,
)
from luacoder.apidocs.model import Block, Document
from luacoder.apidocs.reading import FileReading, Rejected, Skipped
from luacoder.apidocs.schema import VARARG, ApiEntry, ApiError, CallForm, Param, Return, Source
from luacoder.apidocs.signature import Signature

POSITION_POINTS = {"directive": 3, "heading": 2, "title": 2, "term": 2, "row": 2, "item": 1, "paragraph": 1, "line": 1}
RANK = {"directive": 4, "heading": 3, "title": 3, "term": 2, "row": 2, "item": 1, "paragraph": 1, "line": 1}
THRESHOLD = 3
REPEATED = 3  # candidates of one shape on a page that make the shape a convention
LUA_KEYWORDS = {
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in", "local", "nil",
    "not", "or", "repeat", "return", "then", "true", "until", "while",
}  # fmt: skip
CONTAINER_DIRECTIVES = set(MODULE_WORDS + TYPE_WORDS) | {"currentmodule", "enum"}
LUA_LANGUAGES = ("lua", "luau", "moon", "moonscript", "")
_C_PROTOTYPE = re.compile(r"^\s*(?:const\s+|unsigned\s+|struct\s+)*[A-Za-z_]\w*[\s*]+\**[A-Za-z_]\w*\s*\([^)]*\)\s*;")
_C_DECLARATION = re.compile(r"\*\s*\w|;\s*$|\bconst\b|\bunsigned\b|\bstruct\b")
# "Called when the analysis starts": a function the host calls (a callback to define), not one to call.
_CALLED = re.compile(r"^\W*called\s+(?:when|to|by|on|after|before|every|each|for|once|if|whenever)\b", re.IGNORECASE)
_ANONYMOUS = re.compile(r"^\s*function\s*\(")
_DEFAULT = re.compile(r"\(\s*default(?:s| is|:)?\s+`?([^`)]+?)`?\s*\)", re.IGNORECASE)
_FIELD_PARAM = re.compile(r"^(?:param|parameter|arg|argument|key|keyword)\s+(?:(?P<type>.+)\s+)?(?P<name>[\w.]+)$")
_FIELD_TYPE = re.compile(r"^(?:type|paramtype|ptype)\s+(?P<name>[\w.]+)$")
_FIELD_RETURN = re.compile(r"^(?:returns?|rtype|return\s+\w+|rtype\s+\w+)$")


@dataclass
class Candidate:
    index: int
    text: str
    form: CallForm | None  # None: a heading or title that names a callable, whose forms come from code below
    position: str
    marked: bool = False
    whole: bool = True
    name_only: bool = False  # named with `()` (or a title): its forms may come from the code under it
    loose: bool = False  # a bare word heading: only a code line calling that very name makes it an entry
    described: bool = False  # a description follows the signature on its own line
    context: tuple = ()
    shape: tuple = ()
    points: int = 0
    evidence: list[str] = field(default_factory=list)


@dataclass
class _Entry:
    candidate: Candidate
    name: str
    forms: list[CallForm]
    kind: str
    owner: str = ""
    extent: list[int] = field(default_factory=list)
    module: str = ""
    code: set[int] = field(default_factory=set)  # the code blocks its forms were read from
    aliases: list[str] = field(default_factory=list)  # method forms written beside its forms


def read_document(document: Document, report_file: str, layout=None) -> FileReading:
    """The entries of one document, with a skipped row for what could not be read and the candidates left out."""
    return _Reader(document, report_file, layout).read()


class _Reader:
    def __init__(self, document: Document, report_file: str, layout):
        self.doc, self.report_file, self.layout = document, report_file, layout
        self.blocks = document.blocks
        self.skipped: list[Skipped] = list(document.problems)
        self.rejected: list[Rejected] = []
        self.folder = PurePosixPath(document.path).parent.name
        self.role_cache: dict[tuple[int, int] | None, dict[int, str]] = {}
        self.contexts: dict[int, tuple[str, str, bool] | None] = {}

    # -- 1. candidates -----------------------------------------------------------------------------------------
    def read(self) -> FileReading:
        candidates = self.candidates()
        shapes = Counter(c.shape for c in candidates)
        entries = self.accept(candidates, shapes)
        api = self.build(entries)
        kept = sum(1 for e in api if e.kind in ("function", "method", "event"))
        signatures = sum(1 for c in candidates if c.form is not None)
        if api:
            summary = f"{kept} callable entries and {len(api) - kept} fields from {signatures} signature(s)"
        elif signatures or self.rejected:
            summary = f"{len(self.rejected)} line(s) that looked like signatures, each left out (see why above)"
        else:
            summary = "no line that reads as a Lua call signature"
        if api and self.rejected:
            summary += f"; {len(self.rejected)} line(s) that looked like signatures left out"
        return FileReading(api, self.skipped, signatures, self.rejected, summary)

    def candidates(self) -> list[Candidate]:
        out: list[Candidate] = []
        headings: list[tuple[int, int]] = []  # (level, block index) of the headings above
        module = ("", True)  # the module directive in force: (name, qualifies bare names)
        title_done = False
        c_sections: set[int] = set()  # headings whose section opens with a C prototype: a C API, not Lua's
        for index, block in enumerate(self.blocks):
            if self.ignored(block):
                continue
            if block.kind == "code" and headings and _C_PROTOTYPE.match(block.text):
                c_sections.add(headings[-1][1])
            if block.kind == "heading":
                while headings and headings[-1][0] >= block.level:
                    headings.pop()
            elif block.kind == "directive" and directive_kind(block.name) in ("module", "currentmodule"):
                module = (block.text.strip(), True)
                continue
            found = self.block_candidates(index, block)
            if block.kind == "front_matter" and not title_done:
                found = self.title_candidates(index)
                title_done = True
            in_c = any(h in c_sections for _, h in headings)
            for candidate in found:
                candidate.context = (tuple(h for _, h in headings), module, in_c)
                candidate.shape = (
                    "paragraph" if candidate.position == "line" else candidate.position,
                    block.level,
                    candidate.marked,
                    block.depth,
                    block.name,
                )
                out.append(candidate)
            if block.kind == "heading":
                headings.append((block.level, index))
        return out

    def context(self, index: int) -> tuple[str, str, bool] | None:
        """The module or type a heading names for what follows it (`context_of`), once per heading."""
        if index not in self.contexts:
            self.contexts[index] = context_of(self.blocks[index])
        return self.contexts[index]

    def ignored(self, block: Block) -> bool:
        return self.layout is not None and any(rule.matches(block) for rule in self.layout.ignore)

    def title_candidates(self, index: int) -> list[Candidate]:
        title = self.doc.title
        name = title.replace("()", "").strip()
        if not title or not is_name(name):
            return []
        return [Candidate(index, title, None, "title", name_only=True)]

    def block_candidates(self, index: int, block: Block) -> list[Candidate]:
        kind = block.kind
        if kind == "directive":
            lines = [line.strip() for line in block.text.split("\n") if line.strip()]
            out = []
            for line in lines:
                form = form_of(line)
                if form is not None and form.callable:
                    out.append(Candidate(index, line, form, "directive", marked=True))
                elif "(" in line or "{" in line:
                    self.reject(block.line, line, "a directive argument that cannot be read as a call signature")
            return out
        if kind == "heading":
            return self.heading_candidates(index, block)
        if kind == "term":
            codes = code_spans(block.pieces)
            calls = [c for c in codes if "(" in c or "{" in c]
            if calls:
                return [c for c in (self.whole(index, code, "term", True) for code in calls) if c is not None]
            found = self.whole(index, block.plain, "term", False)
            return [found] if found is not None else []
        if kind in ("row", "item", "paragraph") and not may_hold_signature(block):
            return []  # decided on the raw text, before any inline parsing
        if kind == "row":
            text, marked = leading_mark(block.pieces)
            found = self.whole(index, text or block.plain, "row", marked)
            return [found] if found is not None else []
        if kind == "item":
            text, marked = leading_mark(block.pieces)
            if not text:
                return []
            found = self.whole(index, text, "item", marked)
            return [found] if found is not None else []
        if kind == "paragraph":
            if "(" not in block.text and "{" not in block.text:
                return []
            code = block.lone_code
            if code is not None:
                found = self.whole(index, code, "paragraph", True)
                return [found] if found is not None else []
            lines = piece_lines(block.pieces)
            if len(lines) == 1:
                found = self.whole(index, plain_text(lines[0]), "paragraph", starts_marked(lines[0]))
            else:
                found = self.whole(index, plain_text(lines[0]), "line", starts_marked(lines[0]))
            return [found] if found is not None else []
        return []

    def heading_candidates(self, index: int, block: Block) -> list[Candidate]:
        text = block.plain
        code = block.lone_code
        if code is not None:
            text = code
        meaningful = [p for p in block.pieces if not (p.kind == "text" and not p.text.strip())]
        marked = code is not None or bool(meaningful) and meaningful[0].kind == "code"
        if "(" in text or "{" in text:
            found = self.whole(index, text, "heading", marked)
            if found is not None and found.form is not None and not found.form.params and text.rstrip().endswith("()"):
                found.name_only = True  # `## Widget()`: its forms may be in the code block under it
            if found is None and marked:  # a heading that starts with a signature in a code span
                first = code_spans(block.pieces)[0]
                found = self.whole(index, first, "heading", True) if "(" in first else None
            return [found] if found is not None else []
        name = text.strip().strip("`")
        if name.lower() in SECTION_WORDS or role_of(name, exact=True) or link_only(block):
            return []  # `### Parameters`, `## Functions`, a link to a page: never an entry here
        context = self.context(index)
        if is_name(name) and (context is None or not context[2]):  # a bare word may be a weak context and a name
            loose = "." not in name and ":" not in name and not name.startswith("_")
            return [Candidate(index, text, None, "heading", marked=marked, name_only=True, loose=loose)]
        return []

    def whole(self, index: int, text: str, position: str, marked: bool) -> Candidate | None:
        """A candidate when the whole text (bar returns after it) is a call signature, else None (with a rejected
        line when the text looks like one but is not)."""
        text = " ".join(text.split())
        if link_only(self.blocks[index]):
            if "(" in text:
                self.reject(
                    self.blocks[index].line, text, "a link to where it is documented (an index), not the entry"
                )
            return None
        if "(" not in text and "{" not in text and not text.endswith(('"', "'")):
            return None
        if role_of(text, exact=True) or role_of(text.split("(")[0].strip(), exact=True):
            return None  # a section title (`Syntax (old)`, `Returns (async version)`), not a signature
        form = form_of(text)
        line = self.blocks[index].line
        if form is not None and not form.callable and form.returns and position in ("row", "term"):
            return Candidate(index, text, form, position, marked=marked)  # `Vec2 Origin { get; }`: a typed field
        spaced = form is not None and form.callable and re.search(r"\s\(", text.split(")")[0])
        if spaced and not marked and not SEPARATOR.search(form.name):
            # `position (GPS)`, `Server only (ignored on clients)`: words and a parenthetical are a title; a
            # signature written with a space before `(` is qualified (`string.rep (s, n)`) or marked as code.
            return None
        if form is None or not form.callable:
            if re.match(r"^[\w.:]+\s*\(", text) and position not in ("paragraph", "line", "item"):
                self.reject(line, text, "looks like a signature but cannot be read as one")
            return None
        after = text[text.find(form.signature) + len(form.signature) :].strip() if form.signature in text else ""
        if after and not after.startswith(("->", "\u2192", ":", "-", "\u2014", "\u2013", "(")):
            return None  # a call inside a sentence: not a signature
        if position in ("paragraph", "line") and after.startswith(("-", "\u2014", "\u2013", "(")):
            return None
        described = False
        if after.startswith(":") and (after.rstrip().endswith(".") or len(after.split()) > 3):
            form.returns, described = [], True  # `f(x): Plays an item.`: a description, not a return type
        return Candidate(index, text, form, position, marked=marked, described=described)

    def reject(self, line: int, text: str, reason: str) -> None:
        self.rejected.append(Rejected(line, text, reason))

    # -- 2. evidence -----------------------------------------------------------------------------------------------
    def accept(self, candidates: list[Candidate], shapes: Counter) -> list[_Entry]:
        entries: list[_Entry] = []
        section: tuple[int, int, int] | None = None  # (entry index in `entries`, heading level, rank) of a section
        inside: dict[int, int] = {}  # block index -> entry index, for the container entries' children
        rules = self.layout.entries if self.layout is not None else []
        heading_at = 0
        for candidate in candidates:
            block = self.blocks[candidate.index]
            # Close the section entry at a heading as high as its own.
            while heading_at < candidate.index:
                b = self.blocks[heading_at]
                if section is not None and b.kind == "heading" and b.level <= section[1]:
                    section = None
                heading_at += 1
            if candidate.position in ("heading", "title") and section is not None and block.level <= section[1]:
                section = None
            owner = inside.get(candidate.index)
            if owner is not None:
                self.reject(
                    block.line,
                    candidate.text,
                    f"inside the entry {entries[owner].name} (a parameter,"
                    " callback or member of what it returns), not an entry of its own",
                )
                continue
            if section is not None and RANK[candidate.position] < section[2]:
                self.reject(
                    block.line,
                    candidate.text,
                    f"inside the entry {entries[section[0]].name}'s section"
                    " (a parameter, option or example of it), not an entry of its own",
                )
                continue
            veto = self.veto(candidate)
            if rules and not any(rule.matches(block) for rule in rules):
                self.reject(block.line, candidate.text, "not where the layout's `entries` put entries")
                continue
            if veto:
                self.reject(block.line, candidate.text, veto)
                continue
            if rules:
                candidate.evidence = ["layout"]
            else:
                self.score(candidate, shapes)
                if candidate.points < THRESHOLD:
                    seen = ", ".join(candidate.evidence) or "none"
                    self.reject(
                        block.line,
                        candidate.text,
                        f"too little evidence ({candidate.points} of {THRESHOLD}"
                        f" points: {seen}): a {candidate.position} that names no documented callable",
                    )
                    continue
            entry = self.entry(candidate)
            if entry is None:
                continue
            entries.append(entry)
            heading_at = candidate.index + 1
            if block.kind in ("item", "term", "directive", "row"):
                for child in self.doc.children(candidate.index):
                    inside.setdefault(child, len(entries) - 1)
            if candidate.position in ("heading", "title", "paragraph", "line"):
                level = block.level if candidate.position == "heading" else 0 if candidate.position == "title" else 7
                section = (len(entries) - 1, level, RANK[candidate.position])
        return entries

    def veto(self, candidate: Candidate) -> str:
        form = candidate.form
        if candidate.context and candidate.context[2]:
            return "in a section whose code is C (a C prototype opens it): the C API, not a Lua function"
        parent = self.blocks[candidate.index].parent
        while parent >= 0:
            container = self.blocks[parent]
            short = directive_kind(container.name)
            if container.kind == "directive" and short not in CONTAINER_DIRECTIVES and names_something(container.text):
                return f"inside the directive documenting {container.text.strip()!r}: a callback or part of it"
            parent = container.parent
        if form is None:
            return ""
        short = short_name(form.name)
        if short in LUA_KEYWORDS or form.name.replace(" ", "") in LUA_KEYWORDS:
            return "a Lua keyword, not a function"
        if _C_DECLARATION.search(form.signature) or _C_DECLARATION.search(candidate.text):
            return "a C declaration (pointers, `const`, a closing `;`), not a Lua signature"
        if candidate.position not in ("directive",) and written_as_values(form.signature):
            return "its arguments are values, not parameter names: an example call"
        return ""

    def score(self, candidate: Candidate, shapes: Counter) -> None:
        block = self.blocks[candidate.index]
        points = POSITION_POINTS[candidate.position]
        evidence = [f"{candidate.position} {points}"]
        if candidate.marked and candidate.position != "directive":
            points += 1
            evidence.append("marked 1")
        short = short_name(candidate.form.name if candidate.form else candidate.text)
        if block.anchor and short and short.lower() in block.anchor.lower():
            points += 1
            evidence.append("anchor 1")
        if self.described(candidate):
            points += 1
            evidence.append("description 1")
        if shapes[candidate.shape] >= REPEATED:
            points += 1
            evidence.append("repeated 1")
        candidate.points, candidate.evidence = points, evidence

    def described(self, candidate: Candidate) -> bool:
        """Whether prose follows the signature: in its block, its children, its row, or the next block."""
        index = candidate.index
        block = self.blocks[index]
        if candidate.described:
            return True
        if block.kind in ("item", "term", "directive"):
            if len(self.doc.children(index)) > 0:
                return True
            if block.kind == "item":
                return len(block.plain) > len(candidate.text) + 3
        if block.kind == "row":
            return any(cell.strip() for cell in (block.cells or [])[1:])
        if block.kind == "paragraph" and candidate.position == "line":
            return True
        following = index + 1
        while following < len(self.blocks) and self.blocks[following].kind == "front_matter":
            following += 1
        if following >= len(self.blocks):
            return False
        nxt = self.blocks[following]
        return nxt.kind in ("paragraph", "item", "quote", "code", "term") and nxt.depth >= block.depth

    # -- 3. context --------------------------------------------------------------------------------------------
    def entry(self, candidate: Candidate) -> _Entry | None:
        block = self.blocks[candidate.index]
        forms = [candidate.form] if candidate.form is not None else []
        written = forms[0].name.replace(" ", "") if forms else candidate.text.replace("()", "").strip().strip("`")
        extent = self.extent(candidate)
        used: set[int] = set()
        aliases: list[str] = []
        if candidate.name_only:
            found = self.code_forms(written, extent, candidate.loose, used, aliases)
            if found:
                forms = found
                full = found[0].name.replace(" ", "")
                if candidate.loose and SEPARATOR.search(full):
                    written = full  # `## area` over `geo.area(shape)`: the code names it in full
            elif candidate.loose:
                return None
            elif not forms and ("." in written or ":" in written or written.startswith("_")):
                forms = []  # a documented name without a call: a field
            elif not forms:
                return None
        if forms and not forms[0].callable:  # a typed property: a field, read with a dot
            written, forms = written.replace(":", "."), []
        name, owner = self.qualify(written, candidate, block)
        if not forms and candidate.form is not None:
            name = name.replace(":", ".")  # a typed property is read with a dot
        # method, function (`__x`: an event); a name with no signature anywhere (`# t:close`, "see ...") is not
        # read as a call: a field
        kind = Signature(name, [], callable=bool(forms)).kind
        kind = "field" if kind == "method" and not forms else kind
        if self.marked_event(block) or is_callback_name(name):
            kind = "event"
        module = module_of(name) if "." in name.split(":")[0] or ":" not in name and "." in name else ""
        module = module or self.context_module(
            candidate, fallback=owner or (name.split(":")[0] if ":" in name else "")
        )
        return _Entry(candidate, name, forms, kind, owner, extent, module, used, aliases)

    def context_module(self, candidate: Candidate, fallback: str = "") -> str:
        """The module a global's or method's page or section says it belongs to (`require` under `# `package``,
        `file:read` under `# `io``), else `fallback` (a method's type) or _G."""
        headings, (module, _), _ = candidate.context
        for index in reversed(headings):
            context = self.context(index)
            if context is not None and context[2] and context[1] == "module":
                return context[0]
        return module or fallback or "_G"

    def marked_event(self, block: Block) -> bool:
        """A directive that says it documents an event or an operator's metamethod (`.. x:event::`, `:objtype:
        event`, `.. x:operator::`)."""
        if block.kind != "directive":
            return False
        words = [directive_kind(block.name)] + [v.strip().lower() for v in (block.options or {}).values()]
        return any(w in ("event", "events", "callback", "operator") for w in words)

    def qualify(self, written: str, candidate: Candidate, block: Block) -> tuple[str, str]:
        """(qualified name, owner type) of a name as written, from its context."""
        if ":" in written:
            owner, method = written.rsplit(":", 1)
            if owner[:1].islower() and self.folder[:1].isupper() and IDENT.fullmatch(self.folder):
                owner = self.folder  # `object:resize` in types/Widget/: a placeholder for the page's type
            return f"{owner}:{method}", owner
        if "." in written:
            return written, ""
        method_like = block.kind == "directive" and directive_kind(block.name) in ("method", "classmethod")
        # A class directive the candidate is nested in.
        parent = block.parent
        while parent >= 0:
            container = self.blocks[parent]
            if container.kind == "directive" and directive_kind(container.name) in CONTAINER_DIRECTIVES:
                name = container.text.strip().split("\n")[0].split("(")[0].strip()
                if is_name(name):
                    return (f"{name}:{written}", name) if method_like else (f"{name}.{written}", "")
            parent = container.parent
        headings, (module, _), _ = candidate.context
        if block.kind == "directive" and "module" in (block.options or {}):
            module = (block.options or {})["module"].strip()  # `:module:` names it, or (empty) says: no module
            return (f"{module}.{written}" if module else written), ""
        strong = weak = None
        for index in reversed(headings):
            context = self.context(index)
            if (
                context is None
                and self.layout is not None
                and any(r.matches(self.blocks[index]) for r in self.layout.context)
            ):
                name = self.blocks[index].plain.strip("` ")
                context = (name, "module", True) if is_name(name) else None
            if context is None:
                continue
            if context[2] and strong is None:
                strong = context
            elif not context[2] and weak is None:
                weak = context
        chosen = strong or ((module, "module", True) if module else None) or weak
        if candidate.position in ("heading", "title") and block.kind != "directive":
            # A heading is written as the author calls it: a bare name there is a global (of the module in force).
            return written, ""
        if chosen is not None:
            name, kind, _ = chosen
            if name in ("_G", "_ENV") or name == written:  # a global, or the constructor named as its type
                return written, ""
            if kind == "type" or method_like:
                return f"{name}:{written}", name
            return f"{name}.{written}", ""
        anchored = anchor_name(block.anchor, written)
        if anchored:
            return anchored, anchored.rsplit(":", 1)[0] if ":" in anchored else ""
        return written, ""

    # -- 4. sections -------------------------------------------------------------------------------------------
    def extent(self, candidate: Candidate) -> list[int]:
        index = candidate.index
        block = self.blocks[index]
        if candidate.position in ("item", "term", "row") or self.doc.children(index):
            return self.doc.children(index)
        if candidate.position == "directive":  # a directive with no body: the text after it at its own level
            out = []
            for j in range(index + 1, len(self.blocks)):
                b = self.blocks[j]
                if b.depth < block.depth or b.kind in ("heading", "directive") and b.depth == block.depth:
                    break
                out.append(j)
            return out
        level = block.level if candidate.position == "heading" else 0 if candidate.position == "title" else 7
        out = []
        for j in range(index + 1, len(self.blocks)):
            b = self.blocks[j]
            if b.kind == "heading" and b.level <= level:
                break
            if candidate.position in ("paragraph", "line") and b.depth == 0 and self.signature_like(b):
                break
            if b.kind == "heading" and b.level > level and self.signature_like(b) and candidate.position != "title":
                break
            out.append(j)
        return out

    def signature_like(self, block: Block) -> bool:
        """A block that holds a signature of its own (cheap test: where another entry would start)."""
        if block.kind == "heading":
            text = block.lone_code or block.plain
            if "(" not in text or role_of(text.split("(")[0], exact=True) or link_only(block):
                return False
            form = form_of(text)
            return form is not None and form.callable
        if block.kind == "paragraph" and "(" in block.text and len(piece_lines(block.pieces)) == 1:
            text = block.lone_code or block.plain
            form = form_of(text)
            if form is None or not form.callable or written_as_values(form.signature) or form.signature not in text:
                return False
            after = text[text.find(form.signature) + len(form.signature) :].strip()
            return not after or after.startswith(("->", "\u2192", ":"))
        return False

    def code_forms(
        self, written: str, extent: list[int], loose: bool, used: set[int], aliases: list[str]
    ) -> list[CallForm]:
        """Forms of a named callable from the code blocks of its section: the lines that call its name, or an
        anonymous `function(a, b)` block; code under an example section is never a signature."""
        roles = self.roles(extent)
        short = short_name(written)
        blocks = [j for j in extent if self.blocks[j].kind == "code" and roles.get(j) != "examples"]
        preferred = [j for j in blocks if roles.get(j) == "signature"]
        forms: list[CallForm] = []
        first_heading = next((j for j in extent if self.blocks[j].kind == "heading"), len(self.blocks))
        for j in extent:  # `**Syntax:** *ok, err = ngx.say(...)*`: a label with the signature after it
            if roles.get(j) == "label:signature" and self.blocks[j].kind == "paragraph":
                rest = plain_text(label_of(self.blocks[j])[1]).strip()
                form = form_of(rest) if rest else None
                if form is not None and form.callable and short_name(form.name) == short:
                    forms.append(form)
        for j in preferred or blocks:
            code = self.blocks[j].text
            if _ANONYMOUS.match(code):
                if j > first_heading:
                    continue  # an anonymous signature under a heading of its own is that heading's
                form = form_of(written + anonymous_signature(code)[len("function") :])
                if form is not None and form.callable:
                    form.name = written
                    forms.append(form)
                    used.add(j)
                continue
            local_names = set(re.findall(r"^\s*local\s+(\w+)\s*=\s*require\b", code, re.MULTILINE))
            for line in statements(code)[:24]:
                if not line or short not in line:
                    continue
                form = form_of(line)
                if form is None or not form.callable or short_name(form.name) != short:
                    continue
                root = SEPARATOR.split(form.name.replace(" ", ""))[0]
                if root in local_names or (
                    loose and not re.match(r"^(?:local\s+)?(?:[\w, ]+=\s*)?[\w.:]+\s*\(", line)
                ):
                    continue  # a call through a module bound in the example: usage, not the signature
                if (":" in form.name) != (":" in written):  # `s:len()` under `string.len()`: its method form
                    aliases.append(form.name.replace(" ", ""))
                    continue
                forms.append(form)
                used.add(j)
            if forms and preferred:
                continue
            if forms:
                break
        return unique_forms(forms)

    def roles(self, extent: list[int]) -> dict[int, str]:
        """The role of each block of a section, from the sub-section headings and labels above it (a sub-section
        with a title of no role keeps its parent section's: `### From a file` under `## Syntax`)."""
        key = (extent[0], len(extent)) if extent else None
        if key not in self.role_cache:
            self.role_cache[key] = self.find_roles(extent)
        return self.role_cache[key]

    def find_roles(self, extent: list[int]) -> dict[int, str]:
        roles: dict[int, str] = {}
        sections: list[tuple[int, str]] = []  # (level, role) of the sub-section headings above
        label_role = ""
        for j in extent:
            b = self.blocks[j]
            if b.kind == "heading":
                while sections and sections[-1][0] >= b.level:
                    sections.pop()
                inherited = sections[-1][1] if sections else ""
                sections.append((b.level, role_of(b.plain) or inherited))
                roles[j], label_role = f"heading:{inherited}", ""
                continue
            if b.kind == "paragraph":
                label = label_of(b)
                if label is not None:
                    label_role = role_of(label[0])
                    if label_role:
                        roles[j] = f"label:{label_role}"
                        continue
            if label_role and b.kind in ("item", "paragraph", "code", "term", "row"):
                roles[j] = label_role
                if b.kind == "paragraph":
                    label_role = ""
                continue
            roles[j] = sections[-1][1] if sections else ""
        return roles

    # -- 5. building --------------------------------------------------------------------------------------------
    def build(self, entries: list[_Entry]) -> list[ApiEntry]:
        out: list[ApiEntry] = []
        by_name: dict[str, ApiEntry] = {}
        for entry in entries:
            api = self.api_entry(entry)
            if api is None:
                continue
            if api.name in by_name:  # written twice: one more form of the same entry
                first = by_name[api.name]
                if api.kind in ("function", "method", "event") and first.kind in ("function", "method", "event"):
                    merge_forms(first, api)
                continue
            by_name[api.name] = api
            out.append(api)
        return out

    def api_entry(self, entry: _Entry) -> ApiEntry | None:
        candidate = entry.candidate
        block = self.blocks[candidate.index]
        roles = self.roles(entry.extent)
        documented: dict[str, Param] = {}
        returns: list[Return] = []
        returns_seen = False
        description: list[str] = []
        examples: list[str] = []
        needs_host: list[int] = []
        aliases: list[str] = list(entry.aliases)
        form_names = {p.name for f in entry.forms for p in f.params}
        if block.kind == "item":
            rest = after_lead(block.pieces)
            if rest:
                description.append(rest)
        if block.kind == "row" and block.cells:
            description += [re.sub(r"<br\s*/?>", "\n", c).strip() for c in block.cells[1:] if c.strip()]
        skip_until_depth = None
        listing = -2  # the last block of a list being written into the description
        for j in entry.extent:
            b = self.blocks[j]
            role = roles.get(j, "")
            if skip_until_depth is not None and b.depth > skip_until_depth:
                continue
            skip_until_depth = None
            if role.startswith("heading:"):
                # A heading inside a syntax or parameters section names parameters (or an options table's keys).
                param = self.param_block(b, form_names, loose=role in ("heading:signature", "heading:params"))
                if param is not None:
                    documented.update({p.name: p for p in param})
                    self.param_type_from_next(entry.extent, j, param)
                continue
            if role.startswith("label:"):
                label, rest = label_of(b)
                label_role = role.split(":", 1)[1]
                if label_role == "returns" and not returns_seen:
                    for codes, words in value_groups(rest):
                        returns.append(Return(type="|".join(codes), description=words))
                    if not returns and plain_text(rest).strip():
                        returns.append(Return(description=plain_text(rest).strip()))
                elif label_role == "returns" or label_role not in ("params", "aliases", "examples"):
                    description.append(b.description)
                if label_role == "aliases":
                    aliases += [n for c in code_spans(rest) if (n := written_name(c))]
                continue
            field_depth = block.depth + (1 if block.kind in ("term", "directive", "item") else 0)
            if b.kind == "term" and b.depth == field_depth and self.field_term(b, j, entry, documented, returns):
                skip_until_depth = b.depth
                continue
            if role == "params" and b.kind in ("item", "row", "term", "paragraph"):
                param = self.param_block(b, form_names, loose=True)
                if param:
                    documented.update({p.name: p for p in param})
                    continue
            if role == "returns" and b.kind in ("item", "row", "paragraph") and not returns_seen:
                value = return_item(b)
                if value is not None:
                    returns.append(value)
                continue
            if role == "aliases":
                aliases += [n for c in code_spans(b.pieces) if (n := written_name(c))]
                continue
            if b.kind == "code":
                if j in entry.code or role == "signature":
                    continue
                if b.language in LUA_LANGUAGES and (b.language or role == "examples" or "(" in b.text):
                    if "needs-host" in b.info.split()[1:]:
                        needs_host.append(len(examples))
                    examples.append(b.text)
                continue
            if b.kind in ("item", "row", "term") and role != "examples":
                param = self.param_block(b, form_names)
                if param:
                    documented.update({p.name: p for p in param})
                    if b.kind == "heading":
                        continue
                    continue
            if b.kind == "quote":
                found = self.method_forms(j, entry)
                aliases += found
                if found:
                    skip_until_depth = b.depth
                continue
            if role in ("", "description", "signature") and b.kind in ("paragraph", "item", "row", "term"):
                base = block.depth + (1 if block.kind in ("item", "term", "directive") else 0)
                text = b.description
                parent = self.blocks[b.parent] if b.parent >= 0 else None
                if b.kind in ("item", "term") or (parent is not None and parent.kind == "item" and b.depth > base):
                    # A list is one description block, as written: `- item` lines, nested ones indented.
                    indent = "  " * max(0, b.depth - base - (0 if b.kind in ("item", "term") else 1))
                    marker = ("1. " if b.info == "ordered" else "- ") if b.kind in ("item", "term") else "  "
                    line = indent + marker + text
                    if description and listing == j - 1:
                        description[-1] += "\n" + line
                    else:
                        description.append(line)
                    listing = j
                    continue
                if parent is not None and parent.kind == "quote":
                    if key_value_rows(text):
                        continue  # a page's metadata table (`__Type__ Function` rows), not its description
                    text = "> " + text.replace("\n", "\n> ")
                description.append(text)
            if role == "returns":
                returns_seen = True
        forms = entry.forms
        for form in forms:
            type_params(form, documented, single=len(forms) == 1)
        aliases += [
            written_name(f.signature) or "" for f in forms if f.name and short_name(f.name) != short_name(entry.name)
        ]
        aliases = [a for a in dict.fromkeys(aliases) if a and a != entry.name]
        first = forms[0] if forms else None
        module = entry.module or module_of(entry.name)
        text = "\n\n".join(d.strip() for d in description if d.strip())
        kind = "event" if entry.kind in ("function", "method") and _CALLED.match(text) else entry.kind
        signatures = [requalify(f.signature, entry.name) for f in forms]
        signature = "\n".join(signatures) if forms else entry.name
        api = ApiEntry(
            name=entry.name,
            kind=kind,
            module=module,
            signature=signature,
            params=list(first.params) if first else [],
            returns=returns or (list(first.returns) if first else []),
            description=text,
            examples=examples,
            aliases=aliases,
            source=Source(self.doc.path, block.line),
            needs_host=needs_host,
            forms=[CallForm(sig, f.params, f.returns) for sig, f in zip(signatures, forms, strict=True)]
            if len(forms) > 1
            else [],
            owner=entry.owner or (entry.name.split(":")[0] if ":" in entry.name else ""),
        )
        try:
            api.validate(f"{self.report_file}:{block.line}")
        except ApiError as exc:
            self.skipped.append(Skipped(self.report_file, block.line, f"entry {entry.name!r}", str(exc)))
            return None
        return api

    def method_forms(self, quote: int, entry: _Entry) -> list[str]:
        """`> method form `sock:bind(host, port)``: a call written as a method of its first argument (its other
        parameters, those of the entry after the first) is an alias."""
        found = []
        for j in [quote, *self.doc.children(quote)]:
            for code in code_spans(self.blocks[j].pieces):
                form = form_of(code)
                if form is None or not form.callable or ":" not in form.name:
                    continue
                for own in entry.forms:
                    rest = [p.name for p in own.params[1:]]
                    if own.params and all(p.name in rest for p in form.params):
                        found.append(form.name.replace(" ", ""))
                        break
        return found

    def field_term(
        self, b: Block, at: int, entry: _Entry, documented: dict[str, Param], returns: list[Return]
    ) -> bool:
        """reST field lists and `<dl>` terms: `:param type name: text`, `:paramtype name: type`, `:returns: text`."""
        words = " ".join(b.plain.split())
        body = " ".join(self.blocks[k].plain for k in self.doc.children(at) if self.blocks[k].plain)
        match = _FIELD_PARAM.match(words)
        if match:
            name = match.group("name")
            param = documented.setdefault(name, Param(name=name))
            param.type = match.group("type") or param.type
            param.description = body
            param.optional = param.optional or bool(re.match(r"^\s*\(?optional\b", body, re.IGNORECASE))
            return True
        match = _FIELD_TYPE.match(words)
        if match:
            param = documented.setdefault(match.group("name"), Param(name=match.group("name")))
            param.type = body or param.type
            return True
        if _FIELD_RETURN.match(words.lower()):
            if words.lower().startswith("rtype") and returns:
                returns[-1].type = body
            elif words.lower().startswith("rtype"):
                returns.append(Return(type=body))
            else:
                returns.append(Return(description=body, name=words.split()[1] if " " in words else ""))
            return True
        return False

    def param_block(self, b: Block, names: set[str], loose: bool = False) -> list[Param] | None:
        """The parameters a block documents, when it starts with the name of one (or is in a params section)."""
        if b.kind == "row":
            return self.param_row(b, names, loose)
        head = b.text[:120]
        if not loose and not any(n in head for n in names if n != VARARG) and "..." not in head:
            return None  # decided on the raw text, before any inline parsing
        pieces = b.pieces
        lead, _ = leading_mark(pieces, any_mark=True)
        text = b.plain
        raw_names = lead or re.split(r"[\s:(\u2014-]", text.strip(), maxsplit=1)[0]
        candidates = [n.strip(" []*_`") for n in re.split(r"[,/]", raw_names) if n.strip(" []*_`")]
        known = bool(candidates) and all(n in names or n == VARARG for n in candidates)
        if not known and not (loose and candidates and all(IDENT.fullmatch(n) or n == VARARG for n in candidates)):
            return None
        parsed = split_item(pieces, colon_types=True)
        types = "|".join(parsed.types) if parsed is not None and parsed.types else ""
        rest = text[len(raw_names) :] if text.startswith(raw_names) else text
        if not types:
            emphasised = first_emphasis(pieces, skip_first=bool(lead))
            if emphasised:
                types = emphasised
        flags = set(parsed.flags) if parsed is not None else set()
        optional = "optional" in flags or bool(re.search(r"\(\s*optional\s*\)|\boptional\b", rest[:60], re.IGNORECASE))
        optional = optional or raw_names.strip().startswith("[")
        default = _DEFAULT.search(rest)
        description = parsed.description if parsed is not None else rest.lstrip(" :-\u2014").strip()
        if types and parsed is None:  # `**path** - _string_ - where it is`
            description = re.sub(r"^\W*" + re.escape(types) + r"\W*", "", description).strip() or description
        return [
            Param(
                name=n,
                type=types or "any",
                optional=optional or n == VARARG,
                description=description,
                default=default.group(1).strip(".") if default else "",
            )
            for n in candidates
        ]

    def param_row(self, b: Block, names: set[str], loose: bool) -> list[Param] | None:
        cells = b.cells or []
        headers = [h.lower() for h in (b.headers or [])]
        first = cells[0].strip("`*_ []") if cells else ""
        if not first or (first not in names and not loose):
            return None

        def column(*words: str) -> str:
            for k, h in enumerate(headers):
                if any(w in h for w in words) and k < len(cells):
                    return cells[k].strip()
            return ""

        optional_cell = column("optional", "required").lower()
        optional = optional_cell in ("yes", "true", "optional", "y", "x", "\u2713")
        if "required" in " ".join(headers) and optional_cell in ("no", "false", "n"):
            optional = True
        return [
            Param(
                name=first,
                type=column("type").strip("`") or "any",
                optional=optional or bool(column("default")),
                description=column("description", "meaning", "desc"),
                default=column("default").strip("`"),
            )
        ]

    def param_type_from_next(self, extent: list[int], at: int, params: list[Param]) -> None:
        """A parameter named by a heading (`##### gray (optional)`): its type leads the paragraph after it."""
        position = extent.index(at)
        if position + 1 >= len(extent):
            return
        nxt = self.blocks[extent[position + 1]]
        if nxt.kind != "paragraph":
            return
        types = leading_emphasis_types(nxt.pieces)
        text = nxt.plain
        if types:  # the description is what follows the emphasised types
            text = re.sub(r"^[^.]*?" + re.escape(types[-1]) + r"\W*", "", text, count=1).strip()
        for param in params:
            if types:
                param.type = "|".join(types)
            param.description = text
