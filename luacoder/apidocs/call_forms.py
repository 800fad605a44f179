"""Call signatures as real docs write them, read into one `CallForm` each.

    parse_call_form("ok, err = ngx.say(a, b?)")           # returns ok, err; b optional
    parse_call_form("string.rep (s, n [, sep])")           # Lua manual: a space before "(", nested [ ]
    parse_call_form("display.newImageRect( [parent,] filename, [baseDir,] width, height )")
    parse_call_form("int BuildTime(string type, string queue = nil)")   # C#-typed, default => optional
    parse_call_form("core.get_player_privs(name) -> {priv1=true,...}")  # returns after the call
    parse_call_form("load (chunk [, chunkname [, mode [, env]]])")

Optional marks read: `[x]`, `[, x]`, `[x,]` (nested too), `x?`, `x (optional)`, `x = default`, `x|nil`; varargs
`...`, `···` (the manual's &middot;), `…`, `args...`; inline callbacks `function(a, b)` and table literals `{...}`
are one parameter each. What cannot be read is an ApiError saying why, for the caller's skipped row.
"""

from __future__ import annotations

import re

from luacoder.apidocs.schema import VARARG, ApiError, CallForm, Param, Return

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\s*[.:]\s*[A-Za-z_][A-Za-z0-9_]*)*")
TYPE_WORD = re.compile(r"[A-Za-z_][\w.]*(?:\[\]|<[\w, ]+>|\?)*")
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VARARG_SPELLINGS = ("...", "\u00b7\u00b7\u00b7", "\u2026", "&middot;&middot;&middot;")
# `x (optional)`, `optional x`; a last word `optional` is a name (`bool optional`), not a mark
_OPTIONAL_WORD = re.compile(r"\(\s*optional\s*\)|\boptional\b(?!\s*$)", re.IGNORECASE)
_LEAD_WORDS = ("local ", "function ")
_PARAM_MARK = re.compile(r"[\[({,]")
_LITERAL_ARGUMENT = re.compile(r"(?<=[\w\s])(\{|\"[^\"]*\"\s*$|'[^']*'\s*$)")


def _vararg(text: str) -> bool:
    return any(text.strip().endswith(v) for v in _VARARG_SPELLINGS)


def split_top(text: str, separators: str = ",") -> list[str]:
    """Split at separators that are outside (), {}, [] and quotes."""
    parts, depth, current, quote = [], 0, "", ""
    for ch in text:
        if quote:
            current += ch
            if ch == quote:
                quote = ""
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "({[":
            depth += 1
        elif ch in ")}]":
            depth -= 1
        if depth == 0 and ch in separators:
            parts.append(current)
            current = ""
            continue
        current += ch
    parts.append(current)
    return parts


def _closing(text: str, start: int) -> int:
    """Index of the parenthesis closing the one at `start`, or -1."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


def parse_call_form(text: str) -> CallForm:
    """One written signature as a CallForm (see the module docstring); raises ApiError when it is not one."""
    original = text
    text = " ".join(text.replace("`", " ").split()).strip().rstrip(";").strip()
    if text.startswith(("--", "//", "#")):
        raise ApiError(f"a comment, not a signature: {original.strip()!r}")
    for word in _LEAD_WORDS:
        if text.startswith(word):
            text = text[len(word) :].lstrip()
    returns: list[Return] = []
    paren = text.find("(")
    brace = text.find("{")
    if 0 <= brace < paren:  # `f{ a = g() }`: a call with one table, whatever the table holds
        paren = -1
    head = text if paren < 0 else text[:paren]
    # `ok, err = f(...)`: the names before `=` are what it returns.
    if "=" in head and "==" not in head:
        lhs, head_rest = head.split("=", 1)
        names = [n.strip() for n in lhs.split(",")]
        if names and all(IDENT.fullmatch(n) for n in names):
            returns = [Return(name=n) for n in names]
            text = text[text.index("=", 0) + 1 :].strip()
            paren = text.find("(")
            brace = text.find("{")
            if 0 <= brace < paren:
                paren = -1
            head = text if paren < 0 else text[:paren]
    head = head.strip()
    literal = _LITERAL_ARGUMENT.search(head) if paren < 0 else None
    if literal:  # `f{ key = value }`, `f "text"`: Lua's call with one table or string argument
        head = head[: literal.start()].strip()
        if len(head.split()) > 1:  # `WPos Position { get; set; }`: a typed property, not a call
            words = head.split()
            return CallForm(
                signature=text, params=[], returns=[Return(type=" ".join(words[:-1]))], callable=False, name=words[-1]
            )
    # C#-style or C-style `int BuildTime(...)`, `Actor[] Actors(...)`: a return type before the name.
    words = head.split()
    if 2 <= len(words) <= 3 and NAME.fullmatch(words[-1]) and all(TYPE_WORD.fullmatch(w) for w in words[:-1]):
        returns = returns or [Return(type=" ".join(words[:-1]))]
        head = words[-1]
    name = re.sub(r"\s+", "", head)
    if not name or not NAME.fullmatch(name) or not NAME.fullmatch(head):  # `Collision info passed to f(x)`
        raise ApiError(f"cannot read a name from the signature {original.strip()!r}")
    if paren < 0:
        return _table_or_string_call(text, name, returns, original)
    close = _closing(text, paren)
    if close < 0:
        raise ApiError(f"unbalanced parentheses in the signature {original.strip()!r}")
    params = parse_params(text[paren + 1 : close])
    after = text[close + 1 :].strip()
    if after.startswith(("->", "\u2192", ":")):
        value = after.lstrip("->\u2192:").strip()
        if value and not returns:
            returns = [Return(type=value)]
    return CallForm(signature=text[: close + 1], params=params, returns=returns, callable=True, name=name)


def _table_or_string_call(text: str, name: str, returns: list[Return], original: str) -> CallForm:
    """A name alone is a field; `f{...}` and `f "..."` are calls with one argument (a table, a string)."""
    literal = _LITERAL_ARGUMENT.search(text)
    if literal is None:
        return CallForm(signature=text, params=[], returns=returns, callable=False, name=name)
    argument = text[literal.start() :].strip()
    if argument.startswith("{"):
        end = _matching(argument, 0, "{", "}")
        after = argument[end + 1 :].strip()
        if after.startswith(("->", "\u2192", ":")) and not returns:
            returns = [Return(type=after.lstrip("->\u2192:").strip())]
        elif after:
            raise ApiError(f"text after the table argument of {original.strip()!r}")
        text = text[: literal.start()].rstrip() + argument[: end + 1]
        param = Param(name="table", type="table")
    else:
        param = Param(name="value", type="string")
    return CallForm(signature=text, params=[param], returns=returns, callable=True, name=name)


def parse_params(inside: str) -> list[Param]:
    """The parameters between a call's parentheses; brackets mark what may be left out."""
    params: list[Param] = []
    if inside.strip() == "void":  # C's `f(void)`: no parameters
        return params
    _read_params(inside, False, params)
    return params


