"""`luacoder self-instruct --mode S->C|C->I|I->R|filter`: self-instruct data from a server, then chat rows.

export OPENAI_BASE_URL=http://localhost:8000/v1        # vLLM's OpenAI-compatible server (or transformers serve)
luacoder self-instruct --mode 'S->C' --api_path api.json --teacher_model MODEL -o outputs/self_instruct
luacoder self-instruct --mode 'C->I' --teacher_model MODEL -o outputs/self_instruct
luacoder self-instruct --mode 'I->R' --teacher_model MODEL -o outputs/self_instruct
luacoder self-instruct --mode filter --api_path api.json -o outputs/self_instruct   # -> chat.jsonl (API stubs)
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from luacoder.cli import add_option, add_output_dir, takes_overrides
from luacoder.errors import report
from luacoder.lua.sandbox import DEFAULT_TIMEOUT

EXIT_INCOMPLETE = 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "self-instruct",
        help="StarCoder2-Instruct's self-alignment against an OpenAI-compatible server: snippets -> concepts ->"
        " instructions -> responses, then the execution filter and chat rows",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--mode", required=True, help="S->C, C->I, I->R (quote them in a shell) or filter")
    add_output_dir(p, "output folder, shared by all modes", required=True, old=["--out"])
    p.add_argument("--api_path", type=Path, help="api.json: the starting points of S->C; the filter's API stubs")
    p.add_argument(
        "--input", type=Path, help="rows to start from (default: the previous mode's output in --output_dir)"
    )
    p.add_argument("--continue", dest="resume", action="store_true", help="go on with the run in --output_dir")

    server = p.add_argument_group("server (generation modes)")
    add_option(
        server,
        "--teacher_model",
        old=["--model"],
        help="the server's name for the model (vLLM: --served-model-name)",
    )
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
    add_option(
        gen,
        "--few_shot_prompt",
        old=["--prompts"],
        help="few-shot prompt file (default: data/self_instruct/prompts/<mode>.txt)",
    )
    gen.add_argument("--num_fewshots", type=int, default=3, help="examples per prompt, drawn per item (3)")
    gen.add_argument("--samples", type=int, default=1, help="answers per item, each with its own seed (1)")
    gen.add_argument("--temperature", type=float, default=0.7)
    add_option(
        gen, "--max_new_tokens", old=["--max_tokens"], type=int, help="default: 256 (S->C), 512 (C->I), 1536 (I->R)"
    )
    gen.add_argument("--seed", type=int, default=3407)
    gen.add_argument("--language", default="Lua 5.4", help="the language named in C->I properties")
    gen.add_argument("--limit", type=int, help="only the first N items (a trial run)")

    filt = p.add_argument_group("filter")
    filt.add_argument(
        "--sandbox_timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="seconds per response in the sandbox (%(default)g)",
    )
    filt.add_argument("--drop_tests", action="store_true", help="chat answers without their tests")
    filt.add_argument(
        "--near_duplicate_threshold", type=float, default=0.9, help="instruction similarity that counts (0.9)"
    )
    filt.add_argument("--system_prompt", help="a system turn for every chat row")
    filt.add_argument("--eval_prompts", type=Path, help="eval prompts (.csv with a prompt column, .jsonl, .txt)")
    p.set_defaults(func=self_instruct_command)

    p = sub.add_parser(
        "synthesize",
        help="synthesis aimed at the API: a teacher writes tasks for drawn entries and tested answers; only those that"
        " keep to the documented API and pass their tests become chat rows (<output_dir>/synth/)",
        description=SYNTHESIZE_DOC,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", type=Path, help="the data config (data/config.yaml); its `synthesis` section")
    p.add_argument("--api_path", type=Path, help="the api.json (default: <output_dir>/api.json)")
    add_output_dir(p, "output folder (default: <output_dir>/synth)", old=["--out"])
    p.add_argument("--continue", dest="resume", action="store_true", help="go on with the run in the output folder")
    from luacoder.selfinstruct.teachers import add_teacher_arguments

    add_teacher_arguments(p)
    takes_overrides(p, "the data config (--synthesis.items=50)")
    p.set_defaults(func=synthesize_command)


SYNTHESIZE_DOC = """Synthesis aimed at the API: draw 1-3 documented entries per item (the least covered first), have a
teacher write an instruction that needs them and several responses with tests, keep a response only when every call
is documented with a fitting argument count, it calls the drawn entries, runs with the API's stubs and passes its
tests; dedup and decontaminate. Writes <output_dir>/synth/chat.jsonl and a card with the funnel.

  luacoder synthesize --config data/config.yaml --teacher http://localhost:8000/v1       # any OpenAI-compatible server
  luacoder synthesize --config data/config.yaml --teacher self --base_model MODEL_FOLDER  # the model teaches itself
  luacoder synthesize --config data/config.yaml --teacher MODEL_FOLDER --synthesis.items=50 # in this process
