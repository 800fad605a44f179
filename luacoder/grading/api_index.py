"""What a documented Lua API offers a caller: callable names, method names per type, roots, arity.

    index = ApiIndex(read_json_docs("api.json"))
    index.classify(call)   # CallMatch(kind="matched", entries=("string.rep",), arity_ok=True, ...)

A call (from `luacoder.lua.calls.extract_calls`) is one of:

- `local`: a function the code defines itself, or a call through a local value;
- `matched`: an API call of a documented function or method: its name (or an alias: `s:rep` for `string.rep`,
  `tcp:bind` for `uv.tcp_bind`) is documented, or it is a method call `x:m(...)` and some documented type has a
  method `m` (a method call cannot be typed statically);
- `hallucinated`: an API call of something the docs do not document: a name under a documented module or global
  (`string.trim`, `table.format`: right name, wrong module), a documented field or event called as a function, or
  an undocumented method called on a documented value (`io.stdout:writeln`, `io.open(p):readAll`) or on a variable
  holding the result of an API call (`local f = io.open(p); f:readAll()`, see `luacoder.grading.answer`);
- `other`: a call that is not an API call: an undocumented global (`printf`), a method of a value the grader cannot
  tie to the API, a call of a call's result.

Arity. An entry named `module.f` documents every argument (`string.rep(s, n [, sep])`); an entry named `Type:m`
documents the arguments after the implicit `self` (`file:read(...)`). A method call passes `self` implicitly, so
`s:rep(3)` passes 2 arguments to `string.rep` and `f:read("l")` passes 1 after `self`. Both are compared in the
function form: the call's arguments plus one for a method call, against the entry's range plus one for an entry
named with `:`. A call whose last argument is `...` or a call (`f(g())`) passes at least its other arguments and
any number more, so it only fails when those others are already too many.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from luacoder.apidocs.schema import ApiEntry
from luacoder.lua.calls import Call

CALLABLE_KINDS = ("function", "method")
_ROOT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_GLOBAL_TABLE = "_G."


@dataclass(frozen=True)
class CallMatch:
    kind: str  # "local", "matched", "hallucinated" or "other"
    entries: tuple[str, ...] = ()  # documented entries the call may be (matched calls)
    arity_ok: bool | None = None  # None when not matched
    expected_args: str = ""  # the documented argument counts in the call's own form: "1-2", "0+", "2"
    reason: str = ""  # why a call is hallucinated

    @property
    def is_api_call(self) -> bool:
        return self.kind in ("matched", "hallucinated")


def root_of(name: str) -> str:
    """The leading identifier of a name: `io` for `io.open(...):read`, "" for `("x"):rep` or `(f or g)`."""
    match = _ROOT.match(name)
    return match.group(0) if match else ""


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


def full_arity(entry: ApiEntry) -> tuple[int, float]:
    """(fewest, most) arguments in the function form, `self` included for an entry named `Type:m`."""
    fewest, most = entry.arity()
    return (fewest + 1, most + 1) if ":" in entry.name else (fewest, most)


def full_arities(entry: ApiEntry) -> list[tuple[int, float]]:
    """`full_arity` of each documented call form: a call is right when it fits any of them."""
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


class ApiIndex:
    """The names a documented API answers to; see the module docstring for how calls are classified."""

    def __init__(self, entries: Iterable[ApiEntry]):
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

    def __len__(self) -> int:
        return len(self.entries)

    def canonical(self, name: str) -> str | None:
        """The entry a documented name or alias stands for (`s:rep` -> `string.rep`), or None."""
        return self._canonical.get(_plain(name))

    def callable_entries(self) -> list[str]:
        """Names of the documented functions and methods, sorted."""
        return sorted(n for n, e in self.entries.items() if e.kind in CALLABLE_KINDS)

    def classify(self, call: Call, api_receivers: Iterable[str] = ()) -> CallMatch:
        """Classify one call. `api_receivers` are variable names known to hold an API call's result, so that a
        method call on them is an API call even when its method is not documented."""
        if call.local:
            return CallMatch("local")
        resolved = _plain(call.resolved)
        passed = call.args + (1 if call.is_method else 0)
        if resolved in self.callables:  # also `("x"):rep(2)`, which resolves to `string.rep`
            return self._matched(self.callables[resolved], passed, call)
        if resolved in self.not_callable:
            kind = self.not_callable[resolved].kind
            return CallMatch("hallucinated", reason=f"a documented {kind}, not a function")
        if call.is_method and ":" in resolved:
            receiver, method = resolved.rsplit(":", 1)
            if method in self.methods:
                return self._matched(self.methods[method], passed, call)
            if root_of(receiver) in self.roots or receiver in set(api_receivers):
                return CallMatch("hallucinated", reason=f"no documented type has a method {method!r}")
            return CallMatch("other")
        if root_of(resolved) in self.roots:
            return CallMatch("hallucinated", reason=f"{root_of(resolved)!r} documents no {resolved!r}")
        return CallMatch("other")

    def status(self, call: Call, api_receivers: Iterable[str] = ()) -> str:
        """ "local", "known" (a documented function or method) or "unknown": what `luacoder grade` shows."""
        kind = self.classify(call, api_receivers).kind
        return "local" if kind == "local" else "known" if kind == "matched" else "unknown"

    def _matched(self, entries: list[ApiEntry], passed: int, call: Call) -> CallMatch:
        ok = any(_fits(e, passed, call.open_ended) for e in entries)
        offset = 1 if call.is_method else 0  # shown in the call's own form: `s:rep(3)` wants 1-2
        ranges = []
        for e in entries:
            for fewest, most in full_arities(e):
                ranges.append(_describe(max(fewest - offset, 0), most - offset))
        names = tuple(dict.fromkeys(e.name for e in entries))
        return CallMatch("matched", names, ok, " or ".join(dict.fromkeys(ranges)))
