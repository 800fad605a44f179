"""Scores of one graded answer, each a float in [0, 1] or None, for RL rewards (and anything else that wants one).

    grade = grade_answer(completion, index, expected_apis=row["expected_apis"])
    reward = hallucination_free_score(grade)

Each score is eval's own number for a checkpoint that gave this one answer: `answer_scores(grade)` is
`luacoder.grading.scores.aggregate([grade])`, the aggregation eval reports with, and every score below reads one of
its rates. So a reward and eval's report can never mean two different things:

- `hallucination_free_score`  1 - hallucination_rate: 1.0 when the answer calls nothing undocumented (no hallucinated
                              API call and, unless `count_undefined_globals=False`, no undefined global), else 0.0
- `arity_score`               1 - arity_error_rate: matched calls with a documented argument count / matched calls
- `api_match_score`           api_match_accuracy: documented API calls / API calls
- `correct_call_score`        matched calls with a documented argument count / API calls (api_match and arity in one)
- `expected_recall_score`     expected_api_recall: expected APIs called / expected APIs
- `syntax_score`              syntax_valid_rate: 1.0 when the answer's code parses
- `execution_score`           execution_rate: 1.0 when the code ran to its end in the sandbox

None means "not defined for this answer", never "bad" or "good": eval's rate has an empty denominator (n/a).
`api_match_score`, `correct_call_score` are None for an answer that makes no API call, `arity_score` for one without
a documented call, `expected_recall_score` for a prompt without expected APIs, `execution_score` for an answer that
was not executed. Where a score takes a value for an n/a rate, it says so: `syntax_score` and `execution_score` give
an answer without code 0.0 (no code is no valid code), where eval leaves such answers out of those two rates and
counts them in its no-code rate instead. A reward function must decide what None is worth, explicitly, for its task:
for prompts that ask for the API, treating an answer without API calls as 0 (`score_or(api_match_score(g), 0.0)`)
stops the policy from learning to avoid the API, which the original evaluator rewarded; averaging None away would
hide it the same way. Eval reports the no-API rate on its own for the same reason. An answer without code is free of
hallucinations in eval's count and here: pair `hallucination_free_score` with `syntax_score` or `expected_recall_score`
so that writing nothing does not pay.
"""

from __future__ import annotations

from luacoder.grading.answer import AnswerGrade
from luacoder.grading.scores import CheckpointScores, aggregate


def answer_scores(grade: AnswerGrade, count_undefined_globals: bool = True) -> CheckpointScores:
    """Eval's scores of a checkpoint whose only answer is this one."""
    return aggregate([grade], count_undefined_globals=count_undefined_globals)


def hallucination_free_score(grade: AnswerGrade, count_undefined_globals: bool = True) -> float:
    """1.0 when eval would not count the answer as hallucinating, else 0.0 (never None)."""
    rate = answer_scores(grade, count_undefined_globals).hallucination_rate
    assert rate is not None  # one answer: the denominator is 1
    return 1.0 - rate


def arity_score(grade: AnswerGrade) -> float | None:
    """Matched calls passing a documented number of arguments / matched calls; None without a matched call."""
    rate = answer_scores(grade).arity_error_rate
    return None if rate is None else 1.0 - rate


def api_match_score(grade: AnswerGrade) -> float | None:
    """Documented API calls / API calls; None without API calls."""
    return answer_scores(grade).api_match_accuracy


def correct_call_score(grade: AnswerGrade) -> float | None:
    """API calls that are documented AND pass a documented number of arguments / API calls; None without API calls."""
    scores = answer_scores(grade)
    return None if not scores.api_calls else (scores.matched - scores.arity_errors) / scores.api_calls


def expected_recall_score(grade: AnswerGrade) -> float | None:
    """Expected APIs the answer calls / expected APIs; None when the prompt expects none."""
    return answer_scores(grade).expected_api_recall


def syntax_score(grade: AnswerGrade) -> float:
    """1.0 when the answer has Lua code that parses, else 0.0 (an answer without code included)."""
    return score_or(answer_scores(grade).syntax_valid_rate, 0.0)


def execution_score(grade: AnswerGrade) -> float | None:
    """1.0 when the code ran to its end in the sandbox, 0.0 when it did not or there is no code; None when it was not
    executed."""
    if not grade.executed:
        return None
    return score_or(answer_scores(grade).execution_rate, 0.0)


def score_or(score: float | None, default: float) -> float:
    """`score`, or `default` where it is None: the explicit choice a reward makes for undefined scores."""
    return default if score is None else score
