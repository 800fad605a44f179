"""`luacoder multipl-e score`: score completions made anywhere (no model needed) on MultiPL-E's tests."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from luacoder.cli import add_option, add_output_file
from luacoder.errors import report


def register(sub: argparse._SubParsersAction) -> None:
    from luacoder.evaluation import multipl_e as m

    bench = sub.add_parser("multipl-e", help="MultiPL-E (HumanEval-Lua): functional pass@k in the Lua sandbox")
    bench_sub = bench.add_subparsers(dest="multipl_e_command", required=True)
    p = bench_sub.add_parser(
        "score",
        help="run completions against the problems' tests; print pass@1 and pass@k, write per-problem outcomes",
    )
    p.add_argument(
        "--problems", required=True, help="MultiPL-E JSONL, or a hub id such as nuprl/MultiPL-E:humaneval-lua"
    )
    p.add_argument(
        "--completions",
        required=True,
        type=Path,
        help='JSONL rows {"name", "completion"} (several rows per name for pass@k); cut at the stop tokens here',
    )
    add_output_file(p, "per-problem JSONL: n, passed, pass@k and every outcome", old=["--output"])
    p.add_argument(
        "--chat",
        action="store_true",
        help="completions are chat answers: their ```lua code is the function (or its body)",
    )
    p.add_argument(
        "-k", type=int, nargs="+", default=list(m.KS), help="the k of pass@k (up to the samples per problem)"
    )
    p.add_argument("--timeout", type=float, default=m.DEFAULT_TIMEOUT, metavar="S", help="seconds per program")
    add_option(
        p,
        "--memory_mb",
        old=["--memory-mb"],
        type=float,
        default=m.DEFAULT_MEMORY_MB,
        metavar="M",
        help="memory of the Lua state (%(default)g)",
    )
    p.add_argument("--instructions", type=int, default=m.DEFAULT_INSTRUCTIONS, help="instruction budget per program")
    p.set_defaults(func=score_command)


def score_command(args: argparse.Namespace) -> int:
    from luacoder.evaluation import multipl_e as m
    from luacoder.files import RowError, atomic_open

    if min(args.timeout, args.memory_mb, args.instructions, *args.k) <= 0:
        return report("luacoder multipl-e", "-k, --timeout, --memory_mb and --instructions must be positive")
    try:
        problems = m.load_problems(args.problems)
        completions = m.read_completions(args.completions)
        limits = m.Limits(args.timeout, args.memory_mb, args.instructions)
        outcomes = m.run_completions(problems, completions, limits, report_type="markdown" if args.chat else "code")
    except (RowError, ValueError) as exc:
        return report("luacoder multipl-e", exc)
    scores, rows = m.summarize(outcomes, args.k)
    if args.output_file is not None:
        with atomic_open(args.output_file) as handle:
            handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    without = len(problems) - scores.problems
    print(m.summary_line(scores))
    if without:
        print(f"{without} of the {len(problems)} problems have no completion and are not counted")
    if args.output_file is not None:
        print(f"outcomes: {args.output_file}")
    return 0
