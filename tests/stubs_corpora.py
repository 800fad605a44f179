"""The API stubs (luacoder.lua.stubs) on the Lua examples of real docs nobody in this project wrote, and on the same
calls mutated.

    PYTHONPATH=. python tests/stubs_corpora.py               # the table for every set in ../shared/corpora
    PYTHONPATH=. python tests/stubs_corpora.py -v solar2d    # and each API error and missed mutation

Each set of ../shared/corpora is read as `luacoder docs` reads it (no layout named); its api.json entries' examples
are the snippets. A snippet is accepted when it parses and the grader (luacoder.grading) finds no hallucinated call
and no call with an undocumented argument count in it (undefined globals are allowed: the docs assume variables
defined elsewhere). Each accepted snippet runs in the sandbox with the stubs of its set:

- ran: it ran to its end with no API error;
- false API error: it raised an API error on a documented call (an argument count or type error, or an
  "undocumented member" that the api.json does have). Target: <= 1%;
- undocumented: it raised "undocumented member X" for a name the api.json does not have anywhere (a member the
  reader missed, such as Solar2D's properties: the stubs are right by their api.json, the docs are not read whole),
  or called what the api.json documents as no function (a module, a field);
- other: it stopped on something else (a variable the docs assume, the sandbox's denied `io.open`).

Mutations, each run on its own copy of an accepted snippet: a stubbed API call (not one the real standard library
answers) gets a suffixed name where it names a member of a stubbed module or of an object whose type the grader
knows (a wrong global or standard-module name is nil, as in real Lua: the grader's undefined-global and hallucination
counts see those), one argument too many (unless the entry takes any number, or the last argument is a call or
`...`), and one too few (when it needs one). A mutation counts when its call is made in the unmutated snippet (a
probe in its last argument says so: a listener's body never runs, a call whose receiver or argument is a variable the
docs assume never happens); it is flagged when the run reports an API error (`api_error_of`) that names the mutated
call (its suffixed name, or its entry). Target: >= 95%.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from realcode import SUFFIX, _offset, full_arity

REPO = Path(__file__).resolve().parents[1]
CORPORA = REPO.parent / "shared" / "corpora"
# Every set that `luacoder docs` reads (the same paths as the project's check of the readers).
SETS = {
    "luv": "luvit-luv/docs/docs.md",
    "solar2d": "solar2d-corona-docs/markdown/api",
    "luanti": "luanti-lua-api/doc/lua_api.md",
    "openra": "openra-lua-api/api/lua.md",
    "mpv": "mpv-lua-rst/DOCS/man/lua.rst",
    "lua54": "lua54-manual-html/doc/en-us/54/manual.html",
    "ncine": "ncine-luacats/library",
    "penlight": "penlight-ldoc/lua/pl",
    "haproxy": "haproxy-lua-sphinx/doc/lua-api",
    "haka": "haka-lua-sphinx",
    "fceux": "fceux-lua-html/web/help/LuaFunctionsList.html",
    "defold-steam": "defold-steam-script-api/steam/api",
    "itgmania": "itgmania-luadoc-xml/Docs/Luadoc",
    "mwse": "mwse-lua-definitions/autocomplete/definitions",
    "aseprite": "aseprite-api-md/api",
    "textadept": "textadept-api-md/docs/api.md",
    "darktable": "darktable-luadocs-hugo/content",
}
PROBE = "__luacoder_reach"


@dataclass
class StubMeasure:
    corpus: str
    note: str = ""  # why the set has no row (not read, no examples)
    snippets: int = 0  # distinct examples that parse
    accepted: int = 0
    ran: int = 0
    false_api: list[str] = field(default_factory=list)
    undocumented: list[str] = field(default_factory=list)
    other: Counter = field(default_factory=Counter)
    stops: list[str] = field(default_factory=list)  # the other stops' errors
    mutations: int = 0
    executed: int = 0
    flagged: int = 0
    missed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def false_rate(self) -> float:
        return len(self.false_api) / self.accepted if self.accepted else float("nan")

    @property
    def flagged_rate(self) -> float:
        return self.flagged / self.executed if self.executed else float("nan")

    def row(self) -> str:
        if self.note:
            return f"| {self.corpus} | {self.note} |" + " |" * 8
        other = ", ".join(f"{k} {v}" for k, v in self.other.most_common())
        return (
            f"| {self.corpus} | {self.snippets} | {self.accepted} | {_pct(self.ran, self.accepted)} | "
            f"{_pct(len(self.false_api), self.accepted)} | {len(self.undocumented)} | {other or 0} | "
            f"{self.mutations} / {self.executed} | {_pct(self.flagged, self.executed)} |"
        )


HEADER = (
    "| set | snippets | accepted | ran to the end | false API error | undocumented member | other stops |"
    " mutations / executed | flagged |\n|---|---|---|---|---|---|---|---|---|"
)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}% ({part}/{whole})" if whole else "n/a"


@cache
def api_for(corpus: str):
    """The set's api.json as today's readers give it (None when they find nothing)."""
    from luacoder.apidocs import read_docs
    from luacoder.apidocs.schema import ApiError

    try:
        return read_docs([CORPORA / SETS[corpus]]).api
    except ApiError:
        return None


def present(corpus: str) -> bool:
    return (CORPORA / SETS[corpus]).exists()


def snippets(api) -> list[str]:
    return list(dict.fromkeys(x for e in api.entries for x in e.examples if x.strip()))


def accepted_by_grader(grade) -> bool:
    arity = [c for c in (*grade.calls, *grade.standard_calls) if c.arity_ok is False]
    return grade.syntax_valid and grade.hallucinated == 0 and not arity


def documented(api) -> tuple[set[str], set[str]]:
    """(every documented name and alias, every documented method name): what the stubs must answer."""
    names = {n for e in api.entries for n in (e.name, *e.aliases)}
    return names, {n.rsplit(":", 1)[1] for n in names if ":" in n}


def classify(message: str, names: set[str], methods: set[str]) -> str:
    """ "false" for an API error raised on a documented call: an argument count or type, or an undocumented member
    that the api.json does document (the stubs missed it); "undocumented" for a use the api.json does not document
    (a member it lacks, a call of a module or a field)."""
    prefix = "undocumented member "
    if message.startswith(prefix):
        owner, _, member = message[len(prefix) :].rpartition(".")
        return "false" if {f"{owner}.{member}", f"{owner}:{member}"} & names or member in methods else "undocumented"
    if message.endswith(("is not a documented function", "is a documented field, not a function")):
        return "undocumented"
    return "false"


def _call_node(tree, code: str, call):
    start = _offset(code, call.line, call.column)
    node = tree.root_node.descendant_for_byte_range(start, start + 1)
    while node is not None and node.type != "function_call":
        node = node.parent
    return node


def probed(code: str, calls: list) -> str:
    """The code with each call's last argument `a` written `__luacoder_reach(i, a)` (`f()`: `f(__luacoder_reach(i))`),
    which says "i" on stderr and returns what `a` does: the call's own arguments, once evaluated, before the call."""
    from luacoder.lua.calls import parse

    data = code.encode("utf-8")
    tree = parse(data)
    inserts = []  # (position, order among insertions at one position, text)
    for i, call in enumerate(calls):
        node = _call_node(tree, code, call)
        args = node.child_by_field_name("arguments") if node is not None else None
        if args is None:
            continue
        values = [a for a in args.named_children if a.type != "comment"]
        if args.text.startswith(b"(") and not values:
            inserts.append((args.start_byte + 1, (0, 0), f"{PROBE}({i})"))
            continue
        first, last = (values[-1].start_byte, values[-1].end_byte) if values else (args.start_byte, args.end_byte)
        paren = not args.text.startswith(b"(")  # `f"x"`, `f{...}`
        span = last - first
        # Applied from the end; at one position an opener lands left of the ones applied before it, so openers go
        # first, inner before outer, and closers after them, outer before inner.
        inserts.append((first, (0, span), ("(" if paren else "") + f"{PROBE}({i}, "))
        inserts.append((last, (1, -span), "))" if paren else ")"))
    for position, _, text in sorted(inserts, key=lambda x: (-x[0], x[1])):
        data = data[:position] + text.encode() + data[position:]
    return data.decode("utf-8")


