"""The grade of one generated answer: its Lua code, its API calls, and how well they keep to the documented API.

    grade = grade_answer(answer, index, expected_apis=["string.format"])
    grade.api_calls, grade.matched, grade.hallucinated_names, grade.arity_errors, grade.expected_recall

`report_type` says where the code is: "markdown" (a chat answer: the Lua code blocks, joined in order) or "code"
(a raw completion: the whole output is Lua, continuing `prompt`, which is then parsed with it so that the
completion of `local function f(t)` is valid Lua; only the calls the completion writes are graded).

The same functions grade checkpoints in `eval/eval.py` and reward the model in RL (see `luacoder.grading.rewards`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from luacoder.grading.api_index import ApiIndex, CallMatch, root_of
from luacoder.lua.calls import Call
from luacoder.lua.markdown_code import extract_lua_code

REPORT_TYPES = ("markdown", "code")


@dataclass
class CallGrade:
    """One API call of an answer."""

    name: str  # as written: `s:rep`, `string.format`
    resolved: str  # after aliases: `fmt` -> `string.format`
    line: int  # in the answer's code (the joined blocks; for "code", prompt and completion)
    args: int  # as written, `self` not counted
    kind: str  # "matched" or "hallucinated" (API calls); "standard" or "undefined" (see `ApiIndex.classify`)
    entries: list[str] = field(default_factory=list)  # the documented entries it may be
    arity_ok: bool | None = None  # None for a hallucinated call
    expected_args: str = ""  # documented argument counts in the call's own form
    reason: str = ""  # why it is hallucinated
    column: int = 0  # 1-based byte column of the called name on `line` (0 in grades stored before it was kept)
    receiver: str = ""  # a method call's receiver type, where the grader knows it (`uv_timer_t`)


@dataclass
class AnswerGrade:
    report_type: str
    code: str  # the Lua code that was graded ("" when the answer has none)
    has_code: bool
    syntax_valid: bool  # the code parses (False when there is no code)
    syntax_errors: list[str] = field(default_factory=list)
    calls: list[CallGrade] = field(default_factory=list)  # the API calls, in source order
    other_calls: list[str] = field(default_factory=list)  # calls that are neither local nor API calls
    # Calls of the Lua standard library under the API (not API calls; kind "standard"), and calls of globals that
    # are neither documented, nor standard, nor defined or assigned in the code (kind "undefined").
    standard_calls: list[CallGrade] = field(default_factory=list)
    undefined: list[CallGrade] = field(default_factory=list)
    expected_apis: list[str] = field(default_factory=list)  # canonical entry names
    expected_found: list[str] = field(default_factory=list)  # those called (as documented names) by the answer
    executed: bool = False  # run in the sandbox (`execute=True`)
    ran_ok: bool | None = None  # None unless executed
    run_reason: str | None = None  # why it did not run to its end: "syntax", "error", "timeout", ...

    @property
    def api_calls(self) -> int:
        return len(self.calls)

    @property
    def matched(self) -> int:
        return sum(1 for c in self.calls if c.kind == "matched")

    @property
    def hallucinated(self) -> int:
        return sum(1 for c in self.calls if c.kind == "hallucinated")

    @property
    def arity_errors(self) -> int:
        return sum(1 for c in self.calls if c.arity_ok is False)

    @property
    def correct(self) -> int:
        """Matched calls whose argument count fits the docs."""
        return sum(1 for c in self.calls if c.arity_ok is True)

    @property
    def hallucinated_names(self) -> list[str]:
        return [c.resolved for c in self.calls if c.kind == "hallucinated"]

    @property
    def undefined_globals(self) -> list[str]:
        """The undefined globals the answer calls, in order, without repeats."""
        return list(dict.fromkeys(c.resolved for c in self.undefined))

    @property
    def arity_error_names(self) -> list[str]:
        return [c.resolved for c in self.calls if c.arity_ok is False]

    @property
    def used_correctly(self) -> list[str]:
        """Documented entries called with a fitting argument count, sorted."""
        return sorted({e for c in self.calls if c.arity_ok for e in c.entries})

    @property
    def api_match(self) -> float | None:
        """matched / API calls; None when the answer makes no API call."""
        return self.matched / self.api_calls if self.calls else None

    @property
    def expected_recall(self) -> float | None:
        """Share of the expected APIs the answer calls; None when none are expected."""
        return len(self.expected_found) / len(self.expected_apis) if self.expected_apis else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the stored fields and the counts derived from them (a samples.jsonl row's "grade")."""
        data = asdict(self)
        for name in ("api_calls", "matched", "hallucinated", "arity_errors", "correct", "api_match"):
            data[name] = getattr(self, name)
        data["hallucinated_names"] = self.hallucinated_names
        data["arity_error_names"] = self.arity_error_names
        data["undefined_globals"] = self.undefined_globals
        data["expected_recall"] = self.expected_recall
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnswerGrade:
        stored = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in stored}
        for name in ("calls", "standard_calls", "undefined"):
            values[name] = [CallGrade(**c) for c in data.get(name, [])]
        return cls(**values)


