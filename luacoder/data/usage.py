"""Short Lua usages of a documented entry, written from its signature: the code of stubs and of chat answers.

    writer = UsageWriter(api)
    writer.usage(api.get("string.rep"), "required")
    # 'local result = string.rep("hello", 3)\\nprint(result)'

Arguments are literals chosen by the parameter's name and type (a `pattern` gets a Lua pattern, a `filename` the
sandbox's in-memory "data.txt"); a value of a documented type that has no literal (a `file`, a `thread`, a host
object) comes from the entry that documents returning it (`io.open`, `coroutine.create`). Every call passes a
number of arguments the entry documents. The code only calls documented entries, so it passes the API call check;
whether it also runs is the execution filter's business.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass

from luacoder.apidocs.schema import VARARG, ApiEntry, ApiSet, Param

VARIANTS = ("required", "optional", "method")
LUA_KEYWORDS = {
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in", "local", "nil",
    "not", "or", "repeat", "return", "then", "true", "until", "while",
}  # fmt: skip

# Literals by parameter name, used when the literal's type is one the parameter accepts.
NAME_VALUES = {
    "s": '"hello world"',
    "str": '"hello world"',
    "text": '"hello world"',
    "pattern": '"%a+"',
    "fmt": '"i4"',
    "formatstring": '"Hello, %s!"',
    "format": '"%Y-%m-%d"',
    "sep": '", "',
    "repl": '"<%0>"',
    "mode": '"r"',
    "filename": '"data.txt"',
    "name": '"data.txt"',
    "modname": '"string"',
    "message": '"something went wrong"',
    "msg": '"something went wrong"',
    "msg1": '"low battery"',
    "varname": '"HOME"',
    "locale": '"C"',
    "chunk": '"return 1 + 2"',
    "chunkname": '"=example"',
    "n": "3",
    "i": "1",
    "j": "-1",
    "init": "1",
    "pos": "1",
    "index": "1",
    "level": "1",
    "base": "10",
    "x": "0.5",
    "y": "2",
    "m": "1",
    "t2": "60",
    "t1": "0",
    "e": '"42"',
    "v": '"value"',
    "value": '"item"',
    "k": '"key"',
    "plain": "true",
    "list": '{"pear", "apple", "fig"}',
    "t": "{10, 20, 30}",
    "comp": "function(a, b) return a > b end",
    "whence": '"set"',
    "category": '"all"',
    "opt": '"count"',
    "file": '"data.txt"',
}
TYPE_VALUES = {
    "string": '"hello"',
    "integer": "3",
    "number": "2.5",
    "boolean": "true",
    "table": "{1, 2, 3}",
    "function": "function(...) return ... end",
    "nil": "nil",
    "any": '"value"',
}
# Variable names for returned values, by type.
TYPE_NAMES = {
    "string": "str",
    "integer": "n",
    "number": "x",
    "boolean": "ok",
    "table": "tbl",
    "function": "fn",
    "thread": "co",
    "nil": "none",
    "any": "value",
}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


_DOC_STRING = re.compile(r'`("[^"`\\]+")`')  # an empty default ("") shows nothing: a guess does better
_DOC_DEFAULT_NUMBER = re.compile(r"default `(-?\d+(?:\.\d+)?)`")


def documented_literal(param: Param) -> str | None:
    """A value the parameter's description names: its first non-empty quoted string (`"line"`), or its numeric
    default."""
    text = param.description
    string = _DOC_STRING.search(text)
    if string is not None and accepts(param.type, "string"):
        return string.group(1)
    number = _DOC_DEFAULT_NUMBER.search(text)
    if number is not None and accepts(param.type, literal_type(number.group(1)) or ""):
        return number.group(1)
    return None


def literal_type(expr: str) -> str | None:
    """The Lua type of a literal from the tables above."""
    if expr.startswith('"'):
        return "string"
    if expr.startswith("{"):
        return "table"
    if expr.startswith("function"):
        return "function"
    if expr in ("true", "false"):
        return "boolean"
    if expr == "nil":
        return "nil"
    if re.fullmatch(r"-?\d+", expr):
        return "integer"
    if re.fullmatch(r"-?\d+\.\d+", expr):
        return "number"
    return None


def accepts(param_type: str, value_type: str) -> bool:
    types = {t.strip() for t in param_type.split("|")}
    return (
        value_type in types
        or "any" in types
        or (value_type == "integer" and "number" in types)
        or (value_type == "number" and "float" in types)
    )


def is_identifier(name: str) -> bool:
    return bool(_IDENT.match(name)) and name not in LUA_KEYWORDS and not keyword.iskeyword(name)


def entry_type(entry: ApiEntry) -> str | None:
    """`file` for `file:read`: the type a method is called on."""
    return entry.name.split(":", 1)[0] if ":" in entry.name else None


def method_aliases(entry: ApiEntry) -> list[str]:
    """Method-form aliases of a function: `s:rep` for `string.rep`."""
    return [a for a in entry.aliases if ":" in a and ":" not in entry.name]


def is_iterator(entry: ApiEntry) -> bool:
    """Whether the entry's first result is meant for a generic `for` loop."""
    if not entry.returns or entry.returns[0].type.split("|")[0].strip() != "function":
        return False
    text = entry.description.lower()
    return "iterator" in text or "generic `for`" in text or "for loop" in text


