"""What a documented Lua API offers a caller: callable names, method names per type, roots, arity.

    index = ApiIndex(read_json_docs("api.json"))
    index.classify(call)   # CallMatch(kind="matched", entries=("string.rep",), arity_ok=True, ...)

A call (from `luacoder.lua.calls.extract_calls`) is one of:

- `local`: a function the code defines itself, or a call through a local value;
- `matched`: an API call of a documented function or method: its name (or an alias: `s:rep` for `string.rep`,
  `tcp:bind` for `uv.tcp_bind`) is documented, or it is a method call `x:m(...)` and a documented type has a
  method `m`: the receiver's own type when the grader knows it (below), else any documented type;
- `standard`: the same, for the Lua standard library under the API (the base layer, below) where the API's own
  docs do not document the name: `print`, `string.format`, `s:match` in luv code. Not an API call;
- `hallucinated`: an API call of something the docs do not document: a name under a documented module or global
  (`string.trim`, `table.format`: right name, wrong module; standard modules included), a documented field or event
  called as a function, or an undocumented method called on a documented value (`io.stdout:writeln`) or on a value
  of a documented type (`io.open(p):readAll`, `local f = io.open(p); f:readAll()`);
- `undefined`: a call of a global that is neither documented, nor standard, nor defined or assigned in the code
  (`lstrip(s)`, a name a model invented). Not an API call; the answer lists it, and the checkpoint scores count
  it (see `luacoder.grading.scores`);
- `other`: a call that is not an API call: a method of a value the grader cannot tie to the API, a call or an index
  of a call's result (`require "x" (...)`, `coroutine.wrap(f)()`, `require("x").f()`).

Types of values. A variable holding the result of a call (`local t = uv.new_timer()`, in its own scope) or a call's
result used directly has the type of the called entry's first documented return (`uv_timer_t userdata|fail`), when
that names a documented receiver type: the `Type` of `Type:m` entries, or the type of the first parameter of a
function with a method alias (`uv.timer_start(timer: uv_timer_t, ...)`, alias `timer:start`). `string` is the
string library's receiver type, so a string value keeps the string methods. Generic types (`any`, `table`,
`Library`, ...) are no type: the results of `require`, `setmetatable` or `rawget` are not API values. The result
of an entry whose returns are not documented at all is an API value of an unknown type. A method call
on a typed value is checked against that type's entries (`timer:start(10)` against `uv.timer_start`), falling back
to every documented `m` when the type documents none (an inherited method: `rect:translate` on a ShapeObject).

The base layer. Unless the api.json (its `base` field) or the caller says otherwise, the bundled Lua 5.4 docs
(package data, `luacoder/apidocs/bundled/lua54`, which the checkout shows as `data/docs/lua54`; read once per
process) lie under every API: `ApiIndex(api, base="lua54")`; `base="none"` turns it off, a path names other docs (a
folder or an api.json).

Arity. An entry named `module.f` documents every argument (`string.rep(s, n [, sep])`); an entry named `Type:m`
documents the arguments after the implicit `self` (`file:read(...)`). A method call passes `self` implicitly, so
`s:rep(3)` passes 2 arguments to `string.rep` and `f:read("l")` passes 1 after `self`. Both are compared in the
function form: the call's arguments plus one for a method call, against the entry's range plus one for an entry
named with `:`. A call whose last argument is `...` or a call (`f(g())`) passes at least its other arguments and
any number more, so it only fails when those others are already too many.
"""

from __future__ import annotations

import math
import os
import re
from collections import defaultdict
from collections.abc import Container, Iterable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from luacoder.apidocs.schema import ApiEntry, ApiError
from luacoder.lua.calls import Call

CALLABLE_KINDS = ("function", "method")
_ROOT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_GLOBAL_TABLE = "_G."
# Shipped in the package, so that an installed (non-editable) luacoder grades with them too.
BUNDLED_DOCS = Path(__file__).resolve().parents[1] / "apidocs" / "bundled"
DEFAULT_BASE = "lua54"
NO_BASE = "none"
# Words of a documented type that name no receiver type: a value of these types has no API methods of its own.
_GENERIC_TYPES = frozenset(
    {"any", "nil", "fail", "or", "and", "of", "a", "an", "the", "userdata", "table", "tables", "object", "objects"}
    | {"library", "function", "functions", "iterator", "number", "numbers", "integer", "boolean", "booleans"}
    | {"thread", "value", "values", "varies", "various", "array", "arrays", "true", "false"}
)
_TYPE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class CallMatch:
    kind: str  # "local", "matched", "hallucinated" or "other"
    entries: tuple[str, ...] = ()  # documented entries the call may be (matched calls)
    arity_ok: bool | None = None  # None when not matched
    expected_args: str = ""  # the documented argument counts in the call's own form: "1-2", "0+", "2"
    reason: str = ""  # why a call is hallucinated
    receiver: str = ""  # for a method call on a value of a known documented type: that type (`uv_timer_t`), matched
    # or hallucinated (eval's per-entry table counts an undocumented method of a type against that type's entries)

    @property
    def is_api_call(self) -> bool:
        return self.kind in ("matched", "hallucinated")


