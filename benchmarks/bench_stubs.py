"""The API stubs (luacoder.lua.stubs) on the Lua examples of the shared corpora's own docs, and what they cost a run.

    .venv/bin/python benchmarks/bench_stubs.py [sets ...] [--every 1] [--most N] [--repeats 20]

For every set of ../shared/corpora, read as `luacoder docs` reads it, the examples of its api.json entries that the
grader accepts run with the set's stubs, and each stubbed call in them is mutated (a suffixed name, one argument too
many, one too few); tests/stubs_corpora.py defines every column. One row per set: snippets, accepted, the share that
ran to its end, the share with a false API error (target <= 1%), stops on a member the api.json does not have, other
stops, and mutations flagged as API errors among those whose call runs (target >= 95%). Then the cost: the prelude
of a generated api.json of 5,050 entries, its size, the time to write it, and a trivial program's time in the
sandbox with and without it (medians of --repeats, in one sandbox child).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import stubs_corpora  # noqa: E402

from luacoder.apidocs.schema import ApiEntry, ApiSet, Param, Return  # noqa: E402
from luacoder.lua.sandbox import LuaJob, run_many  # noqa: E402
from luacoder.lua.stubs import stub_prelude  # noqa: E402


def generated_api(modules: int = 50, functions: int = 100) -> ApiSet:
    entries = [
        ApiEntry(
            name=f"mod{m}.func{f}",
            kind="function",
            module=f"mod{m}",
            signature=f"mod{m}.func{f}(a, [b])",
            params=[Param("a", "number"), Param("b", "string", optional=True)],
            returns=[Return("Obj" if f % 2 else "number")],
        )
        for m in range(modules)
        for f in range(functions)
    ]
    methods = [
        ApiEntry(name=f"Obj:meth{m}", kind="method", module="Obj", signature="", params=[Param("x", "number")])
        for m in range(modules)
    ]
    return ApiSet("generated", entries + methods)


def cost(repeats: int) -> str:
    api = generated_api()
    started = time.perf_counter()
    prelude = stub_prelude(api)
    built = time.perf_counter() - started
    code = 'local o = mod3.func1(1); o:meth4(2); assert(mod49.func98(1, "x") == 1)'
    jobs = [LuaJob(code, prelude=prelude) if i % 2 else LuaJob("local x = 1") for i in range(2 * repeats)]
    results = run_many(jobs)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok][:1]
    with_stubs = statistics.median(r.elapsed for r in results[1::2])
    without = statistics.median(r.elapsed for r in results[0::2])
    return (
        f"cost: {len(api.entries)} entries -> a prelude of {len(prelude):,} characters written in {built:.2f} s; "
        f"a run {1000 * with_stubs:.1f} ms with it, {1000 * without:.1f} ms without (medians of {repeats})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sets", nargs="*", default=list(stubs_corpora.SETS))
    parser.add_argument("--every", type=int, default=1, help="mutate every N-th stubbed call")
    parser.add_argument("--most", type=int, default=None, help="at most N examples per set, evenly spread")
    parser.add_argument("--repeats", type=int, default=20, help="runs on each side of the cost measurement")
    args = parser.parse_args()
    if not stubs_corpora.CORPORA.is_dir():
        print(f"no shared corpora at {stubs_corpora.CORPORA}")
        return 1
    print(cost(args.repeats), flush=True)
    measures = [stubs_corpora.measure(s, args.every, args.most) for s in args.sets]
    idle = [f"{m.corpus} ({m.note or f'{m.snippets} snippets, none accepted'})" for m in measures if not m.accepted]
    print("no examples to run:", "; ".join(idle))
    print(stubs_corpora.HEADER)
    for m in measures:
        if m.accepted:
            print(m.row())
    accepted = sum(m.accepted for m in measures)
    false = sum(len(m.false_api) for m in measures)
    executed, flagged = sum(m.executed for m in measures), sum(m.flagged for m in measures)
    print(
        f"all sets: false API errors {false}/{accepted} snippets ({100 * false / max(accepted, 1):.1f}%), "
        f"mutations flagged {flagged}/{executed} ({100 * flagged / max(executed, 1):.1f}%), "
        f"{sum(m.seconds for m in measures):.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
