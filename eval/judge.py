"""Judge two checkpoints' answers pairwise with a judge model behind an OpenAI-compatible API (StarChat's method).

    export OPENAI_BASE_URL=http://localhost:8000/v1            # vLLM serving the judge model
    python judge.py --samples_a=../outputs/run1/eval/samples.jsonl --checkpoint_a=checkpoint-500 \\
                    --samples_b=../outputs/run2/eval/samples.jsonl --checkpoint_b=checkpoint-500 \\
                    --judge_model=JUDGE_MODEL -o ../outputs/judge

Both samples files are eval.py's; prompts are matched by text. Every pair is judged twice (A's answer first, then
B's) with the prompt in judge_prompt.txt; the judge gives each assistant a score from 1 to 8 and a short reason.
Writes judge.md (wins, ties and losses of A against B, and the pairs whose two orders disagree), judge.jsonl (one
row per pair), judge.summary.json, and the per-order logs judge.orders.jsonl / judge.orders.rejected.jsonl that
--continue goes on from after a kill. Exit status: 0 when every pair was asked in both orders, 1 when the run is
incomplete (the judge server failed), 2 for bad input.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from luacoder.cli import add_option, add_output_dir
from luacoder.config import DEFAULT_SEED
from luacoder.errors import report
from luacoder.files import RowError
from luacoder.selfinstruct.client import API_STYLES, ServerConfigError, ServerSettings
from luacoder.selfinstruct.pairwise_judge import pair_samples, read_samples, run_judge
from luacoder.selfinstruct.run_log import FingerprintMismatch, LogBusy, OutputExists
from luacoder.selfinstruct.runner import ServerUnavailable

HERE = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples_a", type=Path, required=True, help="eval.py's samples.jsonl with A's answers")
    p.add_argument("--checkpoint_a", help="the checkpoint of samples_a to judge (needed when it holds several)")
    p.add_argument("--samples_b", type=Path, required=True, help="samples.jsonl with B's answers (may be samples_a)")
    p.add_argument("--checkpoint_b", help="the checkpoint of samples_b to judge")
    add_option(p, "--judge_model", old=["--model"], required=True, help="the server's name for the judge model")
    add_output_dir(p, "judge.md, judge.jsonl, judge.summary.json and the per-order logs", required=True)
    add_option(
        p,
        "--judge_prompt",
        old=["--prompt_file"],
        type=Path,
        default=HERE / "judge_prompt.txt",
        help="the judge's prompt template (default: judge_prompt.txt beside judge.py)",
    )
    p.add_argument("--base_url", help="OpenAI-compatible URL ending in /v1 (default: $OPENAI_BASE_URL)")
    p.add_argument("--api_style", choices=API_STYLES, default="chat")
    p.add_argument("--temperature", type=float, default=0.0)
    add_option(p, "--max_new_tokens", old=["--max_tokens"], type=int, default=512, help="of a verdict (512)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per request")
    p.add_argument("--max_retries", type=int, default=3)
    p.add_argument("--backoff", type=float, default=1.0, help="seconds before the first retry; doubles each time")
    p.add_argument("--limit", type=int, help="judge only the first N pairs (a trial run)")
    p.add_argument("--continue", dest="resume", action="store_true", help="go on with the run in output_dir")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    try:
        name_a, rows_a = read_samples(args.samples_a, args.checkpoint_a)
        name_b, rows_b = read_samples(args.samples_b, args.checkpoint_b)
        pairs, only_a, only_b = pair_samples(rows_a, rows_b)
        server = ServerSettings.from_args(args, model=args.judge_model)
        summary = run_judge(
            pairs,
            args.output_dir,
            server,
            args.judge_prompt,
            names=(name_a, name_b),
            unpaired=(only_a, only_b),
            temperature=args.temperature,
            max_tokens=args.max_new_tokens,
            seed=args.seed,
            resume=args.resume,
            limit=args.limit,
        )
    except (RowError, ValueError, OutputExists, FingerprintMismatch) as exc:
        return report("judge.py", exc)
    except (ServerConfigError, ServerUnavailable, LogBusy) as exc:
        print(f"judge.py: {exc}", file=sys.stderr)
        return 1
    print(
        f"{name_a} (A) vs {name_b} (B): {summary['a_wins']} A wins, {summary['ties']} ties,"
        f" {summary['b_wins']} B wins, {summary['unparseable']} unparseable, {summary['failed']} failed;"
        f" orders disagree on {summary['disagreements']} of {summary['judged']}."
        f" Report: {args.output_dir / 'judge.md'}"
    )
    return 0 if summary["complete"] else 1


if __name__ == "__main__":
    sys.exit(main())
