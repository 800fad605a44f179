"""What the text of a block says, read the same way for every format: whether it could hold a signature, its
leading code or bold text, its label and the section role it gives, the module or type a heading names, a call's
arguments written as values or prose, the parameter and return items under a signature. The signature-first reader
(reader.py) decides with these."""

from __future__ import annotations

import re

from luacoder.apidocs.call_forms import IDENT, parse_call_form, split_top
from luacoder.apidocs.inline import Piece, alternatives, bold_label, markdown_text, plain_text, split_item
from luacoder.apidocs.model import Block
from luacoder.apidocs.schema import VARARG, ApiEntry, ApiError, CallForm, Param, Return

# Section titles and labels, matched on their first words in lower case.
ROLE_TITLES = {
    "params": ("parameters", "parameter", "params", "param", "arguments", "argument", "args", "arg"),
    "returns": ("returns", "return", "result", "results", "return value", "return values"),
    "examples": ("example", "examples", "sample", "samples"),
    "aliases": ("alias", "aliases", "method form"),
    "signature": ("syntax", "signature", "signatures", "synopsis", "usage", "prototype", "declaration"),
}
_ROLE_OF = {word: role for role, words in ROLE_TITLES.items() for word in words}
# Words that title a part of a page, never a module: a heading made of one of them names no context.
SECTION_WORDS = {w for titles in ROLE_TITLES.values() for w in titles} | {
    "overview", "description", "details", "notes", "note", "see", "functions", "function", "methods", "method",
    "properties", "fields", "constants", "events", "callbacks", "types", "classes", "modules", "reference", "api",
    "index", "contents", "introduction", "summary", "remarks", "gotchas", "deprecated", "changes", "license",
}  # fmt: skip
MODULE_WORDS = ("module", "library", "package", "namespace", "table")
TYPE_WORDS = ("class", "type", "object", "interface", "struct")
TYPE_MEMBERS = ("methods", "properties", "commands", "members", "fields", "attributes")
MODULE_MEMBERS = ("functions",)
_TITLED = re.compile(
    r"^(?:the\s+)?(?:(?P<word1>[a-z]+)\s+(?P<name1>`?[\w.:]+`?)|(?P<name2>`?[\w.:]+`?)\s+(?P<word2>[a-z]+))"
    r"(?:\s+(?:reference|api|overview))?\s*$",
    re.IGNORECASE,
)
_LABEL = re.compile(r"^\s*([A-Za-z][A-Za-z ()]{1,40}?)\s*:")
_VALUE = re.compile(r"""^(?:-?\d[\w.]*|"[^"]*"|'[^']*'|true|false|nil|(?!function\b)[\w.:]+\s*\(.*\))$""")
_PARAM_WORDS = re.compile(r"^[\w.\[\]|<>?*:\u00b7\u2026]+(?:\s+[\w.\[\]|<>?*:]+){0,2}$")
SEPARATOR = re.compile(r"[.:]")  # between the parts of a qualified name
_RAW_CODE_LEAD = re.compile(r"^\s*`([^`]*)`")


def form_of(text: str) -> CallForm | None:
    try:
        return parse_call_form(text)
    except ApiError:
        return None


def is_name(text: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z_]\w*(?:[.:][A-Za-z_]\w*)*", text))


def may_hold_signature(block: Block) -> bool:
    """A cheap test on a block's raw text: whether its first line (marks dropped) could be a whole signature."""
    raw = block.text
    if "(" not in raw and "{" not in raw and not raw.rstrip().endswith(('"', "'")):
        return False
    if block.kind == "item" and raw.lstrip()[:1] not in ("`", "*", "_", "[", "<"):
        return False
    lead = _RAW_CODE_LEAD.match(raw)
    if block.kind in ("item", "row") and lead and "(" not in lead.group(1) and "{" not in lead.group(1):
        return False  # `- `name` (`type`): text`: a parameter, not a signature
    first = raw.split("\n", 1)[0]
    if "(" not in first and "{" not in first and "`" not in first:
        return False
    return not (block.kind == "paragraph" and raw.count("(") > 8 and "`" not in raw[:2] and "\n" in raw)


def anonymous_signature(code: str) -> str:
    """`function(` / `  a : string` / `  [b] : int` / `) : t`, one parameter a line (commas or not), on one line."""
    lines = [line.strip().rstrip(",") for line in code.strip().split("\n")]
    if len(lines) < 2 or not lines[-1].startswith(")"):
        return " ".join(code.split())
    params = [re.sub(r"^\[([\w.]+)\]\s*:\s*(.+)$", r"[\1 : \2]", p) for p in lines[1:-1] if p]
    return "function(" + ", ".join(params) + lines[-1]


