"""GRPO rewards: the grader's scores (luacoder.grading) as TRL reward functions.

    funcs = reward_functions(load_index("api.json"), RewardArguments(["hallucination_free", "expected_recall"]))
    GRPOTrainer(..., reward_funcs=funcs, args=GRPOConfig(reward_weights=[1.0, 0.5], ...))

Each function grades the completions with `grade_answer`, against the index eval grades with (`load_index`: the
api.json over its standard-library base, `standard_library` as eval's key of that name), and returns one of eval's
scores per completion (`luacoder.grading.rewards`, each read from eval's own aggregation of that one answer): no
scoring rule is restated here. A completion is graded once per batch, however many reward functions read it. The
weights are GRPOConfig's `reward_weights`, in the order of `reward_funcs`.

What an undefined score is worth is the reward's explicit choice (see luacoder.grading.rewards):
- hallucination_free: never undefined; undefined globals count as eval counts them (`count_undefined_globals`, the
  eval key of that name, default true).
- api_match / correct_call: an answer without API calls gets `no_api_reward` (default 0.0), so the policy cannot
  escape the API; eval reports the no-API rate beside the accuracy for the same reason.
- arity (no documented call) and expected_recall (a prompt that expects no API): None (n/a); TRL skips None in
  the weighted sum.
- syntax and execution: an answer without code gets 0.0. Every answer is run in the sandbox for `execution`, with
  the API's stubs (luacoder.lua.stubs), so code that calls the API runs and an undocumented call or a wrong argument
  count stops it (0.0), under the limits of eval's `execute_timeout` / `execute_memory_mb`; code that does not parse
  counts as not running.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from luacoder.grading.answer import REPORT_TYPES, AnswerGrade, grade_answer
from luacoder.grading.api_index import ApiIndex
from luacoder.grading.execution import execute_grades
from luacoder.grading.rewards import (
    api_match_score,
    arity_score,
    correct_call_score,
    execution_score,
    expected_recall_score,
    hallucination_free_score,
    score_or,
    syntax_score,
)
from luacoder.lua.sandbox import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT
from luacoder.lua.stubs import stub_prelude

# name -> what the reward is worth for one graded answer under the settings (None: n/a, skipped by TRL).
Reward = Callable[[AnswerGrade, "RewardArguments"], float | None]
SCORES: dict[str, Reward] = {
    "hallucination_free": lambda g, a: hallucination_free_score(g, a.count_undefined_globals),
    "arity": lambda g, a: arity_score(g),
    "api_match": lambda g, a: score_or(api_match_score(g), a.no_api_reward),
    "correct_call": lambda g, a: score_or(correct_call_score(g), a.no_api_reward),
    "expected_recall": lambda g, a: expected_recall_score(g),
    "syntax": lambda g, a: syntax_score(g),
    "execution": lambda g, a: execution_score(g),
}


@dataclass
class RewardArguments:
    """Which of the grader's scores reward the policy, and how the grader is set (eval's keys of the same names);
    the weights are GRPOConfig's reward_weights, in the same order."""

    reward_funcs: list[str] = field(
        default_factory=lambda: ["hallucination_free", "expected_recall", "syntax"],
        metadata={"help": f"scores of luacoder.grading: {', '.join(SCORES)}"},
    )
    no_api_reward: float = field(
        default=0.0, metadata={"help": "api_match / correct_call of an answer without API calls", "range": "[-1, 1]"}
    )
    report_type: str = field(
        default="markdown", metadata={"help": "markdown: the answer's Lua code blocks; code: the answer is Lua"}
    )
    count_undefined_globals: bool = field(
        default=True,
        metadata={"help": "hallucination_free: an answer calling an undefined global hallucinates (as eval counts)"},
    )
    standard_library: str | None = field(
        default=None,
        metadata={"help": "Lua standard library under the API: lua54, docs path, none (default: api.json's)"},
    )
    execute_timeout: float = field(
        default=DEFAULT_TIMEOUT, metadata={"help": "execution: seconds per answer", "range": "(0, inf)"}
    )
    execute_memory_mb: float = field(
        default=DEFAULT_MEMORY_MB, metadata={"help": "execution: memory per answer", "range": "(0, inf)"}
    )

    def __post_init__(self) -> None:
        unknown = [n for n in self.reward_funcs if n not in SCORES]
        if unknown or not self.reward_funcs:
            raise ValueError(f"unknown reward_funcs {unknown}: choose from {', '.join(SCORES)}")
        if self.report_type not in REPORT_TYPES:
            raise ValueError(f"report_type is {self.report_type!r}: choose one of {', '.join(REPORT_TYPES)}")


def completion_text(completion: Any) -> str:
    """The answer's text: a conversational completion is [{"role": "assistant", "content": ...}]."""
    if isinstance(completion, str):
        return completion
    return "".join(message["content"] for message in completion if message.get("role") == "assistant")


class CompletionGrader:
    """Grades a batch of completions once, however many reward functions ask (TRL calls each in turn).

    The execution reward runs each answer with the index's API stubs; `sandbox_options` are `execute_grades`' other
    keyword arguments for it (timeout, memory_mb)."""

    def __init__(
        self,
        index: ApiIndex,
        execute: bool = False,
        report_type: str = "markdown",
        sandbox_options: dict[str, Any] | None = None,
    ):
        self.index = index
        self.execute = execute
        self.stubs = stub_prelude(index) if execute else ""
        self.report_type = report_type
        self.sandbox_options = dict(sandbox_options or {})
        self._key: tuple | None = None
        self._grades: list[AnswerGrade] = []

    def grade(self, completions: Sequence[Any], expected_apis: Sequence[Sequence[str]] | None) -> list[AnswerGrade]:
        texts = [completion_text(c) for c in completions]
        expected = [tuple(e) for e in expected_apis] if expected_apis is not None else [()] * len(texts)
        key = (tuple(texts), tuple(expected))
        if key != self._key:
            grades = [
                grade_answer(text, self.index, apis, report_type=self.report_type)
                for text, apis in zip(texts, expected, strict=True)
            ]
            if self.execute:
                execute_grades(grades, desc="reward sandbox", prelude=self.stubs, **self.sandbox_options)
            self._key, self._grades = key, grades
        return self._grades


def reward_functions(
    index: ApiIndex, args: RewardArguments, sandbox_options: dict[str, Any] | None = None
) -> list[Callable[..., list[float | None]]]:
    """TRL reward functions (`f(completions, expected_apis=None, **kwargs) -> list`), one per name of
    `args.reward_funcs`, in order. Each is named after its score, so TRL logs `rewards/<name>/mean`.
    `sandbox_options` add to the execution reward's sandbox settings (`CompletionGrader`)."""
    options = {"timeout": args.execute_timeout, "memory_mb": args.execute_memory_mb, **(sandbox_options or {})}
    grader = CompletionGrader(index, "execution" in args.reward_funcs, args.report_type, options)
    return [_reward(name, grader, args) for name in args.reward_funcs]


def _reward(name: str, grader: CompletionGrader, args: RewardArguments) -> Callable[..., list[float | None]]:
    score = SCORES[name]

    def reward(completions, expected_apis=None, **kwargs) -> list[float | None]:
        return [score(grade, args) for grade in grader.grade(completions, expected_apis)]

    reward.__name__ = reward.__qualname__ = name
    return reward
