"""The grader on real, correct Lua code nobody in this project wrote, and on the same calls mutated.

    PYTHONPATH=. python tests/realcode.py            # the table for every corpus present in ../shared/corpora
    PYTHONPATH=. python tests/realcode.py -v luv     # and each call the grader does not accept

Corpora (see ../shared/corpora/README.md; only Penlight ships Lua source, so luv and Solar2D are measured on the
Lua examples their own docs carry, which their authors wrote against their API):

- penlight: `lua/pl/*.lua` graded against the bundled Lua 5.4 docs (data/docs/lua54);
- luv: the Lua code blocks of `docs/docs.md` graded against the api.json read from that file;
- solar2d: the Lua code blocks of every `markdown/api/**` file graded against the api.json read from them.

Accepted: of the calls the grader counts as documented API calls (matched or hallucinated, standard-library
calls included), the share it grades matched with a documented argument count. Mutations, each graded on its own
copy of the code: the called name gets a suffix (`uv.tcp_bind` -> `uv.tcp_bindQz`: a wrong name in the right
module), or the argument list is made one too long (or, for a variadic entry, one too short). Flagged: the mutated
call is graded hallucinated, an arity error or an undefined global.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPORA = REPO.parent / "shared" / "corpora"
BUNDLED_DOCS = REPO / "data" / "docs" / "lua54"
SOURCES = {
    "penlight": CORPORA / "penlight-ldoc" / "lua" / "pl",
    "luv": CORPORA / "luvit-luv" / "docs" / "docs.md",
    "solar2d": CORPORA / "solar2d-corona-docs" / "markdown" / "api",
}
SUFFIX = "Qz"


@dataclass
class Measure:
    corpus: str
    samples: int = 0
    api_calls: int = 0
    accepted: int = 0
    rejected: list[str] = field(default_factory=list)
    undefined_globals: list[str] = field(default_factory=list)
    mutated: int = 0
    flagged: int = 0
    missed: list[str] = field(default_factory=list)

    @property
    def accepted_rate(self) -> float:
        return self.accepted / self.api_calls if self.api_calls else float("nan")

    @property
    def flagged_rate(self) -> float:
        return self.flagged / self.mutated if self.mutated else float("nan")

    def row(self) -> str:
        return (
            f"| {self.corpus} | {self.samples} | {self.api_calls} | {100 * self.accepted_rate:.1f}% | "
            f"{len(self.undefined_globals)} | {self.mutated} | {100 * self.flagged_rate:.1f}% |"
        )


HEADER = (
    "| corpus | code samples | documented calls | accepted | undefined globals (false) | mutations | flagged |\n"
    "|---|---|---|---|---|---|---|"
)


@cache
def index_for(corpus: str):
    from luacoder.apidocs import read_docs
    from luacoder.grading import ApiIndex

    source = BUNDLED_DOCS if corpus == "penlight" else SOURCES[corpus]
    api = read_docs([source]).api
    if corpus == "luv":
        api.requires = {"luv": "uv"}  # how luv's own code loads it: `local uv = require('luv')`
    return ApiIndex(api)


def samples(corpus: str) -> list[tuple[str, str]]:
    """(where, code) of the corpus's real code."""
    from luacoder.lua.markdown_code import extract_lua_blocks

    source = SOURCES[corpus]
    if corpus == "penlight":
        return [(p.name, p.read_text(encoding="utf-8")) for p in sorted(source.glob("*.lua"))]
    files = [source] if source.is_file() else sorted(source.rglob("*.markdown"))
    out = []
    for path in files:
        text = path.read_text(encoding="utf-8").replace("\r\n", "\n")
        out += [(f"{path.relative_to(source.parent)}:{b.line}", b.code) for b in extract_lua_blocks(text)]
    return out


def _grade(code: str, index):
    from luacoder.grading import grade_code

    return grade_code(code, index)


def documented_calls(grade) -> list:
    """The calls of documented names: the API's (matched or hallucinated) and the standard library's."""
    return sorted([*grade.calls, *getattr(grade, "standard_calls", [])], key=lambda c: (c.line, c.column))


def _accepted(call) -> bool:
    return call.kind in ("matched", "standard") and call.arity_ok is not False


def _flagged(grade, line: int, column: int) -> bool:
    for call in documented_calls(grade):
        if (call.line, call.column) == (line, column):
            return call.kind == "hallucinated" or call.arity_ok is False
    return any((u.line, u.column) == (line, column) for u in getattr(grade, "undefined", []))