def statements(code: str) -> list[str]:
    """The lines of a code block with comments dropped, a call whose brackets stay open joined to the lines that
    close them (`w:add{ id=string,` ... `}`)."""
    out: list[str] = []
    pending = ""
    for line in code.split("\n"):
        line = line.split("--")[0].rstrip()
        pending = f"{pending} {line.strip()}" if pending else line.strip()
        depth = sum(pending.count(c) for c in "({[") - sum(pending.count(c) for c in ")}]")
        if depth <= 0 or len(pending) > 2000:
            if pending:
                out.append(pending)
            pending = ""
    if pending:
        out.append(pending)
    return out


def names_something(text: str) -> bool:
    first = text.strip().split("\n")[0]
    form = form_of(first)
    return form is not None and is_name(form.name.replace(" ", ""))


def is_callback_name(name: str) -> bool:
    """`button.click_callback`, `timer.callback`: the signature of a function the host calls, not one to call."""
    short = short_name(name).lower()
    return short == "callback" or short.endswith("_callback")


def short_name(name: str) -> str:
    return SEPARATOR.split(name.replace(" ", "").replace("()", ""))[-1]


def directive_kind(name: str) -> str:
    return name.rsplit(":", 1)[-1].lower()


def module_of(name: str) -> str:
    return SEPARATOR.split(name)[0] if SEPARATOR.search(name) else "_G"


def written_name(text: str) -> str:
    form = form_of(text)
    return form.name.replace(" ", "") if form is not None else ""


def requalify(signature: str, name: str) -> str:
    """`object:resize( w, h )` under `Widget:resize`: the signature written with the entry's name."""
    if signature.startswith(name) and signature[len(name) :].lstrip()[:1] in ("(", "{", '"', "'", ""):
        return signature  # written with it already (the usual case: no need to read the signature again)
    form = form_of(signature)
    if form is None:
        return signature
    written = form.name.replace(" ", "")
    if written == name or short_name(written) != short_name(name) or "." in written and ":" not in written:
        return signature
    start = signature.find(form.name)
    return signature[:start] + name + signature[start + len(form.name) :] if start >= 0 else signature


def unique_forms(forms: list[CallForm]) -> list[CallForm]:
    seen, out = set(), []
    for form in forms:
        key = " ".join(form.signature.split())
        if key not in seen:
            seen.add(key)
            out.append(form)
    return out


def merge_forms(entry: ApiEntry, other: ApiEntry) -> None:
    forms = entry.forms or [CallForm(entry.signature, entry.params, list(entry.returns))]
    extra = other.forms or [CallForm(other.signature, other.params, list(other.returns))]
    known = {" ".join(f.signature.split()) for f in forms}
    forms += [f for f in extra if " ".join(f.signature.split()) not in known]
    if len(forms) > 1:
        entry.forms = forms
        entry.signature = "\n".join(f.signature for f in forms)
    entry.examples += [e for e in other.examples if e not in entry.examples]
    entry.description = entry.description or other.description


def written_as_values(signature: str) -> bool:
    """Whether a call's arguments are written as values (`f(1, "x")`, `f(g(x))`), as an example call is."""
    start, end = signature.find("("), signature.rfind(")")
    if start < 0 or end <= start:
        return False
    inside = signature[start + 1 : end].replace("[", "").replace("]", "")
    for raw in split_top(inside):
        raw = raw.strip()
        name_part = raw.split("=")[0].strip()
        if name_part and not _PARAM_WORDS.match(name_part) and not name_part.startswith(("function", "{", "...")):
            return True  # `e.g. server = http://...`: prose in parentheses, not parameters
        if not raw or "=" in raw:
            continue
        if _VALUE.match(raw) or re.search(r"\s[-+*/%^]\s|^#", raw):  # a literal, a call, an expression
            return True
    return False


def piece_lines(pieces: list[Piece]) -> list[list[Piece]]:
    lines: list[list[Piece]] = [[]]
    for piece in pieces:
        if piece.kind == "break":
            lines.append([])
        elif piece.kind == "text" and "\n" in piece.text:
            parts = piece.text.split("\n")
            lines[-1].append(Piece("text", parts[0]))
            for part in parts[1:]:
                lines.append([Piece("text", part)])
        else:
            lines[-1].append(piece)
    return [line for line in lines if plain_text(line)]


