"""GRPO rewards: the grader's scores (luacoder.grading) as TRL reward functions.

    funcs = reward_functions(ApiIndex(api), ["api_match", "expected_recall", "syntax"])
    GRPOTrainer(..., reward_funcs=funcs, args=GRPOConfig(reward_weights=[1.0, 0.5, 0.2], ...))

Each function grades the completions with `grade_answer`, the function eval scores checkpoints with, and returns
one of the grader's scores per completion (`luacoder.grading.rewards`): no scoring rule is restated here. A
completion is graded once per batch, however many reward functions read it. The weights are GRPOConfig's
`reward_weights`, in the order of `reward_funcs`.

What an undefined score is worth is the reward's explicit choice (see luacoder.grading.rewards):
- api_match / correct_call: an answer without API calls gets `no_api_reward` (default 0.0), so the policy cannot
  escape the API; eval reports the no-API rate beside the accuracy for the same reason.
- expected_recall: None (n/a) for a prompt that expects no API; TRL skips None in the weighted sum.
- execution: every answer is run in the sandbox with the API's stubs (luacoder.lua.stubs), so code that calls the
  API runs and an undocumented call or a wrong argument count stops it (0.0); code that does not parse counts as
  not running (0.0).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from luacoder.grading.answer import AnswerGrade, grade_answer
from luacoder.grading.api_index import ApiIndex
from luacoder.grading.execution import execute_grades
from luacoder.grading.rewards import (
    api_match_score,
    correct_call_score,
    execution_score,
    expected_recall_score,
    score_or,
    syntax_score,
)
from luacoder.lua.stubs import stub_prelude

Score = Callable[[AnswerGrade], float | None]
SCORES: dict[str, Score] = {
    "api_match": api_match_score,
    "correct_call": correct_call_score,
    "expected_recall": expected_recall_score,
    "syntax": syntax_score,
    "execution": execution_score,
}
# Scores that are None for an answer without API calls: the reward says what that is worth.
NO_API_SCORES = ("api_match", "correct_call")
REPORT_TYPES = ("markdown", "code")


@dataclass
class RewardArguments:
    """Which of the grader's scores reward the policy; their weights are GRPOConfig's reward_weights, same order."""

    reward_funcs: list[str] = field(
        default_factory=lambda: ["api_match", "expected_recall", "syntax"],
        metadata={"help": f"scores of luacoder.grading: {', '.join(SCORES)}"},
    )
    no_api_reward: float = field(
        default=0.0, metadata={"help": "api_match / correct_call of an answer without API calls"}
    )
    report_type: str = field(
        default="markdown", metadata={"help": "markdown: the answer's Lua code blocks; code: the answer is Lua"}
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
    """Grades a batch of completions once, however many reward functions ask (TRL calls each in turn)."""

    def __init__(self, index: ApiIndex, execute: bool = False, report_type: str = "markdown"):
        self.index = index
        self.execute = execute
        self.stubs = stub_prelude(index) if execute else ""
        self.report_type = report_type
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
                execute_grades(grades, desc="reward sandbox", prelude=self.stubs)
            self._key, self._grades = key, grades
        return self._grades


def reward_functions(
    index: ApiIndex,
    names: Sequence[str],
    no_api_reward: float = 0.0,
    report_type: str = "markdown",
) -> list[Callable[..., list[float | None]]]:
    """TRL reward functions (`f(completions, expected_apis=None, **kwargs) -> list`), one per name, in order.
    Each is named after its score, so TRL logs `rewards/<name>/mean`."""
    unknown = [n for n in names if n not in SCORES]
    if unknown or not names:
        raise ValueError(f"unknown reward functions {unknown}: choose from {', '.join(SCORES)}")
    grader = CompletionGrader(index, execute="execution" in names, report_type=report_type)
    return [_reward(name, grader, no_api_reward) for name in names]


def _reward(name: str, grader: CompletionGrader, no_api_reward: float) -> Callable[..., list[float | None]]:
    score = SCORES[name]

    def reward(completions, expected_apis=None, **kwargs) -> list[float | None]:
        values = [score(grade) for grade in grader.grade(completions, expected_apis)]
        if name in NO_API_SCORES:
            return [score_or(value, no_api_reward) for value in values]
        return values

    reward.__name__ = reward.__qualname__ = name
    return reward