@dataclass
class CallParts:
    setup: list[str]  # lines that make the values the call needs (`local file = io.open("data.txt")`)
    call: str  # the call expression


class UsageWriter:
    def __init__(self, api: ApiSet):
        self.api = api
        self.names = {e.name for e in api}
        self.has_print = "print" in self.names
        self._constructors: dict[str, ApiEntry | None] = {}

    # -- values ---------------------------------------------------------------------------------------------------

    def constructor(self, type_name: str) -> ApiEntry | None:
        """The documented function that returns a value of `type_name` with the fewest required arguments."""
        if type_name not in self._constructors:
            found = []
            for e in self.api:
                if e.kind != "function" or not e.returns:
                    continue
                first = {t.strip() for t in e.returns[0].type.split("|")}
                if type_name in first and all(self._literal(p) is not None for p in e.params if not p.optional):
                    words = ("open", "new", "create", "make")
                    found.append((not any(w in e.short_name.lower() for w in words), e.arity()[0], e.name, e))
            self._constructors[type_name] = min(found, key=lambda f: f[:3])[3] if found else None
        return self._constructors[type_name]

    def _literal(self, param: Param) -> str | None:
        documented = documented_literal(param)
        if documented is not None:
            return documented
        named = NAME_VALUES.get(param.name.lower())
        if named is not None and accepts(param.type, literal_type(named) or ""):
            return named
        types = [t.strip() for t in param.type.split("|")]
        if param.name == VARARG:  # formats and counts: a number is the safer guess (`f:read(3)`, `math.max(x, 3)`)
            types.sort(key=lambda t: t not in ("integer", "number"))
        for t in types:
            if t in TYPE_VALUES:
                return TYPE_VALUES[t]
        return None

    def value(self, param: Param, setup: list[str], used: set[str]) -> str | None:
        literal = self._literal(param)
        if literal is not None:
            return literal
        for t in (t.strip() for t in param.type.split("|")):
            made = self.construct(t, setup, used)
            if made is not None:
                return made
        return None

    def construct(self, type_name: str, setup: list[str], used: set[str]) -> str | None:
        ctor = self.constructor(type_name)
        if ctor is None:
            return None
        args = [self._literal(p) for p in ctor.params if not p.optional]
        if any(a is None for a in args):
            return None
        var = fresh_name(type_name if is_identifier(type_name) else TYPE_NAMES.get(type_name, "obj"), used)
        setup.append(f"local {var} = {ctor.name}({', '.join(args)})")  # type: ignore[arg-type]
        return var

    # -- calls ----------------------------------------------------------------------------------------------------

    def call_parts(
        self, entry: ApiEntry, variant: str = "required", used: set[str] | None = None, first_arg: str | None = None
    ) -> CallParts | None:
        """The call of `entry` with its required arguments ("required"), with its optional ones too ("optional"),
        or in method form on a value ("method"); None when an argument cannot be written. `first_arg` replaces the
        value of the first argument (to pass on another call's result)."""
        used = set() if used is None else used
        setup: list[str] = []
        params = list(entry.params)
        if variant == "optional":
            if not any(p.optional for p in params):
                return None
            chosen = params
        else:
            chosen = [p for p in params if not p.optional]
        if ":" in entry.name and variant == "method":
            return None  # a method is always called in method form: that is the "required" variant
        if ":" in entry.name:  # a method: the receiver is a value of its type
            receiver = self.construct(entry_type(entry) or "", setup, used)
            if receiver is None:
                return None
            callee = f"{receiver}:{entry.short_name}"
        elif variant == "method":
            aliases = method_aliases(entry)
            if not aliases or not params:
                return None
            value = first_arg if first_arg is not None else self.value(params[0], setup, used)
            if value is None:
                return None
            first_arg = None
            var = value if is_identifier(value) and value in used else fresh_name(aliases[0].split(":", 1)[0], used)
            if var != value:
                setup.append(f"local {var} = {value}")
            callee = f"{var}:{entry.short_name}"
            chosen = [p for p in params[1:] if not p.optional]
        else:
            callee = entry.name
        args = []
        for p in chosen:
            if p.name == VARARG and variant != "optional":
                continue
            value = first_arg if first_arg is not None and not args else self.value(p, setup, used)
            if value is None:
                return None
            args.append(value)
        if first_arg is not None and not args:
            return None  # nothing to pass the value to
        return CallParts(setup, f"{callee}({', '.join(args)})")

    def usage(self, entry: ApiEntry, variant: str = "required") -> str | None:
        """A complete snippet: setup, the call with its results in locals, and a print of them."""
        lines = self.usage_lines(entry, variant, set())
        return "\n".join(lines[0]) if lines is not None else None

    def usage_lines(
        self, entry: ApiEntry, variant: str, used: set[str], first_arg: str | None = None
    ) -> tuple[list[str], list[str]] | None:
        """(lines, names of the locals holding the results) of a usage; None when none can be written."""
        if variant not in VARIANTS:
            raise ValueError(f"unknown usage variant {variant!r}; expected one of {VARIANTS}")
        if entry.kind == "field":
            if variant != "required" or first_arg is not None:
                return None
            if self.has_print:
                return [f"print({entry.name})"], []
            return [f"local {fresh_name(entry.short_name, used)} = {entry.name}"], []
        if entry.kind == "event":
            return None
        parts = self.call_parts(entry, variant, used, first_arg)
        if parts is None:
            return None
        lines = list(parts.setup)
        results = self.result_names(entry, used)
        if is_iterator(entry):
            # What the loop gets is the iterator's values, not the call's results; `pairs`-like entries give two.
            loop_vars = "key, value" if len(entry.returns) >= 3 else "item"
            body = f"  print({loop_vars})" if self.has_print else "  -- use the values here"
            return [*lines, f"for {loop_vars} in {parts.call} do", body, "end"], []
        if results:
            lines.append(f"local {', '.join(results)} = {parts.call}")
            if self.has_print:
                lines.append(f"print({', '.join(results)})")
            return lines, results
        return [*lines, parts.call], []

    def combined(self, first: ApiEntry, second: ApiEntry) -> str | None:
        """A usage of `first`, then of `second`; `first`'s result is passed on when `second` accepts its type."""
        used: set[str] = set()
        a = self.usage_lines(first, "required", used)
        if a is None:
            return None
        lines, results = a
        if results and first.returns:
            produced = first.returns[0].type.split("|")[0].strip()
            takes = [p for p in second.params if not p.optional and p.name != VARARG]
            if ":" in second.name:
                takes = []
            if takes and accepts(takes[0].type, produced) and passes_on(takes[0], produced):
                if self.has_print:
                    lines = [line for line in lines if not line.startswith("print(")]
                b = self.usage_lines(second, "required", used, first_arg=results[0])
                if b is not None:
                    return "\n".join(lines + b[0])
        b = self.usage_lines(second, "required", used)
        if b is None:
            return None
        return "\n".join(lines + b[0])

    def result_names(self, entry: ApiEntry, used: set[str]) -> list[str]:
        """Local names for the call's results (at most three), from the docs' names or the types."""
        names = []
        returns = [r for r in entry.returns if r.type]
        if len(returns) == 1 and returns[0].name in ("", VARARG):
            return [fresh_name("result", used)]
        for r in returns[:3]:
            if r.name == VARARG or r.type == VARARG:
                names.append(fresh_name("rest", used))
                break
            if is_identifier(r.name):
                base = r.name
            else:
                first = r.type.split("|")[0].strip()
                base = TYPE_NAMES.get(first, first if is_identifier(first) else "value")
            names.append(fresh_name(base, used))
        return names