def short_name(name: str) -> str:
    return name.replace(":", ".").rsplit(".", 1)[-1]


def mutations(code: str, call, index) -> list[tuple[str, str]]:
    """(kind, mutated code) of one accepted call: a suffixed name, one argument too many, one too few."""
    from luacoder.grading.api_index import root_of
    from luacoder.lua.calls import parse

    data = code.encode("utf-8")
    tree = parse(data)
    out = []
    start = _offset(code, call.line, call.column)
    short = short_name(call.name)
    # A wrong name is the stubs' to see where the call reaches a member of a stubbed module or of an object of a
    # known type; a global (`DialogQz`) or a standard module's member (`math.roundQz`) is nil, as in real Lua.
    member = "." in call.resolved or (":" in call.name and call.receiver)
    stubbed_module = index.base is None or root_of(call.resolved) not in index.base.roots
    if member and stubbed_module and data[start : start + len(short)] == short.encode():
        end = start + len(short)
        out.append(("name", (data[:end] + SUFFIX.encode() + data[end:]).decode("utf-8")))
    node = _call_node(tree, code, call)
    args = node.child_by_field_name("arguments") if node is not None else None
    entries = [index.entries[e] for e in call.entries if e in index.entries]
    if args is None or not args.text.startswith(b"(") or not entries:
        return out
    values = [a for a in args.named_children if a.type != "comment"]
    open_ended = bool(values) and values[-1].type in ("function_call", "vararg_expression")
    if open_ended or len(values) != call.args:  # `f(g())`: the count is only known at run time
        return out
    offset = 1 if call.name.count(":") else 0
    fewest = min(full_arity(e)[0] for e in entries) - offset
    most = max(full_arity(e)[1] for e in entries) - offset
    texts = [v.text for v in values]

    def with_args(new: list[bytes]) -> str:
        return (data[: args.start_byte] + b"(" + b", ".join(new) + b")" + data[args.end_byte :]).decode("utf-8")

    if most != float("inf"):
        out.append(("too many", with_args(texts + [b"0"] * (int(most) - call.args + 1))))
    if fewest >= 1:
        out.append(("too few", with_args(texts[: fewest - 1])))
    return out


