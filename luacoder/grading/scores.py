"""A checkpoint's scores from its answers' grades, and the rule that picks the checkpoint to ship.

Every rate is a ratio of two counts kept beside it, so each number traces back to the samples; a rate whose
denominator is zero is None, shown as "n/a", never 0 and never a division error.

- api_match_accuracy   matched API calls / API calls, over all answers
- mean_answer_accuracy mean of (matched / API calls) over the answers that make API calls
- hallucination_rate   answers with at least one hallucinated call / answers; by default an answer that calls an
                       undefined global counts as hallucinating too (`aggregate(..., count_undefined_globals=False)`,
                       eval's `count_undefined_globals: false`, turns that off for APIs that inject undocumented
                       globals)
- undefined_global_rate answers that call at least one undefined global (neither documented, nor in the Lua
                       standard library, nor defined or assigned in the answer: `lstrip(s)`) / answers
- arity_error_rate     matched calls with an undocumented argument count / matched calls
- no_api_rate          answers without any API call / answers (on its own: never folded into the accuracy)
- no_code_rate         answers without Lua code / answers
- expected_api_recall  expected APIs called / expected APIs, over the answers whose prompt lists some
- syntax_valid_rate    answers whose code parses / answers with code
- execution_rate       answers whose code ran to its end in the sandbox with the API stubs, raising no API error /
                       answers with code (when executed; the report's "ran with stubs")
- tokens_per_second    generated tokens / generation wall time
- api_f1               harmonic mean of api_match_accuracy and expected_api_recall: documented calls AND the
                       asked-for ones (n/a when either is n/a)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from luacoder.grading.answer import AnswerGrade

NA = "n/a"
# Accuracy alone would ship a checkpoint that calls `print` and nothing that was asked for (it happened: accuracy
# 0.99 at recall 0.00 on the README's run), so where prompts name their expected APIs the recall counts as much.
BEST_RULE = (
    "highest API F1 (the harmonic mean of API-match accuracy and expected-API recall; the API-match accuracy alone "
    "where no prompt lists expected APIs); ties broken by lower hallucination rate, then the earlier checkpoint; "
    "n/a ranks below any number"
)
RATES = (
    "api_f1",
    "api_match_accuracy",
    "mean_answer_accuracy",
    "hallucination_rate",
    "undefined_global_rate",
    "arity_error_rate",
    "no_api_rate",
    "no_code_rate",
    "expected_api_recall",
    "syntax_valid_rate",
    "execution_rate",
    "tokens_per_second",
)


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def show(value: float | None, digits: int = 3) -> str:
    """A rate as text: "n/a" for None."""
    return NA if value is None else f"{value:.{digits}f}"


@dataclass
class CheckpointScores:
    answers: int = 0
    api_calls: int = 0
    matched: int = 0
    hallucinated: int = 0
    arity_errors: int = 0
    answers_with_api: int = 0
    answer_accuracy_sum: float = 0.0  # sum of matched / API calls over answers_with_api
    answers_with_hallucination: int = 0  # hallucinated API calls, or undefined globals when they count
    answers_with_undefined_global: int = 0
    undefined_global_calls: int = 0
    undefined_globals_counted: bool = True  # whether answers_with_hallucination counts undefined globals
    answers_with_code: int = 0
    syntax_valid: int = 0
    expected_apis: int = 0
    expected_found: int = 0
    executed: int = 0
    ran_ok: int = 0
    generated_tokens: int = 0
    generation_seconds: float = 0.0

    @property
    def api_match_accuracy(self) -> float | None:
        return ratio(self.matched, self.api_calls)

    @property
    def mean_answer_accuracy(self) -> float | None:
        return ratio(self.answer_accuracy_sum, self.answers_with_api)

    @property
    def hallucination_rate(self) -> float | None:
        return ratio(self.answers_with_hallucination, self.answers)

    @property
    def undefined_global_rate(self) -> float | None:
        return ratio(self.answers_with_undefined_global, self.answers)

    @property
    def arity_error_rate(self) -> float | None:
        return ratio(self.arity_errors, self.matched)

    @property
    def no_api_rate(self) -> float | None:
        return ratio(self.answers - self.answers_with_api, self.answers)

    @property
    def no_code_rate(self) -> float | None:
        return ratio(self.answers - self.answers_with_code, self.answers)

    @property
    def expected_api_recall(self) -> float | None:
        return ratio(self.expected_found, self.expected_apis)

    @property
    def syntax_valid_rate(self) -> float | None:
        return ratio(self.syntax_valid, self.answers_with_code)

    @property
    def execution_rate(self) -> float | None:
        return ratio(self.ran_ok, self.answers_with_code) if self.executed else None

    @property
    def tokens_per_second(self) -> float | None:
        return ratio(self.generated_tokens, self.generation_seconds)

    @property
    def api_f1(self) -> float | None:
        precision, recall = self.api_match_accuracy, self.expected_api_recall
        if precision is None or recall is None:
            return None
        return ratio(2 * precision * recall, precision + recall) or 0.0

    @property
    def selection_score(self) -> float | None:
        """What BEST_RULE ranks by first."""
        return self.api_f1 if self.expected_apis else self.api_match_accuracy

    def rates(self) -> dict[str, float | None]:
        return {name: getattr(self, name) for name in RATES}

    def to_dict(self) -> dict[str, Any]:
        """Counts, then rates (None for n/a)."""
        return {**asdict(self), **self.rates()}


def aggregate(
    grades: Sequence[AnswerGrade],
    generated_tokens: int = 0,
    generation_seconds: float = 0.0,
    count_undefined_globals: bool = True,
) -> CheckpointScores:
    """The scores of a checkpoint's grades; `count_undefined_globals` says whether an answer calling an undefined
    global counts in the hallucination rate (it always counts in the undefined-global rate)."""
    scores = CheckpointScores(
        answers=len(grades),
        generated_tokens=generated_tokens,
        generation_seconds=generation_seconds,
        undefined_globals_counted=count_undefined_globals,
    )
    for g in grades:
        scores.api_calls += g.api_calls
        scores.matched += g.matched
        scores.hallucinated += g.hallucinated
        scores.arity_errors += g.arity_errors
        if g.api_calls:
            scores.answers_with_api += 1
            scores.answer_accuracy_sum += g.matched / g.api_calls
        undefined = len(g.undefined)
        scores.undefined_global_calls += undefined
        scores.answers_with_undefined_global += undefined > 0
        scores.answers_with_hallucination += g.hallucinated > 0 or (count_undefined_globals and undefined > 0)
        scores.answers_with_code += g.has_code
        scores.syntax_valid += g.has_code and g.syntax_valid
        scores.expected_apis += len(g.expected_apis)
        scores.expected_found += len(g.expected_found)
        scores.executed += g.executed
        scores.ran_ok += bool(g.executed and g.ran_ok)
    return scores


def best_index(scores: Sequence[CheckpointScores | None]) -> int | None:
    """The position of the checkpoint to ship under BEST_RULE (entries in checkpoint order; None = not scored), or
    None when nothing was scored."""

    def key(position: int) -> tuple:
        s = scores[position]
        assert s is not None
        score, hallucination = s.selection_score, s.hallucination_rate
        return (score is not None, score or 0.0, hallucination is not None, -(hallucination or 0.0), -position)

    candidates = [i for i, s in enumerate(scores) if s is not None]
    return max(candidates, key=key) if candidates else None
