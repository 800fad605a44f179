"""`luacoder policy-pairs`: preference pairs from a chat checkpoint's own answers (luacoder.rl.policy_pairs)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from luacoder.cli import add_output_dir

FAILED = 1
_BOOLEANS = {"true": True, "false": False}


def register(sub: argparse._SubParsersAction) -> None:
    from luacoder.rl.policy_pairs import PairsSettings

    settings = PairsSettings()  # the defaults, defined there once
    sampling = settings.decoding
    p = sub.add_parser(
        "policy-pairs",
        help="preference pairs from a chat checkpoint's own sampled answers: a clean one against a hallucinating one",
        description="Sample answers from a chat checkpoint to training prompts, grade them with eval's grader and"
        " pair a clean answer with a hallucinating one for the same prompt (TRL preference rows for dpo.py).",
    )
    p.add_argument("--model_name_or_path", required=True, help="the chat checkpoint (its template and system prompt)")
    p.add_argument("--api_path", required=True, type=Path, help="api.json the answers are graded against")
    p.add_argument(
        "--prompt_files",
        required=True,
        nargs="+",
        type=Path,
        help="training prompts: chat rows (.jsonl, e.g. the chat train split) or CSVs (prompt, expected_apis); never"
        " eval's prompts",
    )
    add_output_dir(p, "train.jsonl, samples.jsonl, summary.json, card", required=True)
    p.add_argument(
        "--samples_per_prompt",
        type=int,
        default=settings.samples_per_prompt,
        help="answers sampled per prompt (default %(default)d)",
    )
    p.add_argument(
        "--pairs_per_prompt",
        type=int,
        default=settings.pairs_per_prompt,
        help="at most this many pairs per prompt (default %(default)d)",
    )
    p.add_argument("--prompts_per_file", type=int, default=None, help="a seeded choice of each file's prompts")
    p.add_argument("--max_new_tokens", type=int, default=sampling.max_new_tokens)
    p.add_argument("--temperature", type=float, default=sampling.temperature)
    p.add_argument("--top_p", type=float, default=sampling.top_p)
    p.add_argument("--top_k", type=int, default=sampling.top_k)
    p.add_argument("--seed", type=int, default=settings.seed)
    p.add_argument(
        "--system_prompt", default=None, help="default: the one the checkpoint was trained with; '' for none"
    )
    p.add_argument(
        "--count_undefined_globals",
        default="true",
        choices=sorted(_BOOLEANS),
        help="an answer calling an undefined global hallucinates, as eval counts it (default true)",
    )
    p.add_argument(
        "--standard_library", default=None, help="Lua standard library under the API: lua54, docs path, none"
    )
    p.add_argument("--dtype", default="auto", help="auto, float32, bfloat16 or float16")
    p.add_argument("--device", default=None, help="default: cuda when there is a GPU, else cpu")
    p.add_argument("--batch_size", type=int, default=settings.batch_size, help="sequences decoded together")
    p.set_defaults(func=policy_pairs_command)


def policy_pairs_command(args: argparse.Namespace) -> int:
    from luacoder.apidocs.schema import ApiError
    from luacoder.checkpoints import CheckpointError
    from luacoder.dialogue import ChatRowError
    from luacoder.evaluation.engine import Decoding, system_prompt_for
    from luacoder.files import RowError
    from luacoder.grading.api_index import load_index
    from luacoder.rl.policy_pairs import PairsSettings, build_policy_pairs, read_prompt_rows, save_policy_pairs

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("luacoder").setLevel(logging.INFO)
    count_undefined = _BOOLEANS[args.count_undefined_globals]
    try:
        system_prompt = system_prompt_for(args.model_name_or_path, args.system_prompt)
        settings = PairsSettings(
            samples_per_prompt=args.samples_per_prompt,
            pairs_per_prompt=args.pairs_per_prompt,
            prompts_per_file=args.prompts_per_file,
            seed=args.seed,
            decoding=Decoding(
                max_new_tokens=args.max_new_tokens,
                do_sample=True,
                temperature=args.temperature,
                top_p=args.top_p,
                top_k=args.top_k,
            ),
            count_undefined_globals=count_undefined,
            system_prompt=system_prompt or None,
            dtype=args.dtype,
            device=args.device,
            batch_size=args.batch_size,
        )
        index = load_index(args.api_path, args.standard_library)
        prompts = read_prompt_rows(args.prompt_files, index, settings)
        rows, samples, report = build_policy_pairs(args.model_name_or_path, index, prompts, settings)
    except (ApiError, RowError, ChatRowError, CheckpointError, FileNotFoundError, ValueError) as exc:
        print(f"luacoder policy-pairs: {exc}", file=sys.stderr)
        return FAILED
    about = {
        "checkpoint": str(args.model_name_or_path),
        "api_path": str(args.api_path),
        "prompt_files": [str(p) for p in args.prompt_files],
        "samples_per_prompt": settings.samples_per_prompt,
        "pairs_per_prompt": settings.pairs_per_prompt,
        "prompts_per_file": settings.prompts_per_file,
        "seed": settings.seed,
        "temperature": settings.decoding.temperature,
        "top_p": settings.decoding.top_p,
        "top_k": settings.decoding.top_k,
        "max_new_tokens": settings.decoding.max_new_tokens,
        "system_prompt": settings.system_prompt,
        "count_undefined_globals": count_undefined,
    }
    path = save_policy_pairs(args.output_dir, rows, samples, report, about)
    summary = report.to_dict()
    if not rows:
        reasons = "; ".join(f"{n} {reason}" for reason, n in summary["unpaired"].items())
        print(
            f"luacoder policy-pairs: none of {summary['prompts']} prompts gave a pair ({reasons}); the sampled answers"
            f" and their verdicts are in {args.output_dir / 'samples.jsonl'}",
            file=sys.stderr,
        )
        return FAILED
    print(
        f"{summary['prompts_with_a_pair']} of {summary['prompts']} prompts gave a pair: {summary['pairs']} pairs in"
        f" {path} ({summary['clean_samples']} clean, {summary['hallucinating_samples']} hallucinating of"
        f" {summary['samples']} answers; {summary['seconds']} s sampling)"
    )
    return 0