def answer_code(answer: str, report_type: str = "markdown", prompt: str = "") -> str:
    """The Lua code of an answer: its Lua blocks joined ("markdown"), or prompt + completion ("code")."""
    if report_type == "markdown":
        return "\n".join(block if block.endswith("\n") else block + "\n" for block in extract_lua_code(answer))
    if report_type == "code":
        return prompt + answer
    raise ValueError(f"unknown report_type {report_type!r}: choose one of {', '.join(REPORT_TYPES)}")


def grade_answer(
    answer: str,
    index: ApiIndex,
    expected_apis: Iterable[str] = (),
    report_type: str = "markdown",
    execute: bool = False,
    prompt: str = "",
) -> AnswerGrade:
    """Grade one answer against the API. `expected_apis` are documented names or aliases (an unknown one is a
    ValueError). With `execute`, the code also runs in the sandbox (`luacoder.lua.sandbox.run_lua`, its default
    limits); eval runs many answers at once with `apply_run`."""
    expected = canonical_apis(expected_apis, index)
    code = answer_code(answer, report_type, prompt)
    # In "code" mode only what the completion writes is graded: calls at or after the prompt's end.
    start = _end_point(prompt) if report_type == "code" else (1, 1)
    grade = grade_code(code, index, expected, report_type=report_type, start=start)
    if execute:
        from luacoder.lua.sandbox import run_lua

        apply_run(grade, run_lua(grade.code) if grade.has_code and grade.syntax_valid else None)
    return grade


def canonical_apis(names: Iterable[str], index: ApiIndex) -> list[str]:
    """Documented entry names for names or aliases, in order, without repeats; an unknown name is a ValueError."""
    out = []
    for name in names:
        entry = index.canonical(name)
        if entry is None:
            raise ValueError(f"{name!r} is not documented in the API")
        out.append(entry)
    return list(dict.fromkeys(out))


def grade_code(
    code: str,
    index: ApiIndex,
    expected_apis: Sequence[str] = (),
    report_type: str = "markdown",
    start: tuple[int, int] = (1, 1),
) -> AnswerGrade:
    """Grade Lua code; `expected_apis` must already be canonical entry names; calls before `start` (line, byte
    column, 1-based) are not graded."""
    if not code.strip():
        return AnswerGrade(report_type, code, has_code=False, syntax_valid=False, expected_apis=list(expected_apis))
    report = index.calls_of(code)
    assigned = report.assigned | {root_of(name) for name in report.defined}
    grade = AnswerGrade(
        report_type,
        code,
        has_code=True,
        syntax_valid=report.syntax_ok,
        syntax_errors=[str(e) for e in report.errors],
        expected_apis=list(expected_apis),
    )
    for call in report.calls:
        if (call.line, call.column) < start:
            continue
        match = index.classify(call, assigned=assigned)
        if match.is_api_call:
            grade.calls.append(_call_grade(call, match))
        elif match.kind == "standard":
            grade.standard_calls.append(_call_grade(call, match))
        elif match.kind == "undefined":
            grade.undefined.append(_call_grade(call, match))
        elif match.kind == "other":
            grade.other_calls.append(call.resolved)
    used = {e for c in grade.calls if c.kind == "matched" for e in c.entries}
    grade.expected_found = [e for e in grade.expected_apis if e in used]
    return grade


def apply_run(grade: AnswerGrade, result: Any | None) -> None:
    """Record a sandbox result (a `RunResult`, or a dict with "ok" and "reason") on the grade. None means the code
    was not run because it has none or does not parse."""
    grade.executed = True
    if result is None:
        grade.ran_ok = False
        grade.run_reason = "no code" if not grade.has_code else "syntax"
        return
    ok = result["ok"] if isinstance(result, dict) else result.ok
    reason = result["reason"] if isinstance(result, dict) else result.reason
    grade.ran_ok, grade.run_reason = bool(ok), reason


def _call_grade(call: Call, match: CallMatch) -> CallGrade:
    return CallGrade(
        name=call.name,
        resolved=call.resolved,
        line=call.line,
        args=call.args,
        kind=match.kind,
        entries=list(match.entries),
        arity_ok=match.arity_ok,
        expected_args=match.expected_args,
        reason=match.reason,
        column=call.column,
        receiver=match.receiver,
    )


def _end_point(prompt: str) -> tuple[int, int]:
    """(line, byte column) just after `prompt`, 1-based, as tree-sitter counts them."""
    lines = prompt.split("\n")
    return len(lines), len(lines[-1].encode("utf-8")) + 1
