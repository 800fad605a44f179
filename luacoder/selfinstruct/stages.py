"""The generation modes of self-instruct, after StarCoder2-Instruct's self-alignment pipeline.

    S->C  each example of each api.json entry (a seed snippet)  ->  the programming concepts it shows
    C->I  concepts + a property drawn per item (category, difficulty, the API)  ->  a coding instruction
    I->R  the instruction  ->  a response: explanation, Lua code, then "[Tests]" and assert-based tests

and the synthesis aimed at the API (luacoder.selfinstruct.synthesis), which starts from drawn entries instead:

    E->I   1-3 documented entries (their signatures and summaries: `cards`)  ->  an instruction that needs them
    EI->R  the instruction and the cards  ->  a response with tests

Each mode reads the previous one's kept rows (api.json for S->C, the drawn items for E->I) and writes, in the
output folder,
`<mode>.jsonl` (kept rows), `<mode>.rejected.jsonl` (rows with a reason) and `<mode>.summary.json` (settings,
fingerprint, counts). Rows carry their input's fields forward, so `i_to_r.jsonl` holds the whole lineage of every
response. Every unit (an item, or one of its `samples`) has its own seed, derived from its id.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from luacoder.apidocs.schema import ApiSet, load_api
from luacoder.files import RowError, write_json
from luacoder.selfinstruct.client import Sampling
from luacoder.selfinstruct.prompts import MODES, STOP, FewShotPrompt, default_prompt_file, load_prompt_file
from luacoder.selfinstruct.run_log import RunLog, file_digest, fingerprint, read_log
from luacoder.selfinstruct.runner import RunCounts, Unit, Unparseable, unit_seed
from luacoder.selfinstruct.teachers import Teacher

log = logging.getLogger(__name__)

DEFAULT_MAX_TOKENS = {"S->C": 256, "C->I": 512, "I->R": 1536, "E->I": 512, "EI->R": 1536}
CATEGORIES = ("function implementation", "module implementation", "program implementation")
DIFFICULTIES = ("easy", "medium", "hard")
UPSTREAM = {"C->I": "S->C", "I->R": "C->I", "EI->R": "E->I"}
_BOOKKEEPING = ("id", "fingerprint", "seed", "attempts")
TASK_CARDS_HEADING = "Documented functions to use:"  # before the drawn entries' cards in an EI->R query
_ALIASES = {name: mode for mode, (stem, _, _) in MODES.items() for name in (mode, mode.lower(), stem)}


def normalize_mode(text: str) -> str:
    """ "S->C", "s->c" or "s_to_c" -> "S->C"."""
    mode = _ALIASES.get(text.strip())
    if mode is None:
        raise ValueError(f"unknown self-instruct mode {text!r}: choose one of {', '.join(MODES)}")
    return mode


@dataclass
class GenerationConfig:
    """What decides the data (all of it is in the fingerprint), and `limit`, which does not."""

    num_fewshots: int = 3
    samples: int = 1  # answers asked per item, each with its own seed (vLLM's `n`, which `transformers serve` lacks)
    temperature: float = 0.7
    max_tokens: int | None = None  # default per mode: DEFAULT_MAX_TOKENS
    seed: int = 3407
    language: str = "Lua 5.4"
    prompt_file: str | None = None  # default: data/self_instruct/prompts/<mode>.txt
    limit: int | None = None  # only the first N items (a trial run); continuing with a larger limit adds the rest

    def __post_init__(self) -> None:
        if self.samples < 1 or self.num_fewshots < 0:
            raise ValueError("samples must be at least 1 and num_fewshots at least 0")
        if self.limit is not None and self.limit < 1:
            raise ValueError("limit must be at least 1")


def stage_paths(out_dir: str | os.PathLike, mode: str) -> tuple[Path, Path, Path]:
    """(kept rows, rejected rows, summary) of `mode` in `out_dir`."""
    stem = MODES[mode][0]
    out_dir = Path(out_dir)
    return out_dir / f"{stem}.jsonl", out_dir / f"{stem}.rejected.jsonl", out_dir / f"{stem}.summary.json"


def seed_snippets(api: ApiSet) -> list[dict[str, Any]]:
    """The starting points: every non-empty example of every entry, `{"id": "string.format#1", "api", "snippet"}`."""
    items = []
    for entry in api.entries:
        for number, example in enumerate(entry.examples, 1):
            if example.strip():
                items.append({"id": f"{entry.name}#{number}", "api": entry.name, "snippet": example.rstrip()})
    return items


def read_stage_rows(path: str | os.PathLike, required: tuple[str, ...]) -> tuple[list[dict[str, Any]], str]:
    """The kept rows of an earlier mode and their (single) fingerprint."""
    path = Path(path)
    if not path.is_file():
        raise RowError(f"{path}: no such file; run the previous mode first")
    rows = read_log(path, repair=False)
    if not rows:
        raise RowError(f"{path}: no rows; the previous mode kept nothing")
    for number, row in enumerate(rows, 1):
        missing = [k for k in required if k not in row]
        if missing:
            raise RowError(f"{path}: row {number} ({row['id']}) lacks {missing}")
    prints = sorted({str(row.get("fingerprint")) for row in rows})
    if len(prints) != 1:
        raise RowError(f"{path}: rows from runs with different settings (fingerprints {', '.join(prints)})")
    return rows, prints[0]


def run_stage(
    mode: str,
    out_dir: str | os.PathLike,
    teacher: Teacher,
    config: GenerationConfig | None = None,
    *,
    api: ApiSet | str | os.PathLike | None = None,
    items: list[dict[str, Any]] | None = None,
    input_path: str | os.PathLike | None = None,
    resume: bool = False,
    max_consecutive_failures: int = 20,
) -> dict[str, Any]:
    """Run one mode; returns the summary it writes. S->C reads `api`; E->I the drawn `items` (`{"id", "entries",
    "cards"}`); the others read `input_path`, by default the previous mode's kept rows in `out_dir`. With `resume`,
    only items without an outcome are asked."""
    mode = normalize_mode(mode)
    config = config or GenerationConfig()
    prompt_file = Path(config.prompt_file) if config.prompt_file else default_prompt_file(mode)
    prompt = load_prompt_file(prompt_file, mode)
    items, input_print, source = _read_items(mode, out_dir, api, input_path, items)
    max_tokens = config.max_tokens or DEFAULT_MAX_TOKENS[mode]
    described = teacher.describe()
    settings = {
        "mode": mode,
        "model": described["model"],
        "api_style": teacher.api_style,
        "temperature": config.temperature,
        "max_tokens": max_tokens,
        "seed": config.seed,
        "num_fewshots": config.num_fewshots,
        "samples": config.samples,
        "language": config.language,
        "prompt_file_sha256": file_digest(prompt_file),
        "input": input_print,
    }
    run_print = fingerprint(settings)
    if config.limit is not None:
        items = items[: config.limit]
    units = _units(mode, items, prompt, config, teacher.api_style)
    sampling = Sampling(config.temperature, max_tokens, (STOP,) if teacher.api_style == "completions" else ())
    kept_path, rejected_path, summary_path = stage_paths(out_dir, mode)
    started = time.monotonic()
    counts = RunCounts()
    with RunLog(kept_path, rejected_path, run_print, resume) as run_log:
        try:
            teacher.run(
                units,
                sampling,
                _PARSERS[mode],
                run_log,
                desc=f"self-instruct {mode}",
                max_consecutive_failures=max_consecutive_failures,
                counts=counts,
            )
        finally:
            run_log.finish([u.id for u in units])
            summary = _summary(
                mode, settings, run_print, prompt_file, source, described, units, run_log, counts, config.limit
            )
            summary["elapsed_s"] = round(time.monotonic() - started, 3)
            write_json(summary_path, summary)
    log.info(
        "%s: %d units, %d kept, %d rejected %s -> %s",
        mode,
        len(units),
        summary["kept"],
        sum(summary["rejected"].values()),
        summary["rejected"],
        kept_path,
    )
    return summary


def _read_items(mode, out_dir, api, input_path, items) -> tuple[list[dict[str, Any]], str, str]:
    """(items, fingerprint of the input, where it came from)."""
    if mode == "E->I":
        if not items:
            raise ValueError("E->I starts from drawn entries: pass the items (luacoder.selfinstruct.aim.draw_items)")
        missing = [i.get("id") for i in items if not {"id", "entries", "cards"} <= set(i)]
        if missing:
            raise RowError(f"E->I items without 'id', 'entries' or 'cards': {missing[:5]}")
        return items, fingerprint({"items": [[i["id"], i["cards"]] for i in items]}), "the drawn entries"
    if mode == "S->C":
        if api is None:
            raise ValueError("S->C starts from the docs: pass api.json (--api_path)")
        source = "the given ApiSet" if isinstance(api, ApiSet) else str(api)
        api = api if isinstance(api, ApiSet) else load_api(api)
        items = seed_snippets(api)
        if not items:
            raise RowError(f"{source}: no entry has an example to start from")
        return items, fingerprint({"snippets": [[i["id"], i["snippet"]] for i in items]}), source
    upstream = UPSTREAM[mode]
    path = Path(input_path) if input_path else stage_paths(out_dir, upstream)[0]
    required = {"C->I": ("api", "concepts"), "I->R": ("api", "instruction"), "EI->R": ("entries", "instruction")}[mode]
    rows, upstream_print = read_stage_rows(path, required)
    summary_path = path.with_name(path.name.removesuffix(".jsonl") + ".summary.json")
    if summary_path.is_file():
        upstream_summary = json.loads(summary_path.read_text(encoding="utf-8"))
        if not upstream_summary.get("complete", True):
            log.warning(
                "%s: that %s run is not complete; %s sees only its %d kept rows", path, upstream, mode, len(rows)
            )
    items = [{"id": r["id"], **{k: v for k, v in r.items() if k not in _BOOKKEEPING}} for r in rows]
    return items, upstream_print, str(path)


def _units(mode: str, items, prompt: FewShotPrompt, config: GenerationConfig, api_style: str) -> list[Unit]:
    units = []
    for item in items:
        for sample in range(config.samples):
            unit_id = item["id"] if config.samples == 1 else f"{item['id']}/{sample}"
            seed = unit_seed(config.seed, f"{mode}:{unit_id}")
            rng = random.Random(seed)
            carry = {k: v for k, v in item.items() if k != "id"}
            if mode == "S->C":
                query = item["snippet"]
            elif mode == "C->I":
                carry["property"] = {
                    "category": rng.choice(CATEGORIES),
                    "language": config.language,
                    "difficulty": rng.choice(DIFFICULTIES),
                    "api": item["api"],
                    "concepts": ", ".join(item["concepts"]),
                }
                query = "\n".join(f"{k}: {v}" for k, v in carry["property"].items())
            elif mode == "E->I":
                query = item["cards"]
            elif mode == "EI->R":
                query = f"{item['instruction']}\n\n{TASK_CARDS_HEADING}\n{item['cards']}"
            else:
                query = item["instruction"]
            examples = prompt.pick(config.num_fewshots, rng)
            unit = Unit(unit_id, seed, carry=carry)
            if api_style == "completions":
                unit.prompt = prompt.completion_prompt(query, examples)
            else:
                unit.messages = prompt.chat_messages(query, examples)
            units.append(unit)
    return units


def _answer(text: str) -> str:
    """The answer up to the next few-shot heading: vLLM drops the stop string, `transformers serve` keeps it."""
    return text.split(STOP, 1)[0].strip()


def _parse_concepts(text: str, unit: Unit) -> dict[str, Any]:
    first_paragraph = _answer(text).split("\n\n", 1)[0]
    concepts: list[str] = []
    for part in first_paragraph.replace("\n", ",").split(","):
        concept = part.strip().strip("-*").strip()
        if concept and concept not in concepts:
            concepts.append(concept)
    if not concepts:
        raise Unparseable("no concepts in the answer (expected a comma-separated line)")
    return {"concepts": concepts}


def _parse_instruction(text: str, unit: Unit) -> dict[str, Any]:
    instruction = _answer(text)
    if not instruction:
        raise Unparseable("empty instruction")
    return {"instruction": instruction}


def _parse_response(text: str, unit: Unit) -> dict[str, Any]:
    response = _answer(text)
    if not response:
        raise Unparseable("empty response")
    return {"response": response}


_PARSERS = {
    "S->C": _parse_concepts,
    "C->I": _parse_instruction,
    "I->R": _parse_response,
    "E->I": _parse_instruction,
    "EI->R": _parse_response,
}


def _summary(mode, settings, run_print, prompt_file, source, teacher, units, run_log, counts, limit) -> dict[str, Any]:
    unit_ids = {u.id for u in units}
    kept = sum(1 for r in run_log.kept if r["id"] in unit_ids)
    final = Counter(r["reason"] for r in run_log.rejected if r["id"] in unit_ids and not r.get("retryable"))
    retry_later = Counter(r["reason"] for r in run_log.rejected if r["id"] in unit_ids and r.get("retryable"))
    not_asked = len(units) - kept - sum(final.values()) - sum(retry_later.values())
    return {
        "mode": mode,
        "fingerprint": run_print,
        "complete": not retry_later and not_asked == 0,
        # units = kept + rejected + retry_later + not_asked
        "units": len(units),
        "kept": kept,
        "rejected": dict(sorted(final.items())),
        "retry_later": dict(sorted(retry_later.items())),
        "not_asked": not_asked,
        "this_run": counts.to_dict(),
        "input": source,
        "prompt_file": str(prompt_file),
        "settings": settings,
        "teacher": teacher,
        "limit": limit,
    }
