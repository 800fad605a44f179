"""API stubs from an api.json, so that code calling a host API (a game engine's, an editor's) runs in the sandbox.

    prelude = stub_prelude(load_api("api.json"))
    result = run_lua(code, prelude=prelude)
    api_error_of(result)   # "display.newRect: 1 argument(s), wants 4-5", "undocumented member display.newRectangle"

`stub_prelude` writes Lua source that the sandbox runs before the code, in the same environment and under the same
limits (`LuaJob.prelude`): a data table generated from the api.json and a small generic runtime
(`stubs_runtime.lua`) that turns a documented path, method or field into a Lua value the first time code reaches
it, so that an api.json with thousands of entries costs little before the code starts.

What the stubs do:

- **Every documented module, function, method and field exists.** `display.newRect(...)` is a function, `display` a
  table whose members are what the docs document; nested names (`app.fs.isFile`), global functions (`Dialog()`),
  aliases written with `.` (`tablex.union` for `pl.tablex.union`) and `require` of a documented module
  (`require("widget")`, a name the docs' own examples load a module under, `local uv = require("luv")`, or the
  api.json's `requires`) all reach them. A type whose methods are documented (`Runtime:addEventListener`) but that
  no documented entry returns is reached by its name, as a global object.
- **A call is checked against every documented call form**: the argument count as the grader counts it
  (`luacoder.grading.api_index`: optional parameters and varargs, `self` for a `Type:m` entry), then the simple
  documented types (number, string, boolean, table, function; nil where the parameter is optional), trying every
  way the optional parameters may be left out. Other types (`DisplayObject`, `Constant`, `any`) accept any value.
- **A call returns values of the documented return types**: an object that carries its type's methods (the first
  return's type words, as the grader types values: `local t = display.newRect(...); t:setFillColor(1)` runs and
  is checked against `ShapeObject:setFillColor`, falling back to every documented method of that name as for an
  inherited one), else a number (1), a string (""), true, a table, a function that returns nothing, or nil. A
  return the docs do not type is a value of unknown type (it answers every documented method name, takes
  arithmetic and comparison, and a loop over it ends at once); an entry that documents no returns at all returns
  such a value whose other members raise the API error when called, as the grader flags them.
- **An undocumented member is an API error**: reading a member the docs do not document from a stubbed module or
  object raises `API error: undocumented member display.newRectangle` at the line that reached it; a call that
  fits no form raises `API error: display.newRect: 1 argument(s), wants 4-5` (counts as the call is written: a
  method's `self` is not counted) or `API error: ...: arguments (string) fit no documented form: wants (number)`.
  Calling a documented field or module is one too. Members the code writes itself are kept (`rect.name = "x"`).
  Each API error is also written once to stderr, so that one the code catches with pcall is still seen:
  `api_error_of(result)` reads both and tells an API error from the program's own.
- **The real standard library wins.** A documented global that the sandbox has (`print`, `string`, `io.open`,
  denied or not) is left as it is; a documented member a standard module lacks (`table.copy`) is added to it;
  standard names the sandbox withholds (`debug`, `package`) are not invented. With the bundled Lua 5.4 docs
  (data/docs/lua54) as the api.json nothing is stubbed at all.
- **Callbacks are not called**: a listener given to `timer.performWithDelay` never runs, and events (`enterFrame`)
  are names a listener receives, not members. Documented metamethods (`List:__concat`) work on a type's objects
  (arithmetic returns a value of the documented type, comparisons are false); `__index` and the like stay the stubs'.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from importlib.resources import files
from typing import Any

from luacoder.apidocs.schema import VARARG, ApiEntry, ApiSet, CallForm, Param, Return
from luacoder.grading.api_index import CALLABLE_KINDS, ApiIndex, receiver_types, type_words
from luacoder.lua.sandbox import RunResult

API_ERROR_PREFIX = "API error: "
_API_ERROR = re.compile(re.escape(API_ERROR_PREFIX) + r"(.+)")
RUNTIME = files("luacoder.lua").joinpath("stubs_runtime.lua").read_text(encoding="utf-8")

# Parameter codes (stubs_runtime.lua): the Lua types a parameter takes, as bits; none set: any type.
NUMBER, STRING, BOOLEAN, TABLE, FUNCTION, NIL = 1, 2, 4, 8, 16, 32
OPTIONAL, VARARGS = 64, 128
_SIMPLE = {
    NUMBER: ("number", "numbers", "integer", "integers", "int", "float", "double", "long", "uint", "real"),
    STRING: ("string", "strings", "str", "char"),
    BOOLEAN: ("boolean", "booleans", "bool"),
    TABLE: ("table", "tables", "array", "arrays", "luatable", "dict", "dictionary"),
    FUNCTION: ("function", "functions", "func", "callable", "callback", "luafunction", "fn", "closure"),
    NIL: ("nil", "none", "null", "void", "fail"),
}
_TYPE_OF_WORD = {word: bits for bits, words in _SIMPLE.items() for word in words}
_VALUE_SPEC = {NUMBER: "n", STRING: "s", BOOLEAN: "b", TABLE: "t", FUNCTION: "f", NIL: "z"}
# The alternatives of a documented type: `string|nil`, `String or Number`, `Boolean and String`, `number, string`.
_ALTERNATIVES = re.compile(r"\s*(?:\||,|/|\bor\b|\band\b)\s*", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Metamethods a type's objects get from its docs; the others (`__index`, `__gc`, ...) stay the stubs' own.
_METAMETHODS = frozenset(
    {"__add", "__sub", "__mul", "__div", "__mod", "__pow", "__unm", "__idiv", "__band", "__bor", "__bxor", "__shl"}
    | {"__shr", "__bnot", "__concat", "__len", "__call", "__lt", "__le"}
)
_GLOBAL_TABLE = "_G."
# How the docs' examples load a module: `local uv = require("luv")`, `local json = require "json"`.
_REQUIRE = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*=\s*require\s*\(?\s*[\"']([^\"'\s]+)[\"']")


def api_error_of(result: RunResult) -> str | None:
    """The API error a stubbed run raised (the one that stopped it, else the first one it caught), without its
    prefix and position; None when the run raised none (it may still have failed on an error of its own)."""
    for text in (result.error or "", result.stderr or ""):
        match = _API_ERROR.search(text)
        if match:
            return match.group(1).strip()
    return None


def stub_prelude(api: ApiSet | ApiIndex) -> str:
    """Lua source that, run in the sandbox before the code in the same environment (`run_lua(code,
    prelude=...)`), defines the stubs of `api`'s documented entries (see the module docstring). A grader's
    `ApiIndex` gives the same stubs as the ApiSet it was built from, with its standard library."""
    return "local D = " + _lua(_stub_data(api).data()) + "\n" + RUNTIME


def stubbed_names(api: ApiSet | ApiIndex) -> set[str]:
    """The entries `stub_prelude` stubs; the others are the real standard library's, which the sandbox answers."""
    return set(_stub_data(api).kept)