def full_arity(entry) -> tuple[int, float]:
    """(fewest, most) arguments of an entry's function form, `self` included for an entry named `Type:m`."""
    fewest, most = entry.arity()
    return (fewest + 1, most + 1) if ":" in entry.name else (fewest, most)


def _offset(code: str, line: int, column: int) -> int:
    lines = code.encode("utf-8").split(b"\n")
    return sum(len(x) + 1 for x in lines[: line - 1]) + column - 1


def mutations(code: str, call, index, all_methods: bool = False) -> list[tuple[str, str]]:
    """(kind, mutated code) for one accepted call: a wrong name, a wrong argument count."""
    from luacoder.lua.calls import parse

    data = code.encode("utf-8")
    start = _offset(code, call.line, call.column)
    short = call.name.replace(":", ".").rsplit(".", 1)[-1]
    out = []
    # A wrong method name is only detectable where the receiver's type is known (`f:read` on an `io.open` result, not
    # `s:sub` on a parameter): method calls on untyped receivers get the argument-count mutation only.
    typed = ":" not in call.name or getattr(call, "receiver", "") or all_methods
    if typed and data[start : start + len(short)] == short.encode():
        end = start + len(short)
        out.append(("name", (data[:end] + SUFFIX.encode() + data[end:]).decode("utf-8")))
    node = parse(data).root_node.descendant_for_byte_range(start, start + 1)
    while node is not None and node.type != "function_call":
        node = node.parent
    args = node.child_by_field_name("arguments") if node is not None else None
    if args is None or not args.text.startswith(b"(") or not call.entries:
        return out
    entries = [index.entries[e] for e in call.entries if e in index.entries]
    if not entries:
        return out
    offset = 1 if ":" in call.name else 0
    fewest = min(full_arity(e)[0] for e in entries) - offset
    most = max(full_arity(e)[1] for e in entries) - offset
    if most != float("inf"):
        extra = int(most) - call.args + 1
        inner = args.text[1:-1].strip()
        new = b"(" + inner + (b", " if inner else b"") + b", ".join([b"0"] * extra) + b")"
    elif fewest >= 1:
        new = b"()"
    else:
        return out
    out.append(("arity", (data[: args.start_byte] + new + data[args.end_byte :]).decode("utf-8")))
    return out


def measure(corpus: str, mutate_every: int = 1, all_methods: bool = False) -> Measure:
    index = index_for(corpus)
    result = Measure(corpus)
    accepted = []
    for where, code in samples(corpus):
        grade = _grade(code, index)
        if not grade.syntax_valid:
            continue
        result.samples += 1
        for call in documented_calls(grade):
            result.api_calls += 1
            if _accepted(call):
                result.accepted += 1
                accepted.append((where, code, call))
            else:
                why = call.reason or f"{call.args} args, documented {call.expected_args}"
                result.rejected.append(f"{where}:{call.line}: {call.name} ({call.resolved}) {call.kind}: {why}")
        for u in getattr(grade, "undefined", []):
            result.undefined_globals.append(f"{where}:{u.line}: {u.name}")
    for where, code, call in accepted[::mutate_every]:
        for kind, mutated in mutations(code, call, index, all_methods):
            result.mutated += 1
            if _flagged(_grade(mutated, index), call.line, call.column):
                result.flagged += 1
            else:
                result.missed.append(f"{where}:{call.line}: {kind} of {call.name}")
    return result


def present(corpus: str) -> bool:
    return SOURCES[corpus].exists()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpora", nargs="*", default=list(SOURCES))
    parser.add_argument("-v", "--verbose", action="store_true", help="list rejected calls and missed mutations")
    parser.add_argument("--every", type=int, default=1, help="mutate every N-th accepted call")
    parser.add_argument(
        "--all-methods", action="store_true", help="also rename methods called on receivers of unknown type"
    )
    args = parser.parse_args(argv)
    print(HEADER)
    for corpus in args.corpora:
        if not present(corpus):
            print(f"| {corpus} | absent: {SOURCES[corpus]} | | | | | |")
            continue
        m = measure(corpus, args.every, args.all_methods)
        print(m.row())
        if args.verbose:
            for line in m.rejected + m.undefined_globals + m.missed:
                print("   ", line, file=sys.stderr)
    return 0


if __name__ == "__main__":  # with PYTHONPATH naming the tree to measure
    sys.exit(main())
