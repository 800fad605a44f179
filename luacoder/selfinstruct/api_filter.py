"""Which of the teacher's responses to an aimed item are kept: the funnel of the synthesis aimed at the API.

    result = filter_aimed(responses, failures, api, config)
    result.kept, result.rejected, result.funnel      # funnel: generated, parsed, api_valid, ran, passed, kept

Each response (an EI->R row: the drawn `entries`, the `instruction`, the `response`) goes through the stages in order
and stops at the first it fails; its rejected row names the stage and the reason:

- **parsed**: the teacher answered, in the shape asked for (code, a "[Tests]" line, tests that call `assert`).
  Reasons: the teacher's failure (`truncated`, `unparseable`, ...), no_tests_section, several_tests_sections, no_code,
  no_tests, tests_without_assert.
- **api_valid**: every call in code and tests is documented, with a fitting number of arguments, and the code calls
  every drawn entry. Reasons: syntax_error, undocumented_call, wrong_arity, misses_drawn_entries.
- **ran**: the code runs to its end in the sandbox with the API's stubs (luacoder.lua.stubs) loaded, and no call
  (in code or tests, caught or not) is refused by a stub. Reasons:
  failed_api (a stub refused a call: an undocumented member, a wrong argument count or type; as the self-instruct
  filter calls it), failed_<reason> (error, timeout, memory, ...).
- **passed**: the tests then pass, run at least one assertion (the harness of luacoder.selfinstruct.response_filter,
  which the code cannot fool) and use a name the code defines. Reasons: tests_failed, tests_ran_none,
  tests_ignore_code.
- **kept**: no placeholder is left, the instruction shares no n-gram with an eval prompt, and no earlier kept
  response is the same or nearly the same (MinHash, as the code dataset) or answers the same instruction. Reasons:
  incomplete, contaminated, duplicate, near_duplicate, same_instruction.

`generated` counts every response asked for that has an outcome; every number after it counts the responses that
passed that stage and all before it, so `generated - kept` is exactly the number of rejected rows.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from luacoder.apidocs.schema import ApiSet
from luacoder.data.filters import ApiChecker, Decontaminator, ExactDuplicates, NearDuplicates
from luacoder.lua.calls import parse
from luacoder.lua.sandbox import DEFAULT_INSTRUCTIONS, DEFAULT_MEMORY_MB
from luacoder.lua.stubs import api_error_of, stub_prelude
from luacoder.selfinstruct.response_filter import (
    INCOMPLETE,
    ResponseParts,
    run_harnessed,
    sanitized_response,
    split_response,
)

STAGES = ("generated", "parsed", "api_valid", "ran", "passed", "kept")
_DETAIL_CHARS = 500


@dataclass
class ApiFilterConfig:
    timeout: float = 5.0  # seconds per response in the sandbox
    memory_mb: float = DEFAULT_MEMORY_MB
    instructions: int = DEFAULT_INSTRUCTIONS
    keep_tests: bool = True  # the chat answer keeps its tests
    decontam_ngram: int = 6  # words an instruction must share with an eval prompt to be contaminated
    near_dup_threshold: float = 0.85  # MinHash Jaccard of instruction and code (the code dataset's settings)
    num_perm: int = 128
    shingle_size: int = 5


@dataclass
class FilterResult:
    kept: list[dict[str, Any]]
    rejected: list[dict[str, Any]]  # each with `stage`, `reason`, `detail`
    funnel: dict[str, int]  # STAGES -> responses that passed it
    reasons: dict[str, dict[str, int]] = field(default_factory=dict)  # stage -> reason -> rejected responses
    coverage: Counter = field(default_factory=Counter)  # entry -> kept responses whose code calls it


def defined_names(code: str) -> set[str]:
    """The names a chunk introduces at its top level: its functions' and variables' first identifiers."""
    names: set[str] = set()
    for node in parse(code).root_node.children:
        if node.type == "function_declaration":
            target = node.child_by_field_name("name")
            if target is not None:
                names.add(re.split(r"[.:]", target.text.decode())[0])
        elif node.type in ("variable_declaration", "assignment_statement"):
            assignment = next((c for c in node.children if c.type == "assignment_statement"), node)
            targets = assignment.children[0] if assignment.children else None
            if node.type == "variable_declaration" and assignment is node:  # `local x` with no value
                targets = node
            for child in targets.children if targets is not None else ():
                if child.type == "identifier":
                    names.add(child.text.decode())
                elif child.type in ("dot_index_expression", "bracket_index_expression"):
                    names.add(re.split(r"[.\[]", child.text.decode())[0])
    return names


def used_names(code: str) -> set[str]:
    """Every identifier the chunk mentions."""
    found: set[str] = set()
    stack = [parse(code).root_node]
    while stack:
        node = stack.pop()
        if node.type == "identifier":
            found.add(node.text.decode())
        stack.extend(node.children)
    return found


def _reject(row: dict[str, Any], stage: str, reason: str, detail: str) -> dict[str, Any]:
    return {**row, "stage": stage, "reason": reason, "detail": detail[:_DETAIL_CHARS]}


def filter_aimed(
    responses: list[dict[str, Any]],
    failures: list[dict[str, Any]],
    api: ApiSet,
    config: ApiFilterConfig | None = None,
    eval_prompts: list[str] = (),  # type: ignore[assignment]
) -> FilterResult:
    """`responses`: the teacher's answers (EI->R kept rows); `failures`: the EI->R units it gave no usable answer
    (final rejections), which count as generated but not parsed. Deterministic: the same inputs, the same result."""
    config = config or ApiFilterConfig()
    checker = ApiChecker(api)
    rejected = [_reject(f, "parsed", f["reason"], f.get("detail", "")) for f in failures]
    survivors: list[tuple[dict[str, Any], ResponseParts]] = []
    for row in responses:
        parts = split_response(row["response"])
        if not isinstance(parts, ResponseParts):
            rejected.append(_reject(row, "parsed", *parts))
            continue
        problem = _api_problem(parts, row["entries"], checker)
        if problem is not None:
            rejected.append(_reject(row, "api_valid", *problem))
            continue
        survivors.append((row, parts))

    programs = sorted({p.program() for _, p in survivors})
    # The stubs' prelude is built only when a response is left to run (a large api.json makes a long one).
    results = run_harnessed(programs, config, stub_prelude(api), "aimed filter") if programs else {}
    passed: list[tuple[dict[str, Any], ResponseParts]] = []
    for row, parts in survivors:
        result, entered, assertions, syntax = results[parts.program()]
        api_error = api_error_of(result)  # also one a `pcall` caught: the code misused the API all the same
        if syntax:
            rejected.append(_reject(row, "ran", "failed_syntax", result.error or "does not compile"))
        elif api_error:
            rejected.append(_reject(row, "ran", "failed_api", api_error))
        elif not result.ok and not entered:
            rejected.append(_reject(row, "ran", f"failed_{result.reason or 'error'}", result.error or "stopped"))
        elif not result.ok:
            rejected.append(_reject(row, "passed", "tests_failed", result.error or "stopped"))
        elif not assertions:
            rejected.append(_reject(row, "passed", "tests_ran_none", "the tests ran no assertion"))
        elif not defined_names("\n\n".join(parts.code)) & used_names("\n\n".join(parts.tests)):
            rejected.append(_reject(row, "passed", "tests_ignore_code", "the tests use no name the code defines"))
        else:
            passed.append((row, parts))

    kept = []
    decontaminator = Decontaminator(list(eval_prompts), n=config.decontam_ngram) if eval_prompts else None
    exact = ExactDuplicates()
    near = NearDuplicates(config.near_dup_threshold, config.num_perm, config.shingle_size)
    answered: set[str] = set()
    coverage: Counter = Counter()
    for row, parts in passed:
        verdict = _final_verdict(row, parts, decontaminator, exact, near, answered)
        if verdict is not None:
            rejected.append(_reject(row, "kept", *verdict))
            continue
        answered.add(row["instruction"])
        coverage.update(set(checker.api_calls("\n\n".join(parts.code))))
        kept.append({**row, "response": sanitized_response(parts, config.keep_tests)})
    return FilterResult(
        kept, rejected, _funnel(len(responses) + len(failures), rejected), _reasons(rejected), coverage
    )


def _api_problem(parts: ResponseParts, drawn: list[str], checker: ApiChecker) -> tuple[str, str] | None:
    code = "\n\n".join(parts.code)
    for text in (code, "\n\n".join(parts.tests)):
        grade = checker.grade(text)
        if not grade.syntax_valid:
            return "syntax_error", "; ".join(grade.syntax_errors) or "does not parse"
        for call in grade.calls:
            if call.kind == "hallucinated":
                return "undocumented_call", f"line {call.line}: {call.resolved} is not documented ({call.reason})"
            if call.arity_ok is False:
                return "wrong_arity", f"line {call.line}: {call.resolved} takes {call.expected_args}, got {call.args}"
    missing = [name for name in drawn if name not in checker.api_calls(code)]
    if missing:
        return "misses_drawn_entries", f"the code never calls {', '.join(missing)}"
    return None


def _final_verdict(row, parts, decontaminator, exact, near, answered) -> tuple[str, str] | None:
    placeholder = next((m.group(0) for c in parts.code for m in [INCOMPLETE.search(c)] if m), None)
    if placeholder:
        return "incomplete", f"the code still says {placeholder!r}"
    if decontaminator is not None and (match := decontaminator.match(row["instruction"])) is not None:
        return "contaminated", f"shares {match[1]!r} with the eval prompt {match[0][:200]!r}"
    if row["instruction"] in answered:
        return "same_instruction", "a response to this instruction is kept already"
    text = f"{row['instruction']}\n{chr(10).join(parts.code)}"
    first = exact.check(row["id"], text)
    if first is not None:
        return "duplicate", f"the same instruction and code as {first}"
    similar = near.check(row["id"], text)
    if similar is not None:
        return "near_duplicate", f"{similar[1]:.2f} similar to {similar[0]}"
    return None


def _funnel(generated: int, rejected: list[dict[str, Any]]) -> dict[str, int]:
    out, left = {"generated": generated}, generated
    by_stage = Counter(r["stage"] for r in rejected)
    for stage in STAGES[1:]:
        left -= by_stage[stage]
        out[stage] = left
    return out


def _reasons(rejected: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    out: dict[str, Counter] = {}
    for r in rejected:
        out.setdefault(r["stage"], Counter())[r["reason"]] += 1
    return {stage: dict(sorted(c.items())) for stage, c in out.items()}