def _read_params(text: str, optional: bool, params: list[Param]) -> None:
    i, current = 0, ""
    while i < len(text):
        found = _PARAM_MARK.search(text, i)  # the next bracket or comma; what comes before it is the parameter's
        if found is None:
            current += text[i:]
            break
        current += text[i : found.start()]
        i = found.start()
        ch = text[i]
        if text.startswith("[]", i) and current.strip():  # `Actor[] actors`: an array type, not an optional part
            current += "[]"
            i += 2
            continue
        if ch == "[":
            end = _matching_bracket(text, i)
            if end < 0:  # `[arg1 [, ...]`: a bracket never closed; what follows it is still optional
                end = len(text)
            _add(current, optional, params)
            current = ""
            _read_params(text[i + 1 : end], True, params)
            end = min(end, len(text) - 1)
            i = end + 1
            continue
        if ch in "({":
            end = _matching(text, i, ch, ")" if ch == "(" else "}")
            current += text[i : end + 1]
            i = end + 1
            continue
        _add(current, optional, params)  # a comma
        current = ""
        i += 1
    _add(current, optional, params)


def _matching(text: str, start: int, opening: str, closing: str) -> int:
    depth = 0
    for i in range(start, len(text)):
        if text[i] == opening:
            depth += 1
        elif text[i] == closing:
            depth -= 1
            if depth == 0:
                return i
    raise ApiError(f"unbalanced {opening}{closing} in the parameters {text!r}")


def _matching_bracket(text: str, start: int) -> int:
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "[":
            depth += 1
        elif text[i] == "]":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _add(raw: str, optional: bool, params: list[Param]) -> None:
    raw = raw.strip()
    if not raw:
        return
    param = read_param(raw, optional)
    if param is not None:
        params.append(param)


def read_param(raw: str, optional: bool = False) -> Param | None:
    """One parameter as written: `name`, `name?`, `name: type`, `type name`, `name = default`, `...`."""
    raw = raw.strip()
    default = ""
    if _OPTIONAL_WORD.search(raw):
        optional = True
        raw = _OPTIONAL_WORD.sub("", raw).strip()
    if _vararg(raw) or _vararg(raw.split(":", 1)[0]):  # `...`, `... : variable`
        return Param(name=VARARG, optional=True)
    if raw.startswith("function") and "(" in raw:
        return Param(name="callback", type="function", optional=optional)
    if raw.startswith("{"):
        return Param(name="table", type="table", optional=optional)
    if raw.endswith("}") and "{" in raw:  # `table { Mode= mode, First= first }`: a table and the keys it holds
        words = raw[: raw.index("{")].split()
        name = words[-1] if len(words) > 1 and IDENT.fullmatch(words[-1]) else "table"
        return Param(name=name, type="table", optional=optional)
    if raw[:1] in "\"'":  # `require( "moduleName" )`: a placeholder written as a string
        inner = raw.strip("\"'")
        return Param(name=inner if IDENT.fullmatch(inner) else "value", type="string", optional=optional)
    if "=" in raw:
        raw, default = (part.strip() for part in raw.split("=", 1))
        optional = True
    raw = re.sub(r"\s*\|\s*", "|", raw)  # `audioHandle | options`: alternatives, not a type and a name
    type_ = "any"
    if ":" in raw:
        raw, type_ = (part.strip() for part in raw.split(":", 1))
    if raw.endswith("?"):
        optional, raw = True, raw[:-1].strip()
    words = raw.split()
    if len(words) >= 2:  # `string type`, `Actor[] actors`, `int|nil x`
        type_, raw = " ".join(words[:-1]), words[-1]
        if raw.endswith("?"):
            optional, raw = True, raw[:-1]
    if "|" in raw:  # `name|fn`: one argument written two ways; `x|nil`: optional
        alternatives = [a.strip() for a in raw.split("|")]
        if "nil" in alternatives[1:]:
            optional = True
        raw = alternatives[0]
    if "nil" in type_.replace("?", "|nil").split("|"):
        optional = True
    if not IDENT.fullmatch(raw):
        match = IDENT.match(raw)
        if match is None:  # a number or an expression written as an example value: an argument with no name
            return Param(name="value", optional=optional, default=default) if re.search(r"[\w\"']", raw) else None
        raw = match.group(0)
    return Param(name=raw, type=type_, optional=optional, default=default)
