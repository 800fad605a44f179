"""From I->R responses to chat rows: the execution filter, sanitising, dedup, decontamination.

A response is kept only when, in this order:

1. it has the shape the I->R prompt asks for: Lua code blocks, then a line "[Tests]", then Lua code blocks whose
   code calls `assert` (else: no_tests_section, several_tests_sections, no_code, no_tests, tests_without_assert);
2. its code followed by its tests runs to the end in `luacoder.lua.sandbox` (else: failed_<sandbox reason>:
   failed_syntax, failed_error (a failed assert included), failed_timeout, failed_memory, ...), and its tests ran at
   least one assertion (else: tests_ran_none). The tests call the `assert` and `error` the harness captured before
   the code ran, whatever the code did to the globals, and only the harness counts the assertions that ran;
   `(...)`, the tests' way to that harness, works once: code that takes it first breaks its own tests;
   with `FilterConfig.stubs` (the API's stubs, `luacoder.lua.stubs.stub_prelude`; `--api_path` on the command
   line) code that calls the host API runs, and an API error (an undocumented member, a call that fits no
   documented form, even one the code catches) is failed_api;
3. its code has no placeholder left (TODO, FIXME, "your code here": incomplete);
4. its instruction and response share no long word n-gram with an eval prompt (contaminated), when eval prompts
   are given;
5. its instruction is not the same as (duplicate_instruction) or nearly the same as (near_duplicate_instruction)
   that of a response kept before it: the first passing response of each instruction is kept.

Sanitising drops the "[Tests]" line (or, with `keep_tests=False`, the whole tests part) and any text after the last
test block. The outputs are written whole and atomically: `filtered.jsonl` (kept rows with their lineage),
`filter.rejected.jsonl` (each with its reason and detail), `chat.jsonl` (`{"messages": [...]}` for deepspeed/chat)
and `filter.summary.json` (counts that add up: input = kept + rejected).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from luacoder.data.filters import Decontaminator, ExactDuplicates, NearDuplicates
from luacoder.dialogue import to_messages
from luacoder.files import write_json, write_jsonl
from luacoder.lua.calls import extract_calls
from luacoder.lua.markdown_code import extract_lua_code
from luacoder.lua.sandbox import DEFAULT_INSTRUCTIONS, DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT, LuaJob, iter_run_many
from luacoder.lua.stubs import api_error_of
from luacoder.selfinstruct.run_log import fingerprint
from luacoder.selfinstruct.stages import read_stage_rows, stage_paths

log = logging.getLogger(__name__)

TESTS_MARKER = "[Tests]"
INCOMPLETE = re.compile(r"\b(todo|fixme|xxx)\b|your code (goes )?here|not implemented", re.IGNORECASE)
_FENCE = re.compile(r"^\s*(```|~~~)", re.MULTILINE)
_DETAIL_CHARS = 500


@dataclass
class FilterConfig:
    timeout: float = DEFAULT_TIMEOUT  # seconds per response in the sandbox
    memory_mb: float = DEFAULT_MEMORY_MB
    instructions: int = DEFAULT_INSTRUCTIONS
    keep_tests: bool = True  # the chat answer keeps its tests (without the "[Tests]" line)
    near_duplicate_threshold: float = 0.9  # Jaccard similarity of instructions; 1.0 turns near-dedup off
    system_prompt: str | None = None  # added as the first turn of every chat row
    eval_prompts: tuple[str, ...] = ()  # decontaminate against these
    ngram: int = 10  # words an eval prompt and a row must share to count as contamination
    stubs: str = ""  # the API's stubs (luacoder.lua.stubs.stub_prelude), run before each response's program


@dataclass
class ResponseParts:
    answer: str  # the text before "[Tests]"
    tests_text: str  # the text after it, cut after its last code block
    code: list[str]
    tests: list[str]

    def program(self) -> str:
        """The code, then the tests, in one chunk (the tests see the code's locals). The blank line between them
        becomes the line that gives the tests the harness's assert and error, so error lines keep their numbers."""
        return "\n\n".join(self.code) + f"\n{_TESTS_PROLOGUE}\n" + "\n\n".join(self.tests) + "\n"


# The tests' first line: the harness's assert and error, shadowing whatever the code made of the globals.
_TESTS_PROLOGUE = "local assert, error = (...)()"
# Runs a response's program (a long string) as a function of the harness, then prints the number of assertions
# its tests ran after a secret marker the program cannot know. A program that does not compile is reported as such.
_HARNESS = """local real_assert, real_error, real_load, real_print = assert, error, load, print
local ran, entered = 0, false
local function counted_assert(...)
  ran = ran + 1
  return real_assert(...)
end
local function enter_tests()
  if entered then real_error("the tests' harness was taken before the tests ran", 2) end
  entered = true
  real_print("{marker} entered")
  return counted_assert, real_error
end
local program, syntax = real_load({program}, "=input", "t")
if not program then real_print("{marker} syntax") real_error(syntax, 0) end
program(enter_tests)
real_print("{marker} " .. (entered and ran or 0))
"""


def _long_string(text: str) -> str:
    """`text` as a Lua long string; the newline after the opening bracket is one Lua drops."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[\n{text}]{'=' * level}]"


def harnessed(program: str, marker: str) -> str:
    return _HARNESS.replace("{program}", _long_string(program)).replace("{marker}", marker)


def run_harnessed(
    programs: list[str], limits, prelude: str, desc: str
) -> dict[str, tuple[Any, bool, int | None, bool]]:
    """program -> (sandbox result, the tests began, assertions they ran, did not compile): each program run once in
    the sandbox inside the test harness, `prelude` (the API's stubs) before it, with `limits`' timeout, memory_mb and
    instructions."""
    marker = f"luacoder-harness-{secrets.token_hex(16)}"  # a fresh secret per run: no response can print its line
    jobs = (
        LuaJob(
            harnessed(p, marker),
            timeout=limits.timeout,
            memory_mb=limits.memory_mb,
            instructions=limits.instructions,
            files={},
            prelude=prelude,
        )
        for p in programs
    )
    out = {}
    for program, result in tqdm(
        zip(programs, iter_run_many(jobs), strict=True), total=len(programs), desc=desc, unit="run"
    ):
        if result.reason == "prelude":  # the stubs themselves failed: no response's outcome would mean anything
            raise RuntimeError(f"the API stubs do not run in the sandbox: {result.error}")
        entered = tests_entered(result, marker)  # before assertions_ran takes the harness's lines out
        out[program] = (result, entered, *assertions_ran(result, marker))
    return out


def tests_entered(result, marker: str) -> bool:
    """Whether the code ran to its end and the tests began (the harness says so when they take their assert)."""
    return f"{marker} entered\n" in result.stdout


def assertions_ran(result, marker: str) -> tuple[int | None, bool]:
    """(assertions the tests ran or None when the harness did not report, the program did not compile); the
    harness's reports are taken out of the result's stdout (also where the code left a line unfinished)."""
    pattern = re.compile(re.escape(marker) + r" (\S+)\n")
    values = [m.group(1) for m in pattern.finditer(result.stdout) if m.group(1) != "entered"]
    result.stdout = pattern.sub("", result.stdout)
    if not values:
        return None, False
    if values[-1] == "syntax":
        return None, True
    return int(values[-1]), False


def split_response(response: str) -> ResponseParts | tuple[str, str]:
    """The parts of a response, or (reject reason, detail) when it lacks one."""
    lines = response.splitlines()
    markers = [i for i, line in enumerate(lines) if line.strip() == TESTS_MARKER]
    if not markers:
        return "no_tests_section", f"no line {TESTS_MARKER!r} before the tests"
    if len(markers) > 1:
        return "several_tests_sections", f"{len(markers)} lines {TESTS_MARKER!r}"
    answer = "\n".join(lines[: markers[0]]).strip()
    tests_text = "\n".join(lines[markers[0] + 1 :]).strip()
    code = [c for c in extract_lua_code(answer) if c.strip()]
    if not code:
        return "no_code", "no Lua code block before the tests"
    tests = [c for c in extract_lua_code(tests_text) if c.strip()]
    if not tests:
        return "no_tests", f"no Lua code block after {TESTS_MARKER!r}"
    if not any(call.resolved == "assert" for block in tests for call in extract_calls(block).calls):
        return "tests_without_assert", "the tests never call assert"
    fences = list(_FENCE.finditer(tests_text))
    if fences and len(fences) % 2 == 0:  # chatter after the last (closed) test block is not part of the answer
        end = tests_text.find("\n", fences[-1].end())
        tests_text = tests_text if end < 0 else tests_text[:end]
    return ResponseParts(answer, tests_text.strip(), code, tests)


def sanitized_response(parts: ResponseParts, keep_tests: bool) -> str:
    return f"{parts.answer}\n\n{parts.tests_text}" if keep_tests else parts.answer


def filter_paths(out_dir: str | os.PathLike) -> dict[str, Path]:
    out_dir = Path(out_dir)
    return {
        "kept": out_dir / "filtered.jsonl",
        "rejected": out_dir / "filter.rejected.jsonl",
        "chat": out_dir / "chat.jsonl",
        "summary": out_dir / "filter.summary.json",
    }


def run_filter(
    out_dir: str | os.PathLike, config: FilterConfig | None = None, input_path: str | os.PathLike | None = None
) -> dict[str, Any]:
    """Filter the I->R responses (by default `out_dir/i_to_r.jsonl`) and write the files above; returns the
    summary. Deterministic: the same input and config write the same files."""
    config = config or FilterConfig()
    started = time.monotonic()
    source = Path(input_path) if input_path else stage_paths(out_dir, "I->R")[0]
    rows, input_print = read_stage_rows(source, ("instruction", "response"))
    settings = {
        "input": input_print,
        "keep_tests": config.keep_tests,
        "near_duplicate_threshold": config.near_duplicate_threshold,
        "system_prompt": config.system_prompt,
        "eval_prompts": fingerprint({"prompts": list(config.eval_prompts)}) if config.eval_prompts else None,
        "ngram": config.ngram,
        "sandbox": [config.timeout, config.memory_mb, config.instructions],
        "stubs": fingerprint({"prelude": config.stubs}) if config.stubs else None,
    }
    run_print = fingerprint(settings)
    kept, rejected = filter_rows(rows, config)
    for row in (*kept, *rejected):
        row["fingerprint"] = run_print
    chat = [
        {"id": row["id"], "messages": to_messages(_chat_row(row), row["id"], config.system_prompt)} for row in kept
    ]
    paths = filter_paths(out_dir)
    write_jsonl(paths["kept"], kept)
    write_jsonl(paths["rejected"], rejected)
    write_jsonl(paths["chat"], chat)
    reasons = Counter(row["reason"] for row in rejected)
    summary = {
        "mode": "filter",
        "fingerprint": run_print,
        # input = kept + rejected
        "input": len(rows),
        "kept": len(kept),
        "rejected": dict(sorted(reasons.items())),
        "chat_rows": len(chat),
        "source": str(source),
        "settings": settings,
        "elapsed_s": round(time.monotonic() - started, 3),
    }
    write_json(paths["summary"], summary)
    log.info(
        "filter: %d responses, %d kept, rejected %s -> %s", len(rows), len(kept), summary["rejected"], paths["chat"]
    )
    return summary


def filter_rows(rows: list[dict[str, Any]], config: FilterConfig) -> tuple[list[dict], list[dict]]:
    """(kept rows with the sanitised `response`, rejected rows with `reason` and `detail`), both in input order."""
    outcomes: list[tuple[str, str] | ResponseParts] = [split_response(row["response"]) for row in rows]
    runnable = sorted({o.program() for o in outcomes if isinstance(o, ResponseParts)})
    results = run_harnessed(runnable, config, config.stubs, "execution filter")
    exact = ExactDuplicates()
    near = NearDuplicates(config.near_duplicate_threshold) if config.near_duplicate_threshold < 1 else None
    decontaminator = Decontaminator(config.eval_prompts, n=config.ngram) if config.eval_prompts else None
    kept, rejected = [], []
    for row, outcome in zip(rows, outcomes, strict=True):
        verdict = _verdict(row, outcome, results, exact, near, decontaminator)
        base = {k: v for k, v in row.items() if k not in ("fingerprint",)}
        if verdict is None:
            assert isinstance(outcome, ResponseParts)
            kept.append({**base, "response": sanitized_response(outcome, config.keep_tests)})
        else:
            rejected.append({**base, "reason": verdict[0], "detail": verdict[1][:_DETAIL_CHARS]})
    return kept, rejected


def _verdict(row, outcome, results, exact, near, decontaminator) -> tuple[str, str] | None:
    if not isinstance(outcome, ResponseParts):
        return outcome
    result, _, assertions, syntax = results[outcome.program()]
    if syntax:
        return "failed_syntax", result.error or "does not compile"
    api_error = api_error_of(result)
    if api_error:
        return "failed_api", api_error
    if not result.ok:
        return f"failed_{result.reason or 'error'}", result.error or "stopped"
    if not assertions:
        return "tests_ran_none", "the tests ran no assertion" if assertions == 0 else "the harness did not report"
    placeholder = next((m.group(0) for c in outcome.code for m in [INCOMPLETE.search(c)] if m), None)
    if placeholder:
        return "incomplete", f"the code still says {placeholder!r}"
    instruction = row["instruction"]
    if decontaminator is not None:
        match = decontaminator.match(f"{instruction}\n{row['response']}")
        if match is not None:
            return "contaminated", f"shares {match[1]!r} with the eval prompt {match[0][:200]!r}"
    # Last: only a row that is kept may make a later one a duplicate.
    first = exact.check(row["id"], instruction)
    if first is not None:
        return "duplicate_instruction", f"the same instruction as {first}"
    if near is not None:
        similar = near.check(row["id"], instruction)
        if similar is not None:
            return "near_duplicate_instruction", f"{similar[1]:.2f} similar to the instruction of {similar[0]}"
    return None


def _chat_row(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": row["instruction"]},
            {"role": "assistant", "content": row["response"]},
        ]
    }