def key_value_rows(text: str) -> bool:
    lines = [line.strip() for line in text.split("\n") if line.strip() and not set(line.strip()) <= set("-= ")]
    return bool(lines) and sum(1 for line in lines if re.match(r"^(__|\*\*)[^_*]+(__|\*\*)", line)) * 2 >= len(lines)


def link_only(block: Block) -> bool:
    """Whether a heading, item or row is nothing but a link (`## [net.send()][api.net.send]`)."""
    source = block.source.strip()
    if source.startswith("[") and source.endswith(("]", ")")) and block.kind != "code":
        return True
    items = [p for p in block.pieces if not (p.kind == "text" and not p.text.strip())]
    return len(items) >= 2 and items[0].kind == "link_open" and items[-1].kind == "link_close"


def starts_marked(pieces: list[Piece]) -> bool:
    meaningful = [p for p in pieces if not (p.kind == "text" and not p.text.strip())]
    return bool(meaningful) and meaningful[0].kind in ("code", "strong_open")


def leading_mark(pieces: list[Piece], any_mark: bool = False) -> tuple[str, bool]:
    """The code span, bold (or, with `any_mark`, emphasised) text a block starts with, and whether there is one."""
    items = [p for p in pieces if not (p.kind == "text" and not p.text.strip())]
    if not items:
        return "", False
    first = items[0]
    if first.kind == "code":
        return first.text, True
    opening = {"strong_open": "strong_close"}
    if any_mark:
        opening["em_open"] = "em_close"
    if first.kind in opening:
        close = next((i for i, p in enumerate(items) if p.kind == opening[first.kind]), None)
        if close is not None:
            return plain_text(items[1:close]).strip(), True
    if first.kind == "link_open":
        close = next((i for i, p in enumerate(items) if p.kind == "link_close"), None)
        inner = items[1:close] if close is not None else []
        if inner and inner[0].kind == "code":
            return inner[0].text, True
    return "", False


def after_lead(pieces: list[Piece]) -> str:
    text, marked = leading_mark(pieces)
    if not marked:
        return ""
    full = plain_text(pieces)
    at = full.find(text)
    rest = full[at + len(text) :] if at >= 0 else ""
    return rest.strip().lstrip(":-\u2014 ").strip()


def first_emphasis(pieces: list[Piece], skip_first: bool) -> str:
    """The first emphasised or code text after a parameter's name (`- _string_ -`, `(`string`)`)."""
    seen_lead = not skip_first
    depth_start = None
    for i, piece in enumerate(pieces):
        if piece.kind in ("strong_open", "em_open") and depth_start is None:
            depth_start = i
            continue
        if piece.kind in ("strong_close", "em_close") and depth_start is not None:
            text = plain_text(pieces[depth_start + 1 : i]).strip(" .")
            depth_start = None
            if not seen_lead:
                seen_lead = True
                continue
            return text
        if piece.kind == "code" and depth_start is None:
            if not seen_lead:
                seen_lead = True
                continue
            return piece.text
        if piece.kind == "text" and depth_start is None and seen_lead and piece.text.strip(" -:\u2014()"):
            return ""
    return ""


def leading_emphasis_types(pieces: list[Piece]) -> list[str]:
    """`_[Number][api.type.Number]._ text`, `_[String]_ or _[Table]._`: the emphasised types a paragraph opens with."""
    types, rest = [], [p for p in pieces if not (p.kind == "text" and not p.text.strip())]
    while rest and rest[0].kind == "em_open":
        close = next((i for i, p in enumerate(rest) if p.kind == "em_close"), None)
        if close is None:
            break
        types.append(plain_text(rest[1:close]).strip().rstrip(".").strip())
        rest = rest[close + 1 :]
        between = rest[0].text.strip().lower() if rest and rest[0].kind == "text" else ""
        if between in ("or", ",", "|") and len(rest) > 1 and rest[1].kind == "em_open":
            rest = rest[1:]
    return [t for t in types if t]


def label_of(block: Block) -> tuple[str, list[Piece]] | None:
    """(`parameters`, rest) of a paragraph opening with a label: `**Parameters:**`, `Returns:`, `__Usage__`."""
    if not block.text.lstrip().startswith(("*", "_")) and ":" not in block.text[:44]:
        return None
    pieces = block.pieces
    label = bold_label(pieces)
    if label is not None:
        return label[0].lower(), label[1]
    if pieces and pieces[0].kind == "text":
        match = _LABEL.match(pieces[0].text)
        if match and role_of(match.group(1), exact=True):
            return match.group(1).strip().lower(), [Piece("text", pieces[0].text[match.end() :]), *pieces[1:]]
    return None


