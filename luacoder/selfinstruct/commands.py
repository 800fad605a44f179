"""`luacoder self-instruct --mode S->C|C->I|I->R|filter`: self-instruct data from a server, then chat rows.

export OPENAI_BASE_URL=http://localhost:8000/v1        # vLLM's OpenAI-compatible server (or transformers serve)
luacoder self-instruct --mode 'S->C' --api_path api.json --model MODEL --out outputs/self_instruct
luacoder self-instruct --mode 'C->I' --model MODEL --out outputs/self_instruct
luacoder self-instruct --mode 'I->R' --model MODEL --out outputs/self_instruct
luacoder self-instruct --mode filter --out outputs/self_instruct   # -> chat.jsonl for deepspeed/chat
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

MODE_CHOICES = ("S->C", "C->I", "I->R", "filter")
EXIT_INCOMPLETE = 1
USAGE_ERROR = 2


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "self-instruct",
        help="StarCoder2-Instruct's self-alignment against an OpenAI-compatible server: snippets -> concepts ->"
        " instructions -> responses, then the execution filter and chat rows",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--mode", required=True, help="S->C, C->I, I->R (quote them in a shell) or filter")
    p.add_argument("-o", "--out", type=Path, required=True, help="output folder, shared by all modes")
    p.add_argument("--api_path", type=Path, help="api.json: the starting points of S->C")
    p.add_argument("--input", type=Path, help="rows to start from (default: the previous mode's output in --out)")
    p.add_argument("--continue", dest="resume", action="store_true", help="go on with the run in --out")

    server = p.add_argument_group("server (generation modes)")
    server.add_argument("--model", help="the model name the server serves (vLLM: --served-model-name)")
    server.add_argument("--base_url", help="OpenAI-compatible URL ending in /v1 (default: $OPENAI_BASE_URL)")
    server.add_argument(
        "--api_style",
        choices=["completions", "chat"],
        default="completions",
        help="completions: a base model continues a few-shot text, as in StarCoder2-Instruct (default); chat: an"
        " instruct model gets the examples as turns",
    )
    server.add_argument(
        "--concurrency", type=int, default=8, help="requests in flight (8; vLLM batches them: 32-128 fill a GPU)"
    )
    server.add_argument("--timeout", type=float, default=300.0, help="seconds per request (300)")
    server.add_argument("--max_retries", type=int, default=3, help="retries of a failed request (3)")
    server.add_argument("--backoff", type=float, default=1.0, help="seconds before the first retry, then doubling (1)")
    server.add_argument(
        "--max_consecutive_failures",
        type=int,
        default=20,
        help="stop when this many requests in a row got no answer (20); --continue goes on later",
    )

    gen = p.add_argument_group("generation (in the fingerprint, except --limit)")
    gen.add_argument("--prompts", help="few-shot prompt file (default: data/self_instruct/prompts/<mode>.txt)")
    gen.add_argument("--num_fewshots", type=int, default=3, help="examples per prompt, drawn per item (3)")
    gen.add_argument("--samples", type=int, default=1, help="answers per item, each with its own seed (1)")
    gen.add_argument("--temperature", type=float, default=0.7)
    gen.add_argument("--max_tokens", type=int, help="default: 256 (S->C), 512 (C->I), 1536 (I->R)")
    gen.add_argument("--seed", type=int, default=3407)
    gen.add_argument("--language", default="Lua 5.4", help="the language named in C->I properties")
    gen.add_argument("--limit", type=int, help="only the first N items (a trial run)")

    filt = p.add_argument_group("filter")
    filt.add_argument("--sandbox_timeout", type=float, default=5.0, help="seconds per response in the sandbox (5)")
    filt.add_argument("--drop_tests", action="store_true", help="chat answers without their tests")
    filt.add_argument(
        "--near_duplicate_threshold", type=float, default=0.9, help="instruction similarity that counts (0.9)"
    )
    filt.add_argument("--system_prompt", help="a system turn for every chat row")
    filt.add_argument("--eval_prompts", type=Path, help="eval prompts (.csv with a prompt column, .jsonl, .txt)")
    p.set_defaults(func=self_instruct_command)


def self_instruct_command(args: argparse.Namespace) -> int:
    from luacoder.apidocs.schema import ApiError
    from luacoder.files import RowError
    from luacoder.selfinstruct.client import ServerConfigError
    from luacoder.selfinstruct.prompts import PromptFileError
    from luacoder.selfinstruct.run_log import FingerprintMismatch, LogBusy, OutputExists
    from luacoder.selfinstruct.runner import ServerUnavailable

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # one line per request otherwise
    try:
        if args.mode == "filter":
            summary = _filter(args)
        else:
            summary = _generate(args)
    except (ValueError, RowError, ApiError, PromptFileError, OutputExists, FingerprintMismatch) as exc:
        print(f"luacoder self-instruct: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except (ServerConfigError, ServerUnavailable, LogBusy) as exc:
        print(f"luacoder self-instruct: {exc}", file=sys.stderr)
        return EXIT_INCOMPLETE
    counts = {k: summary[k] for k in ("kept", "rejected") if k in summary}
    print(f"{summary['mode']}: {counts} (summary: {args.out})")
    if summary.get("complete") is False:
        print("the run is not complete: rerun the same command with --continue", file=sys.stderr)
        return EXIT_INCOMPLETE
    return 0


def _generate(args: argparse.Namespace) -> dict:
    from luacoder.selfinstruct.client import ServerSettings
    from luacoder.selfinstruct.stages import GenerationConfig, normalize_mode, run_stage

    mode = normalize_mode(args.mode)
    if not args.model:
        raise ValueError("--model is required: the name the server serves the model under")
    server = ServerSettings.from_args(args)
    config = GenerationConfig(
        num_fewshots=args.num_fewshots,
        samples=args.samples,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        seed=args.seed,
        language=args.language,
        prompt_file=args.prompts,
        limit=args.limit,
    )
    return run_stage(
        mode,
        args.out,
        server,
        config,
        api=args.api_path,
        input_path=args.input,
        resume=args.resume,
        max_consecutive_failures=args.max_consecutive_failures,
    )


def _filter(args: argparse.Namespace) -> dict:
    from luacoder.evaluation.prompts import read_prompts, shipped_prompt_sets
    from luacoder.selfinstruct.response_filter import FilterConfig, run_filter

    # The given eval prompts and the shipped natural sets, which no training row may overlap.
    eval_prompts = read_prompts(args.eval_prompts) if args.eval_prompts else []
    eval_prompts += [prompt for path in shipped_prompt_sets() for prompt in read_prompts(path)]
    config = FilterConfig(
        timeout=args.sandbox_timeout,
        keep_tests=not args.drop_tests,
        near_duplicate_threshold=args.near_duplicate_threshold,
        system_prompt=args.system_prompt,
        eval_prompts=tuple(eval_prompts),
    )
    return run_filter(args.out, config, input_path=args.input)
