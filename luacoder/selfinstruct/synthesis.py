"""Synthesis aimed at the API (`luacoder synthesize`): a teacher writes tasks that need drawn entries and tested
answers to them; only answers that keep to the documented API and pass their own tests become chat rows.

    summary = synthesize(api, config, teacher)     # -> <output_dir>/synth/: chat.jsonl, README.md, funnel.json, ...

1. Draw `synthesis.items` items of 1-3 documented entries, favouring those the chat dataset covers least and, with
   `synthesis.entries_report` (eval's entries.csv), those the last checkpoint hallucinated or never used
   (luacoder.selfinstruct.aim).
2. E->I: the teacher writes an instruction that needs the item's entries (their signatures and summaries).
3. EI->R: `synthesis.samples` responses per instruction, each with code and assert-based tests, the entries' cards
   in the prompt.
4. The funnel (luacoder.selfinstruct.api_filter): parsed, API-valid (documented calls, fitting arity, the drawn
   entries called), ran with the API's stubs, passed its tests, kept (no placeholder, not contaminated by an eval
   prompt, not a duplicate or MinHash near-duplicate, one response per instruction).

Steps 2 and 3 write their rows a line at a time (luacoder.selfinstruct.run_log): `resume=True` (`--continue`) goes
on after a kill. The folder then holds `e_to_i.*` and `ei_to_r.*` (the teacher's rows), `chat.jsonl` (the kept
rows, `{"messages", "source": "synthesized"}`: `chat.synthesized` of data/config.yaml adds them to the chat
dataset), `kept.jsonl` (with lineage), `rejects.jsonl` (each response's stage and reason), `funnel.json` and the
card `README.md`.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

from luacoder.apidocs.schema import ApiSet
from luacoder.data.build import eval_prompts_for
from luacoder.data.card import markdown_table
from luacoder.data.config import DataConfig
from luacoder.data.filters import ApiChecker
from luacoder.files import read_jsonl, write_json, write_jsonl, write_text
from luacoder.selfinstruct.aim import coverage_of, draw_items, read_entry_report
from luacoder.selfinstruct.api_filter import STAGES, ApiFilterConfig, FilterResult, filter_aimed
from luacoder.selfinstruct.run_log import read_log
from luacoder.selfinstruct.stages import GenerationConfig, run_stage, stage_paths
from luacoder.selfinstruct.teachers import Teacher

log = logging.getLogger(__name__)
SOURCE = "synthesized"


def synthesis_dir(config: DataConfig) -> Path:
    return config.out / "synth"


def synthesize(
    api: ApiSet,
    config: DataConfig,
    teacher: Teacher,
    out_dir: str | Path | None = None,
    *,
    resume: bool = False,
    coverage_rows: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run the whole synthesis (see the module docstring) and return its summary (also `funnel.json`).
    `coverage_rows`: chat rows whose calls count as covered (default: the chat dataset's train split, when built)."""
    started = time.perf_counter()
    cfg = config.synthesis
    out = Path(out_dir) if out_dir is not None else synthesis_dir(config)
    out.mkdir(parents=True, exist_ok=True)
    checker = ApiChecker(api)
    if coverage_rows is None:
        train = config.out / "chat" / "train.jsonl"
        coverage_rows = read_jsonl(train) if train.is_file() and train.stat().st_size else []
    # Only the template rows count: a rebuild that adds this synthesis's rows must draw the same items again.
    coverage = coverage_of((r for r in coverage_rows if r.get("source") not in (SOURCE, "replay")), checker)
    report = read_entry_report(config.path(cfg.entries_report)) if cfg.entries_report else None
    items = draw_items(api, coverage, report, cfg.items, cfg.sizes, config.seed)
    if not items:
        raise ValueError(f"{api.name}: no documented function or method to draw (synthesis.items={cfg.items})")

    def generation(samples: int, max_tokens: int) -> GenerationConfig:
        return GenerationConfig(
            num_fewshots=cfg.num_fewshots,
            samples=samples,
            temperature=cfg.temperature,
            max_tokens=max_tokens,
            seed=config.seed,
        )

    instructions = run_stage("E->I", out, teacher, generation(1, cfg.instruction_tokens), items=items, resume=resume)
    if instructions["kept"]:
        responses = run_stage("EI->R", out, teacher, generation(cfg.samples, cfg.response_tokens), resume=resume)
        kept_path, rejected_path, _ = stage_paths(out, "EI->R")
        answered = read_log(kept_path)
        failures = [r for r in read_log(rejected_path) if not r.get("retryable")]
    else:
        responses, answered, failures = {"complete": True, "units": 0}, [], []
    prompts = [p.prompt for p in eval_prompts_for(api, config)]
    filter_config = ApiFilterConfig(
        timeout=cfg.sandbox_timeout,
        keep_tests=cfg.keep_tests,
        decontam_ngram=config.chat.decontam_ngram,
        near_dup_threshold=config.pretrain.near_dup_threshold,
        num_perm=config.pretrain.num_perm,
        shingle_size=config.pretrain.shingle_size,
    )
    result = filter_aimed(answered, failures, api, filter_config, prompts)
    chat = [
        {
            "messages": [
                {"role": "user", "content": row["instruction"]},
                {"role": "assistant", "content": row["response"]},
            ],
            "source": SOURCE,
            "entries": row["entries"],
        }
        for row in result.kept
    ]
    drawn = Counter(name for item in items for name in item["entries"])
    summary = {
        "api": api.name,
        "teacher": teacher.describe(),
        "items": len(items),
        "instructions": instructions["kept"],
        "instructions_rejected": instructions["rejected"],
        "complete": bool(instructions["complete"] and responses["complete"]),
        "funnel": result.funnel,
        "reasons": result.reasons,
        "entries": len([e for e in api if e.kind in ("function", "method")]),
        "entries_drawn": len(drawn),
        "entries_kept": len(result.coverage),
        "decontaminated_against": len(prompts),
        "decontam_ngram": config.chat.decontam_ngram,
        "entries_report": cfg.entries_report,
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_jsonl(out / "chat.jsonl", chat)
    write_jsonl(out / "kept.jsonl", result.kept)
    write_jsonl(out / "rejects.jsonl", result.rejected)
    write_json(out / "funnel.json", summary)
    write_text(out / "README.md", synthesis_card(summary, cfg, drawn, result, coverage))
    log.info("synthesis: %s -> %s", " -> ".join(f"{k} {v}" for k, v in result.funnel.items()), out / "chat.jsonl")
    return summary


STAGE_TEXT = {
    "generated": "responses the teacher was asked for and gave an outcome",
    "parsed": "answered in the asked shape: code, a [Tests] line, tests that assert",
    "api_valid": "every call documented with a fitting argument count, every drawn entry called",
    "ran": "the code ran to its end in the sandbox with the API's stubs",
    "passed": "the tests passed, ran an assertion and use what the code defines",
    "kept": "no placeholder, not contaminated, not a (near) duplicate, first for its instruction",
}


def synthesis_card(summary, cfg, drawn: Counter, result: FilterResult, coverage: Counter) -> str:
    funnel = result.funnel
    rows = [
        {"stage": stage, "responses": funnel[stage], "of generated": _share(funnel[stage], funnel["generated"])}
        | {"what it means": STAGE_TEXT[stage]}
        for stage in STAGES
    ]
    reasons = [
        {"stage": stage, "reason": reason, "responses": n}
        for stage in STAGES
        for reason, n in result.reasons.get(stage, {}).items()
    ]
    least = sorted(drawn, key=lambda name: (result.coverage[name], -drawn[name], name))[:15]
    coverage_rows = [
        {"entry": n, "drawn": drawn[n], "kept responses calling it": result.coverage[n], "covered before": coverage[n]}
        for n in least
    ]
    teacher = summary["teacher"]
    return "\n".join(
        [
            f"# Synthesized chat rows: {summary['api']}\n",
            "Rows written by `luacoder synthesize` (luacoder.selfinstruct.synthesis): a teacher wrote an instruction"
            " that needs 1-3 drawn entries of the API, then responses with tests; a response is kept only when it"
            " passes every stage below. `chat.jsonl` holds the kept rows; `rejects.jsonl` every other response with"
            " its stage and reason.\n",
            "## Teacher\n",
            f"{teacher['kind']} `{teacher['model']}`"
            + (f" at {teacher['base_url']}" if teacher.get("base_url") else "")
            + (f" ({teacher['backend']} in this process)" if teacher.get("backend") else "")
            + f"; {cfg.samples} responses per instruction at temperature {cfg.temperature:g}, {cfg.num_fewshots}"
            f" few-shot examples, API style {cfg.api_style}.\n",
            "## Funnel\n",
            f"{summary['items']} items drawn (shares {', '.join(f'{s:g}' for s in cfg.sizes)} with 1, 2, 3"
            f" entries), {summary['instructions']} instructions written"
            + (
                f" (the others rejected: {', '.join(f'{k} {v}' for k, v in summary['instructions_rejected'].items())})"
                if summary["instructions_rejected"]
                else ""
            )
            + f", {cfg.samples} responses asked for each; per response:\n",
            markdown_table(rows),
            f"\ngenerated {funnel['generated']} = kept {funnel['kept']} + rejected"
            f" {funnel['generated'] - funnel['kept']}."
            + ("" if summary["complete"] else " **The run is not complete**: rerun with `--continue`.")
            + "\n",
            "### Why responses were rejected\n",
            markdown_table(reasons),
            "## Coverage of the API\n",
            f"{summary['entries_drawn']} of the {summary['entries']} documented functions and methods were drawn;"
            f" kept responses call {summary['entries_kept']} of them correctly. Entries were drawn by need,"
            " (1 + misses) / (1 + rows covering them), with `covered before` counted in the chat dataset's train"
            " split"
            + (f" and misses from {summary['entries_report']}" if summary["entries_report"] else "")
            + ". The drawn entries with the fewest kept responses:\n",
            markdown_table(coverage_rows),
            f"\nDecontaminated against {summary['decontaminated_against']} eval prompts (instructions sharing a"
            f" {summary['decontam_ngram']}-word n-gram with one are rejected).\n",
        ]
    )


def _share(n: int, total: int) -> str:
    return f"{n / total:.3f}" if total else "-"