def role_of(title: str, exact: bool = False) -> str:
    """The role a section title or label gives: `Returns (async version)` returns; with `exact`, only a title that
    is the word itself (a plain `Returns the registry:` opens no section)."""
    title = " ".join(title.lower().replace("_", " ").split()).strip(" :")
    words = title.split(" ")
    tries = [title, title.split(" (")[0]] if exact else [title, title.split(" (")[0], " ".join(words[:2]), words[0]]
    for key in tries:
        if key in _ROLE_OF:
            return _ROLE_OF[key]
    return ""


def context_of(block: Block) -> tuple[str, str, bool] | None:
    """(name, "module" or "type", strong) for a heading that names the module or type of what follows it."""
    if block.kind != "heading":
        return None
    code = block.lone_code
    if code is not None:
        code = code.strip()
        if IDENT.fullmatch(code) and not code.startswith("_"):
            return code, "type" if code[:1].isupper() else "module", True
        return None
    pieces = [p for p in block.pieces if not (p.kind == "text" and not p.text.strip())]
    if pieces and pieces[0].kind == "code" and is_name(pieces[0].text.strip()) and len(pieces) > 1:
        after = plain_text(pieces[1:]).strip()
        if after[:1] in (":", "-", "\u2014", "\u2013"):  # `` `string`: string manipulation ``
            name = pieces[0].text.strip()
            return name, "type" if name[:1].isupper() and "." not in name else "module", True
    text = block.plain.strip()
    match = _TITLED.match(text)
    if match:
        word = (match.group("word1") or match.group("word2")).lower()
        name = (match.group("name1") or match.group("name2")).strip("`")
        if is_name(name) and name.lower() not in SECTION_WORDS:
            if word in MODULE_WORDS or word in MODULE_MEMBERS:
                return name, "module", True
            if word in TYPE_WORDS or word in TYPE_MEMBERS:
                return name, "type", True
    first = re.split(r"\s*/\s*|\s+", text)
    if len(first) >= 2 and is_name(first[0]) and first[0].lower() not in SECTION_WORDS:
        # `Player Properties / Commands`: the members of a type. `X functions` names a module only when X is
        # written as code (`Utility functions` is a kind of function, not a module).
        if first[1].lower() in TYPE_MEMBERS and first[0][:1].isupper():
            return first[0], "type", True
        if first[1].lower() in MODULE_MEMBERS and pieces and pieces[0].kind == "code":
            return first[0], "module", True
    if IDENT.fullmatch(text) and not text.startswith("_") and text.lower() not in SECTION_WORDS and block.level > 1:
        return text, "module", False  # `### Player` over a table of its functions (a page's title names no module)
    return None


def anchor_name(anchor: str, written: str) -> str:
    """The qualified name an anchor id gives a bare name: `api-string.format` for `format`."""
    if not anchor:
        return ""
    match = re.search(r"([A-Za-z_][\w]*(?:[.:][A-Za-z_]\w*)+)$", anchor)
    if match and short_name(match.group(1)) == written:
        return match.group(1)
    return ""


def return_item(block: Block) -> Return | None:
    pieces = block.pieces
    parsed = split_item(pieces, colon_types=False)
    if parsed is None:
        text = block.plain.strip()
        return Return(description=text) if text else None
    if parsed.types:  # `name` (`type`): description
        return Return(name=parsed.first, type="|".join(parsed.types), description=parsed.description)
    codes, rest = alternatives([Piece("code", parsed.first), *parsed.rest])
    return Return(type="|".join(codes), description=markdown_text(rest).lstrip(":").strip())


def type_params(form: CallForm, documented: dict[str, Param], single: bool) -> None:
    """Types and descriptions of the form's parameters from the blocks that document them; their optional marks and
    defaults count where the form is the entry's only one (several forms are each a whole call, as written).
    Documented names that the signature does not have, under a call that takes one argument, are that argument's
    keys (an options table)."""
    named = {p.name for p in form.params}
    for param in form.params:
        doc = documented.get(param.name)
        if doc is None:
            continue
        if param.type == "any" and doc.type != "any":
            param.type = doc.type
        param.description = param.description or doc.description
        if single:
            param.optional = param.optional or doc.optional
            param.default = param.default or doc.default
    keys = [p for name, p in documented.items() if name not in named and name != VARARG]
    real = [p for p in form.params if p.name != VARARG]
    if keys and len(real) == 1 and not any(name in named for name in documented):
        real[0].fields = [Param(p.name, p.type, p.optional, p.description, p.default) for p in keys]
        real[0].type = real[0].type if real[0].type != "any" else "table"