def root_of(name: str) -> str:
    """The leading identifier of a name: `io` for `io.open(...):read`, "" for `("x"):rep` or `(f or g)`."""
    match = _ROOT.match(name)
    return match.group(0) if match else ""


# Globals every Lua chunk has that are not functions the docs list: `arg` (the script's arguments), `_ENV`.
_IMPLICIT_GLOBALS = frozenset({"arg", "_ENV", "self"})


def _plain(name: str) -> str:
    """`_G.print` is `print`."""
    while name.startswith(_GLOBAL_TABLE):
        name = name[len(_GLOBAL_TABLE) :]
    return name


def _short(name: str) -> str:
    for sep in (":", "."):
        if sep in name:
            return name.rsplit(sep, 1)[1]
    return name


def full_arities(entry: ApiEntry) -> list[tuple[int, float]]:
    """(fewest, most) arguments of each documented call form in the function form (`self` included for an entry
    named `Type:m`): a call is right when it fits any of them."""
    self_arg = 1 if ":" in entry.name else 0
    return [(fewest + self_arg, most + self_arg) for fewest, most in entry.arities()]


def _fits(entry: ApiEntry, passed: int, open_ended: bool) -> bool:
    for fewest, most in full_arities(entry):
        if open_ended and passed - 1 <= most:  # the last argument may expand to nothing or to any number of values
            return True
        if not open_ended and fewest <= passed <= most:
            return True
    return False


def _describe(fewest: int, most: float) -> str:
    if most == math.inf:
        return f"{fewest}+"
    return str(fewest) if fewest == most else f"{fewest}-{int(most)}"


def type_words(text: str) -> frozenset[str]:
    """The receiver-type words of a documented type: `uv_timer_t userdata|fail` -> {uv_timer_t}, `file|nil` ->
    {file}, `ShapeObject` -> {shapeobject}; generic words (`any`, `table`, `userdata`) left out."""
    return frozenset(w.lower() for w in _TYPE_WORD.findall(text)) - _GENERIC_TYPES


def receiver_types(entry: ApiEntry) -> frozenset[str]:
    """The types a method entry is called on: `file` for `file:read`, the first parameter's type (`uv_tcp_t`) for a
    function with a method alias (`uv.tcp_bind`, alias `tcp:bind`), `string` for `string.rep` (alias `s:rep`)."""
    if ":" in entry.name:
        return type_words(entry.name.split(":", 1)[0])
    if entry.params and entry.params[0].type:
        return type_words(entry.params[0].type)
    return frozenset()


def value_types(entry: ApiEntry) -> frozenset[str]:
    """The types of the first value an entry returns (see `type_words`)."""
    return type_words(entry.returns[0].type) if entry.returns else frozenset()


@cache
def _read_base(where: str):
    from luacoder.apidocs import read_docs

    path = BUNDLED_DOCS / where if (BUNDLED_DOCS / where).is_dir() and os.sep not in where else Path(where)
    if not path.exists():
        shipped = sorted(p.name for p in BUNDLED_DOCS.iterdir() if p.is_dir()) if BUNDLED_DOCS.is_dir() else []
        raise ApiError(
            f"standard library {where!r}: no bundled docs of that name (bundled: {', '.join(shipped) or 'none'}) "
            f"and no such file or folder; name one, a path to docs or an api.json, or {NO_BASE!r}"
        )
    return ApiIndex(read_docs([path]).api, base=NO_BASE)


def load_index(api_path: str | os.PathLike, standard_library: str | None = None) -> ApiIndex:
    """The index of an api.json (or a folder of JSON docs, or the older layout) over its standard library base
    (`standard_library` overrides the api.json's `base`): what eval grades against, and so what RL rewards with."""
    from luacoder.apidocs.json_docs import read_json_docs

    return ApiIndex(read_json_docs(api_path), base=standard_library)