def measure(corpus: str, mutate_every: int = 1, most: int | None = None) -> StubMeasure:
    """The rates of one set: at most `most` examples (evenly spread), every `mutate_every`-th stubbed call mutated."""
    from luacoder.grading import ApiIndex, grade_code
    from luacoder.lua.sandbox import LuaJob, iter_run_many
    from luacoder.lua.stubs import api_error_of, stub_prelude, stubbed_names

    started = time.perf_counter()
    result = StubMeasure(corpus)
    if not present(corpus):
        result.note = f"absent: {CORPORA / SETS[corpus]}"
        return result
    api = api_for(corpus)
    if api is None:
        result.note = "today's readers find no entries"
        return result
    examples = snippets(api)
    if not examples:
        result.note = f"no examples in its {len(api.entries)} entries"
        return result
    index = ApiIndex(api)
    prelude = stub_prelude(api)
    probe = f"\nrawset(_ENV, '{PROBE}', function(i, ...) io.stderr:write('{PROBE} ', i, '\\n') return ... end)\n"
    stubbed = stubbed_names(api)
    names, methods = documented(api)
    runs = []  # (code, calls to mutate, the statement of each)
    step = -(-len(examples) // most) if most else 1
    for code in examples[::step]:
        grade = grade_code(code, index)
        if not grade.syntax_valid:
            continue
        result.snippets += 1
        if not accepted_by_grader(grade):
            continue
        result.accepted += 1
        calls = [c for c in grade.calls if c.kind == "matched" and any(e in stubbed for e in c.entries)]
        runs.append((code, calls, probed(code, calls)))
    jobs = [LuaJob(text, prelude=prelude + probe) for _, _, text in runs]
    mutated = []  # (where, mutated code)
    for (code, calls, _), run in zip(runs, iter_run_many(jobs), strict=True):
        if run.reason == "prelude":
            raise RuntimeError(f"{corpus}: the stubs failed: {run.error}")
        reached = {int(line.split()[1]) for line in run.stderr.splitlines() if line.startswith(PROBE + " ")}
        message = api_error_of(run)
        where = f"{code.strip().splitlines()[0][:60]!r}"
        if message is not None:
            kind = classify(message, names, methods)
            (result.false_api if kind == "false" else result.undocumented).append(f"{where}: {message}")
        elif run.ok:
            result.ran += 1
        else:
            result.other[run.reason or "error"] += 1
            result.stops.append(f"{where}: {run.error}")
        for number, call in list(enumerate(calls))[::mutate_every]:
            for kind, text in mutations(code, call, index):
                result.mutations += 1
                if number in reached:
                    # The API error must be the mutated call's: one later in the snippet does not count.
                    named = [f"{short_name(call.name)}{SUFFIX}"] if kind == "name" else list(call.entries)
                    mutated.append((f"{where} line {call.line}: {kind} of {call.name}", text, named))
    result.executed = len(mutated)
    jobs = (LuaJob(text, prelude=prelude) for _, text, _ in mutated)
    for (where, _, named), run in zip(mutated, iter_run_many(jobs), strict=True):
        message = api_error_of(run)
        if message is not None and any(name in message for name in named):
            result.flagged += 1
        else:
            result.missed.append(f"{where}: {message or run.reason or 'ran'} {run.error or ''}".strip())
    result.seconds = time.perf_counter() - started
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpora", nargs="*", default=list(SETS))
    parser.add_argument("-v", "--verbose", action="store_true", help="list API errors and missed mutations")
    parser.add_argument("--every", type=int, default=1, help="mutate every N-th stubbed call")
    parser.add_argument("--most", type=int, default=None, help="at most N examples per set, evenly spread")
    args = parser.parse_args(argv)
    print(HEADER)
    for corpus in args.corpora:
        m = measure(corpus, args.every, args.most)
        print(m.row(), flush=True)
        if args.verbose:
            for line in [*(f"false: {x}" for x in m.false_api), *(f"undocumented: {x}" for x in m.undocumented)]:
                print("   ", line, file=sys.stderr)
            for line in m.missed:
                print("    missed:", line, file=sys.stderr)
            for line in m.stops:
                print("    stopped:", line, file=sys.stderr)
    return 0


if __name__ == "__main__":  # with PYTHONPATH naming the tree to measure
    sys.exit(main())