# Parameters that take the data a previous call produced (`string.rep(s, ...)`), as opposed to a file name, a mode
# or a pattern, which a previous call's string result would only fill by accident.
DATA_PARAMS = {"s", "str", "text", "x", "y", "n", "t", "tbl", "list", "value", "v", "e", "m", "a", "a1", "co", "obj"}
PRIMITIVE_TYPES = {"string", "integer", "number", "boolean", "table", "function", "nil", "any"}


def passes_on(param: Param, produced: str) -> bool:
    """Whether a result of type `produced` makes sense as this parameter: a value of a documented type (a `file`, a
    `thread`) always does; a plain value only when the parameter takes data."""
    if produced == "any":
        return False
    return produced not in PRIMITIVE_TYPES or param.name.lower() in DATA_PARAMS


def fresh_name(base: str, used: set[str]) -> str:
    base = base if is_identifier(base) else "value"
    name, n = base, 2
    while name in used or name in LUA_KEYWORDS:
        name, n = f"{base}{n}", n + 1
    used.add(name)
    return name


# -- LuaCATS stubs --------------------------------------------------------------------------------------------------


def luacats_annotations(entry: ApiEntry) -> list[str]:
    """`---@param` and `---@return` lines for an entry, in the LuaCATS / EmmyLua notation."""
    lines = []
    for p in entry.params:
        name = p.name if p.name == VARARG else p.name + ("?" if p.optional else "")
        lines.append(_annotation(f"---@param {name} {_type(p.type)}", p.description))
    for r in entry.returns:
        if r.type == VARARG:  # "...": any number of values of no stated type
            lines.append(_annotation("---@return any ...", r.description))
            continue
        name = " ..." if r.name == VARARG else f" {r.name}" if is_identifier(r.name) else ""
        lines.append(_annotation(f"---@return {_type(r.type)}{name}", r.description))
    return lines


def _type(text: str) -> str:
    return text.replace(" ", "") or "any"


def _annotation(head: str, description: str) -> str:
    description = " ".join(description.split())
    if len(description) > 100:
        description = description[:97].rsplit(" ", 1)[0] + "..."
    return f"{head} {description}" if description else head


def stubs(entry: ApiEntry, writer: UsageWriter) -> list[str]:
    """Annotated usages, best first: the entry's LuaCATS annotations over a call with a documented arity (its
    required arguments, then all of them)."""
    out = []
    for variant in ("required", "optional"):
        usage = writer.usage(entry, variant)
        if usage is not None:
            out.append("\n".join([f"---{entry.signature}", *luacats_annotations(entry), usage]) + "\n")
    return out