def standard_library(base: str | None = DEFAULT_BASE) -> ApiIndex | None:
    """The base layer's index (cached per process): bundled docs by name (`lua54`), a path, or None for `none`."""
    if base is None or base == NO_BASE:
        return None
    return _read_base(str(base))


class ApiIndex:
    """The names a documented API answers to; see the module docstring for how calls are classified.

    `entries` is an ApiSet (whose `requires` and `base` fields are used) or any entries; `base` overrides the
    api.json's base layer (None: the api.json's, else lua54), `requires` adds `require` names."""

    def __init__(
        self,
        entries: Iterable[ApiEntry],
        base: str | None = None,
        requires: dict[str, str] | None = None,
    ):
        base = (base if base is not None else getattr(entries, "base", None)) or DEFAULT_BASE
        self.requires: dict[str, str] = {**getattr(entries, "requires", {}), **(requires or {})}
        self.entries: dict[str, ApiEntry] = {}
        self.callables: dict[str, list[ApiEntry]] = defaultdict(list)  # `string.format`, `print`, aliases
        self.methods: dict[str, list[ApiEntry]] = defaultdict(list)  # `read` -> file:read; `rep` -> string.rep
        self.not_callable: dict[str, ApiEntry] = {}  # fields and events: `math.pi`, `__index`
        self.roots: set[str] = set()  # documented modules and globals: `string`, `io`, `print`, `uv`
        self._canonical: dict[str, str] = {}  # every name and alias -> the entry's name
        for entry in entries:
            self.entries[entry.name] = entry
            for name in [entry.name, *entry.aliases]:
                name = _plain(name)
                self._canonical.setdefault(name, entry.name)
                if entry.kind not in CALLABLE_KINDS:
                    if entry.kind == "field" or "." in name:  # events (`__index`, `enterFrame`) are not globals
                        self.not_callable.setdefault(name, entry)
                        self.roots.add(root_of(name))
                elif ":" in name:
                    self.methods[_short(name)].append(entry)
                else:
                    self.callables[name].append(entry)
                    self.roots.add(root_of(name))
        self.roots.discard("")
        self.callables = dict(self.callables)
        self.methods = dict(self.methods)
        # Modules: roots with documented members (`uv`, `string`), what a parameter named like one stands for.
        self.modules = {root_of(n) for n in [*self.callables, *self.not_callable] if "." in n} - {""}
        self.receiver_types = {w for es in self.methods.values() for e in es for w in receiver_types(e)}
        self.base = standard_library(base) if base != NO_BASE else None
        self.all_receiver_types = set(self.receiver_types)
        if self.base is not None:
            self.modules |= self.base.modules
            self.all_receiver_types |= self.base.receiver_types

    def known(self, name: str) -> bool:
        """Whether a resolved name is documented here or in the base layer (a function, method alias or field)."""
        name = _plain(name)
        found = name in self.callables or name in self.not_callable
        return found or (self.base is not None and self.base.known(name))

    def _any_method(self, method: str) -> bool:
        return method in self.methods or (self.base is not None and method in self.base.methods)

    def is_root(self, name: str) -> bool:
        """A documented module or global, here or in the base layer."""
        return name in self.roots or (self.base is not None and name in self.base.roots)

    def calls_of(self, code: str | bytes):
        """`luacoder.lua.calls.extract_calls` told this API's modules, `require` names and documented names."""
        from luacoder.lua.calls import extract_calls

        return extract_calls(code, modules=self.modules, requires=self.requires, known=self.known)

    def value_types_of(self, producer: str) -> frozenset[str]:
        """The receiver types of the value a call of `producer` returns (empty: not a value of a documented type)."""
        entries = self.callables.get(_plain(producer))
        if entries is None and self.base is not None:
            entries = self.base.callables.get(_plain(producer))
        types = frozenset(w for e in entries or () for w in value_types(e))
        return types & self.all_receiver_types

    def untyped_value_of(self, producer: str) -> bool:
        """Whether `producer` is a documented function whose returns the docs do not describe: its result is taken
        for an API value of an unknown type (its undocumented methods are hallucinated)."""
        entries = self.callables.get(_plain(producer))
        if entries is None and self.base is not None:
            entries = self.base.callables.get(_plain(producer))
        return bool(entries) and any(not e.returns for e in entries)

    def __len__(self) -> int:
        return len(self.entries)

    def canonical(self, name: str) -> str | None:
        """The entry a documented name or alias stands for (`s:rep` -> `string.rep`), or None."""
        return self._canonical.get(_plain(name))

    def callable_entries(self) -> list[str]:
        """Names of the documented functions and methods, sorted."""
        return sorted(n for n, e in self.entries.items() if e.kind in CALLABLE_KINDS)

    def classify(self, call: Call, api_receivers: Iterable[str] = (), assigned: Container[str] = ()) -> CallMatch:
        """Classify one call. `api_receivers` are variable names known to hold an API value (an older, scope-blind
        way to say what `call.receiver_value` says); `assigned` are the global names the code defines or assigns,
        which are not undefined globals."""
        if call.local:
            return CallMatch("local")
        match = self._classify(call, set(api_receivers))
        if match is not None:
            return match
        if self.base is not None:
            match = self.base._classify(call, set(api_receivers), types_from=self)
            if match is not None:
                return replace(match, kind="standard") if match.kind == "matched" else match
        root = call.global_root
        written_global = root and not call.is_method and "(...)" not in call.resolved and "[" not in call.resolved
        if written_global and root not in assigned and not self.is_root(root) and root not in _IMPLICIT_GLOBALS:
            return CallMatch("undefined", reason=f"{root!r} is not documented, standard, or defined in the code")
        return CallMatch("other")

    def _classify(self, call: Call, api_receivers: set[str], types_from: ApiIndex | None = None) -> CallMatch | None:
        """Matched or hallucinated by this layer's own docs, or None."""
        resolved = _plain(call.resolved)
        passed = call.args + (1 if call.is_method else 0)
        if resolved in self.callables:  # also `("x"):rep(2)`, which resolves to `string.rep`
            return self._matched(self.callables[resolved], passed, call)
        if resolved in self.not_callable:
            kind = self.not_callable[resolved].kind
            return CallMatch("hallucinated", reason=f"a documented {kind}, not a function")
        if call.is_method and ":" in resolved:
            receiver, method = resolved.rsplit(":", 1)
            types = (types_from or self).value_types_of(call.receiver_value) if call.receiver_value else frozenset()
            if not types and receiver == call.global_root:  # a documented global object: `Runtime:addEventListener`
                types = type_words(receiver) & (types_from or self).all_receiver_types
            if types & self.receiver_types:
                typed = [e for e in self.methods.get(method, []) if receiver_types(e) & types]
                if typed:
                    return replace(self._matched(typed, passed, call), receiver="/".join(sorted(types)))
                if not self._any_method(method):
                    shown = "/".join(sorted(types & self.receiver_types))
                    reason = f"a {shown} value has no documented method {method!r}"
                    return CallMatch("hallucinated", reason=reason, receiver=shown)
            if method in self.methods:
                return self._matched(self.methods[method], passed, call)
            held = call.receiver_value and (types_from or self).untyped_value_of(call.receiver_value)
            documented_receiver = root_of(receiver) in self.roots or receiver in api_receivers
            if (held or ("(...)" not in receiver and documented_receiver)) and not self._any_method(method):
                return CallMatch("hallucinated", reason=f"no documented type has a method {method!r}")
            return None
        if "(...)" in resolved:  # a call or an index of a call's result: `require "x" (...)`, `f(x).g()`
            return None
        if root_of(resolved) in self.roots:
            return CallMatch("hallucinated", reason=f"{root_of(resolved)!r} documents no {resolved!r}")
        return None

    def status(self, call: Call, api_receivers: Iterable[str] = (), assigned: Container[str] = ()) -> str:
        """ "local", "known" (a documented function or method, standard ones included) or "unknown": what `luacoder
        grade` shows."""
        kind = self.classify(call, api_receivers, assigned).kind
        return "local" if kind == "local" else "known" if kind in ("matched", "standard") else "unknown"

    def _matched(self, entries: list[ApiEntry], passed: int, call: Call) -> CallMatch:
        ok = any(_fits(e, passed, call.open_ended) for e in entries)
        offset = 1 if call.is_method else 0  # shown in the call's own form: `s:rep(3)` wants 1-2
        ranges = []
        for e in entries:
            for fewest, most in full_arities(e):
                ranges.append(_describe(max(fewest - offset, 0), most - offset))
        names = tuple(dict.fromkeys(e.name for e in entries))
        return CallMatch("matched", names, ok, " or ".join(dict.fromkeys(ranges)))
