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

import tree_sitter

from luacoder.grading.api_index import ApiIndex, CallMatch
from luacoder.lua.calls import Call, extract_calls, parse
from luacoder.lua.markdown_code import extract_lua_code

REPORT_TYPES = ("markdown", "code")
# Functions that return their first argument: `local f = assert(io.open(p))` holds what io.open returned.
_PASS_THROUGH = ("assert",)


@dataclass
class CallGrade:
    """One API call of an answer."""

    name: str  # as written: `s:rep`, `string.format`
    resolved: str  # after aliases: `fmt` -> `string.format`
    line: int  # in the answer's code (the joined blocks; for "code", prompt and completion)
    args: int  # as written, `self` not counted
    kind: str  # "matched" or "hallucinated"
    entries: list[str] = field(default_factory=list)  # the documented entries it may be
    arity_ok: bool | None = None  # None for a hallucinated call
    expected_args: str = ""  # documented argument counts in the call's own form
    reason: str = ""  # why it is hallucinated


@dataclass
class AnswerGrade:
    report_type: str
    code: str  # the Lua code that was graded ("" when the answer has none)
    has_code: bool
    syntax_valid: bool  # the code parses (False when there is no code)
    syntax_errors: list[str] = field(default_factory=list)
    calls: list[CallGrade] = field(default_factory=list)  # the API calls, in source order
    other_calls: list[str] = field(default_factory=list)  # calls that are neither local nor API calls
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
        data["expected_recall"] = self.expected_recall
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnswerGrade:
        stored = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in stored}
        values["calls"] = [CallGrade(**c) for c in data.get("calls", [])]
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
    report = extract_calls(code)
    receivers = api_value_names(code, report.calls, index)
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
        match = index.classify(call, receivers)
        if match.is_api_call:
            grade.calls.append(_call_grade(call, match))
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
    )


def _end_point(prompt: str) -> tuple[int, int]:
    """(line, byte column) just after `prompt`, 1-based, as tree-sitter counts them."""
    lines = prompt.split("\n")
    return len(lines), len(lines[-1].encode("utf-8")) + 1


# ---------------------------------------------------------------------------------------------------------------
# Variables holding an API call's result: `local f = io.open(p)` makes `f:readAll()` an API call


def api_value_names(code: str, calls: Sequence[Call], index: ApiIndex) -> set[str]:
    """Names assigned (anywhere, any scope) the result of an API call. Scopes are not told apart: a name is an API
    value if any assignment gives it one, which is right for the usual one-name-one-meaning code of an answer."""
    by_position = {(c.line, c.column): c for c in calls}
    names: set[str] = set()
    stack = [parse(code).root_node]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.type != "assignment_statement":
            continue
        for target, value in _assignments(node):
            call = _value_call(value, by_position)
            if call is not None and index.classify(call).is_api_call:
                names.add(_text(target))
    return names


def _assignments(node: tree_sitter.Node) -> list[tuple[tree_sitter.Node, tree_sitter.Node]]:
    targets = next((c for c in node.named_children if c.type == "variable_list"), None)
    values = next((c for c in node.named_children if c.type == "expression_list"), None)
    if targets is None or values is None:
        return []
    names = [t for t in targets.named_children if t.type != "attribute"]
    exprs = [v for v in values.named_children if v.type != "comment"]
    return [(t, v) for t, v in zip(names, exprs, strict=False) if t.type == "identifier"]


def _value_call(value: tree_sitter.Node | None, by_position: dict[tuple[int, int], Call]) -> Call | None:
    """The call whose result `value` is, through parentheses and `assert(...)`."""
    while value is not None and value.type == "parenthesized_expression" and value.named_children:
        value = value.named_children[0]
    if value is None or value.type != "function_call":
        return None
    callee = value.child_by_field_name("name")
    if callee is None:
        return None
    where = {"method_index_expression": "method", "dot_index_expression": "field"}.get(callee.type)
    point = callee.child_by_field_name(where) if where else callee
    call = by_position.get((point.start_point[0] + 1, point.start_point[1] + 1))
    if call is not None and call.resolved in _PASS_THROUGH and not call.local:
        args = value.child_by_field_name("arguments")
        first = next((a for a in args.named_children if a.type != "comment"), None) if args is not None else None
        return _value_call(first, by_position)
    return call


def _text(node: tree_sitter.Node) -> str:
    return node.text.decode("utf-8", errors="replace") if node.text is not None else ""