def _stub_data(api: ApiSet | ApiIndex) -> _StubData:
    index = api if isinstance(api, ApiIndex) else ApiIndex(api)  # its standard library, as the grader picks it
    return _StubData(list(index.entries.values()), index.requires, index.base)


def type_mask(text: str) -> int:
    """The Lua types a documented parameter type allows, as bits; 0 (any type) when one alternative is not a simple
    type: `String or Number` -> STRING | NUMBER, `callable|nil` -> FUNCTION | NIL, `DisplayObject` -> 0."""
    mask = 0
    for alternative in _ALTERNATIVES.split(text.strip()):
        if not alternative:
            continue
        bits = _simple_type(alternative)
        if bits is None:
            return 0
        mask |= bits
    return mask if mask & ~NIL else 0


def _simple_type(alternative: str) -> int | None:
    if alternative.endswith("?"):  # LuaCATS `string?`
        bits = _simple_type(alternative[:-1])
        return None if bits is None else bits | NIL
    if alternative.endswith("[]"):
        return TABLE
    return _TYPE_OF_WORD.get(alternative.lower())


def param_code(param: Param) -> int:
    if param.name == VARARG:
        return VARARGS
    return type_mask(param.type) | (OPTIONAL if param.optional else 0)


class _StubData:
    """The data table of one api.json (its layout is described at the top of stubs_runtime.lua)."""

    def __init__(self, entries: list[ApiEntry], requires: dict[str, str], base: ApiIndex | None):
        self.base = base
        self.std = sorted(self.base.roots) if self.base is not None else []
        self.entries: list[list] = []
        self.ids: dict[str, int] = {}
        self.paths: dict[str, dict[str, Any]] = {}
        self.methods: dict[str, list[list]] = defaultdict(list)
        self.types: dict[frozenset[str], int] = {}
        self.type_rows: list[list[str]] = []
        self.tfields: dict[str, dict[str, Any]] = defaultdict(dict)
        self.meta: dict[str, dict[str, int]] = defaultdict(dict)
        # An event (`enterFrame`, `__index`) is a name a listener or a metatable receives, not a member.
        kept = [e for e in entries if not self._real(e) and (e.kind != "event" or "." in _plain(e.name))]
        self.kept = [e.name for e in kept]
        # The grader's receiver types: what a documented return may name to be an object with methods.
        self.receivers = {w for e in kept if self._method_names(e) for w in self._receiver_words(e)}
        returned = {w for e in kept for r in e.returns for w in type_words(r.type)}
        for entry in kept:
            self._add(entry)
        for entry in kept:  # aliases after every entry's own name: a name wins over an alias
            for alias in entry.aliases:
                self._add_alias(entry, alias)
        for entry in kept:
            for name in self._method_names(entry):
                self._add_method(entry, name, returned)
        self.requires = self._requires(entries, requires, kept)

    # -- what is real: the standard library under the API answers for itself

    def _real(self, entry: ApiEntry) -> bool:
        if self.base is None:
            return False
        name = _plain(entry.name)
        if ":" not in name:
            return self.base.known(name)
        method = name.rsplit(":", 1)[1]
        words = self._receiver_words(entry)
        return any(receiver_types(e) & words for e in self.base.methods.get(method, []))

    @staticmethod
    def _method_names(entry: ApiEntry) -> list[str]:
        return [n for n in (_plain(entry.name), *entry.aliases) if ":" in n]

    @staticmethod
    def _receiver_words(entry: ApiEntry) -> frozenset[str]:
        """The types a method is called on, as the grader has them, and its documented owner."""
        return receiver_types(entry) | type_words(entry.owner)

    # -- entries, paths, methods

    def _entry_id(self, entry: ApiEntry) -> int:
        if entry.name in self.ids:
            return self.ids[entry.name]
        self_arg = 1 if ":" in entry.name else 0
        forms = entry.forms or [CallForm(entry.signature, entry.params)]
        rows = []
        for form in forms:
            codes = [0] * self_arg + [param_code(p) for p in form.params]
            fewest, most = form.arity()
            typed = any(c != VARARGS and c & (NIL - 1) for c in codes)
            rows.append(
                [
                    fewest + self_arg,
                    -1 if most == float("inf") else int(most) + self_arg,
                    codes if typed else False,
                    self._returns(form.returns) if form.returns else False,
                ]
            )
        self.entries.append([entry.name, rows, self._returns(entry.returns)])
        self.ids[entry.name] = len(self.entries)  # Lua counts from 1
        return self.ids[entry.name]

    def _returns(self, returns: list[Return]) -> list:
        return [self._value_spec(r.type) for r in returns]

    def _value_spec(self, text: str) -> str | int:
        """What a call returns for a documented return type (see stubs_runtime.lua): the first alternative's simple
        type, else an object of the documented types it names, else another alternative's simple type."""
        simple = [_value_simple(a) for a in _ALTERNATIVES.split(text.strip()) if a]
        if simple and simple[0] not in (None, "z"):
            return simple[0]
        words = type_words(text) & self.receivers
        if words:
            label = next(w for w in _WORD.findall(text) if w.lower() in words)
            return self._type_id(words, label)
        return next((s for s in simple if s not in (None, "z")), "z" if simple and set(simple) == {"z"} else "a")

    def _type_id(self, words: Iterable[str], label: str) -> int:
        key = frozenset(words)
        if key not in self.types:
            self.type_rows.append([label, *sorted(key)])
            self.types[key] = len(self.type_rows)
        return self.types[key]

    def _path(self, name: str) -> dict[str, Any] | None:
        """The path spec of a dotted name (made with its parents), or None when it is no Lua path."""
        parts = name.split(".")
        if not all(_IDENT.match(p) for p in parts):
            return None
        for i in range(1, len(parts)):
            self.paths.setdefault(".".join(parts[:i]), {})["m"] = True
        return self.paths.setdefault(name, {})

    def _add(self, entry: ApiEntry) -> None:
        name = _plain(entry.name)
        if ":" in name:
            return
        if entry.kind in CALLABLE_KINDS:
            spec = self._path(name)
            if spec is not None and "e" not in spec:
                spec["e"] = self._entry_id(entry)
        elif entry.kind in ("field", "event"):  # a dotted event is read like a field
            value = self._value_spec(entry.returns[0].type) if entry.returns else "a"
            member = name.rsplit(".", 1)[-1]
            if entry.owner and name.startswith(entry.owner + ".") and _IDENT.match(member):
                for word in type_words(entry.owner):
                    self.tfields[word][member] = value
            spec = self._path(name)
            if spec is not None and "e" not in spec:
                spec.setdefault("f", value)

    def _add_alias(self, entry: ApiEntry, alias: str) -> None:
        alias = _plain(alias)
        if ":" in alias or entry.kind not in CALLABLE_KINDS or alias in self.paths:
            return
        spec = self._path(alias)
        if spec is not None:
            spec["e"] = self._entry_id(entry)

    def _add_method(self, entry: ApiEntry, name: str, returned: set[str]) -> None:
        receiver, method = name.rsplit(":", 1)
        if not _IDENT.match(method) or entry.kind not in CALLABLE_KINDS:
            return
        words = self._receiver_words(entry)
        entry_id = self._entry_id(entry)
        if method.startswith("__"):
            for word in words if method in _METAMETHODS else ():
                self.meta[word].setdefault(method, entry_id)
            return
        self.methods[method].append([entry_id, *sorted(words)])
        if name != _plain(entry.name) or not words:
            return  # an alias names a variable (`tcp:bind`), not something reachable by name
        # The receiver is reachable by its name when it is a module's member (`app.range:clear`), a documented
        # path already (`Actor:Owner` beside `Actor.Create`), or a type no documented entry returns (`Runtime`).
        if "." in receiver or receiver in self.paths or not words & returned:
            spec = self._path(receiver)
            if spec is not None:
                spec.setdefault("t", self._type_id(words, receiver))

    def _requires(self, entries: list[ApiEntry], given: dict[str, str], kept: list[ApiEntry]) -> dict[str, str]:
        """`require` names: the api.json's own, those its examples load a module under, and each entry's `module`
        where that is not the path its names live under (`pl.List` for `List.new`)."""
        requires = {name: path for name, path in given.items() if path in self.paths}
        for entry in entries:
            for example in entry.examples:
                for local, name in _REQUIRE.findall(example):
                    if local in self.paths and name != local:
                        requires.setdefault(name, local)
        parents: dict[str, Counter] = defaultdict(Counter)
        for entry in kept:
            name = _plain(entry.name)
            parent = name.rsplit(":", 1)[0] if ":" in name else name.rsplit(".", 1)[0] if "." in name else ""
            if entry.module and parent and parent != entry.module and parent in self.paths:
                parents[entry.module][parent] += 1
        for module, counts in parents.items():
            if module not in self.paths:
                requires.setdefault(module, counts.most_common(1)[0][0])
        return requires

    def data(self) -> dict[str, Any]:
        """The table `D` of stubs_runtime.lua: the entries as lines of one string (fast to load), the rest tables."""
        lines = []
        for number, (name, forms, returns) in enumerate(self.entries, 1):
            shown = [f"{lo} {hi} {_dotted(codes)} {_dotted(rets)}" for lo, hi, codes, rets in forms]
            lines.append(f"\1{number}={_one_line(name)}\t{';'.join(shown)}\t{'.'.join(map(str, returns))}")
        for path, spec in self.paths.items():
            lines.append(
                f"\2{path}=" + ",".join(f"{k}:" if v is True else f"{k}:{v}" for k, v in sorted(spec.items()))
            )
        for method, rows in self.methods.items():
            lines.append(f"\3{method}=" + ";".join(" ".join(map(str, row)) for row in rows))
        lines += [f"\4{number}={' '.join(row)}" for number, row in enumerate(self.type_rows, 1)]
        lines += [f"\5{word}.{name}={spec}" for word, fields in self.tfields.items() for name, spec in fields.items()]
        lines += [f"\6{word}=" + ";".join(f"{k}:{v}" for k, v in events.items()) for word, events in self.meta.items()]
        std = set(self.std)
        kids = defaultdict(list)
        for path in sorted(self.paths):
            root, _, rest = path.partition(".")
            if rest and "." not in rest and root in std:
                kids[root].append(rest)
        return {
            "data": "".join(line + "\n" for line in lines),
            "roots": sorted({p for p in self.paths if "." not in p}),
            "std": dict.fromkeys(self.std, True),
            "kids": dict(kids),
            "requires": self.requires,
        }