"""


def synthesize_command(args: argparse.Namespace) -> int:
    from luacoder.apidocs.schema import load_api
    from luacoder.data.config import load_data_config
    from luacoder.data.sources import load_or_build_api
    from luacoder.selfinstruct.client import ServerConfigError
    from luacoder.selfinstruct.run_log import FingerprintMismatch, LogBusy, OutputExists
    from luacoder.selfinstruct.runner import ServerUnavailable
    from luacoder.selfinstruct.synthesis import synthesize
    from luacoder.selfinstruct.teachers import teacher_from_args

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        config = load_data_config(args.config, args.overrides)
        api = load_api(args.api_path) if args.api_path is not None else load_or_build_api(config)
        teacher = teacher_from_args(args, config)
        summary = synthesize(api, config, teacher, args.output_dir, resume=args.resume)
    except (ValueError, OutputExists, FingerprintMismatch) as exc:
        return report("luacoder synthesize", exc)
    except (ServerConfigError, ServerUnavailable, LogBusy) as exc:
        print(f"luacoder synthesize: {exc}", file=sys.stderr)
        return EXIT_INCOMPLETE
    funnel = summary["funnel"]
    print("synthesis: " + ", ".join(f"{stage} {n}" for stage, n in funnel.items()))
    if not summary["complete"]:
        print("the run is not complete: rerun the same command with --continue", file=sys.stderr)
        return EXIT_INCOMPLETE
    return 0


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
        return report("luacoder self-instruct", exc)
    except (ServerConfigError, ServerUnavailable, LogBusy) as exc:
        print(f"luacoder self-instruct: {exc}", file=sys.stderr)
        return EXIT_INCOMPLETE
    counts = {k: summary[k] for k in ("kept", "rejected") if k in summary}
    print(f"{summary['mode']}: {counts} (summary: {args.output_dir})")
    if summary.get("complete") is False:
        print("the run is not complete: rerun the same command with --continue", file=sys.stderr)
        return EXIT_INCOMPLETE
    return 0


def _generate(args: argparse.Namespace) -> dict:
    from luacoder.selfinstruct.client import ServerSettings
    from luacoder.selfinstruct.stages import GenerationConfig, normalize_mode, run_stage
    from luacoder.selfinstruct.teachers import ServerTeacher

    mode = normalize_mode(args.mode)
    if not args.teacher_model:
        raise ValueError("--teacher_model is required: the name the server serves the model under")
    server = ServerTeacher(ServerSettings.from_args(args, model=args.teacher_model))
    config = GenerationConfig(
        num_fewshots=args.num_fewshots,
        samples=args.samples,
        temperature=args.temperature,
        max_tokens=args.max_new_tokens,
        seed=args.seed,
        language=args.language,
        prompt_file=args.few_shot_prompt,
        limit=args.limit,
    )
    return run_stage(
        mode,
        args.output_dir,
        server,
        config,
        api=args.api_path,
        input_path=args.input,
        resume=args.resume,
        max_consecutive_failures=args.max_consecutive_failures,
    )


def _filter(args: argparse.Namespace) -> dict:
    from luacoder.apidocs.schema import load_api
    from luacoder.evaluation.prompts import read_prompts, shipped_prompt_sets
    from luacoder.lua.stubs import stub_prelude
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
        stubs=stub_prelude(load_api(args.api_path)) if args.api_path else "",
    )
    return run_filter(args.output_dir, config, input_path=args.input)