def _dotted(values) -> str:
    return ".".join(map(str, values)) if values else "-"


def _one_line(text: str) -> str:
    """A name as one line of the data: whitespace and control characters (the data's separators) made spaces."""
    return " ".join("".join(c if c >= " " else " " for c in text).split())


def _value_simple(alternative: str) -> str | None:
    """The value spec of a simple return alternative (its first word, or a literal: `0`, `true`), or None."""
    words = alternative.split()
    if not words:
        return None
    if words[0].endswith("[]"):
        return "t"
    head = words[0].strip("()")
    if re.fullmatch(r"-?\d+(\.\d+)?", head):
        return "n"
    if head in ("true", "false"):
        return "b"
    if head[:1] in "\"'":
        return "s"
    bits = _simple_type(head) if not head.endswith("?") else _simple_type(head[:-1])
    return _VALUE_SPEC.get(bits) if bits is not None else None


def _plain(name: str) -> str:
    while name.startswith(_GLOBAL_TABLE):
        name = name[len(_GLOBAL_TABLE) :]
    return name


# -- Lua literals ------------------------------------------------------------------------------------------------

_LUA_KEYWORDS = frozenset(
    {"and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in", "local", "nil"}
    | {"not", "or", "repeat", "return", "then", "true", "until", "while"}
)
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}  # other control characters: \ddd


def _lua(value: Any) -> str:
    """`value` (dicts with str keys, lists, str, int, bool) as a Lua table constructor or literal."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + "".join(_ESCAPES.get(c, c if c >= " " else f"\\{ord(c):03d}") for c in value) + '"'
    if isinstance(value, list):
        return "{" + ",".join(_lua(v) for v in value) + "}"
    if isinstance(value, dict):
        items = []
        for key, v in value.items():
            shown = key if _IDENT.match(key) and key not in _LUA_KEYWORDS else f"[{_lua(key)}]"
            items.append(f"{shown}={_lua(v)}")
        return "{" + ",".join(items) + "}"
    raise TypeError(f"no Lua literal for {type(value).__name__}")
