"""Scores of one graded answer, each a float in [0, 1] or None, for RL rewards (and anything else that wants one).

    grade = grade_answer(completion, index, expected_apis=row["expected_apis"])
    reward = api_match_score(grade)

None means "not defined for this answer", never "bad" or "good": `api_match_score` is None for an answer that
makes no API call, `expected_recall_score` for a prompt without expected APIs, `execution_score` for an answer
that was not executed. A reward function must decide what None is worth, explicitly, for its task: for prompts that
ask for the API, treating an answer without API calls as 0 (`score_or(api_match_score(g), 0.0)`) stops the policy
from learning to avoid the API, which the original evaluator rewarded; averaging None away would hide it the same
way. Eval reports the no-API rate on its own for the same reason.
"""

from __future__ import annotations

from luacoder.grading.answer import AnswerGrade


def api_match_score(grade: AnswerGrade) -> float | None:
    """Documented API calls / API calls; None without API calls."""
    return grade.api_match


def correct_call_score(grade: AnswerGrade) -> float | None:
    """API calls that are documented AND pass a documented number of arguments / API calls; None without API calls."""
    return grade.correct / grade.api_calls if grade.api_calls else None


def expected_recall_score(grade: AnswerGrade) -> float | None:
    """Expected APIs the answer calls / expected APIs; None when the prompt expects none."""
    return grade.expected_recall


def syntax_score(grade: AnswerGrade) -> float:
    """1.0 when the answer has Lua code that parses, else 0.0."""
    return 1.0 if grade.has_code and grade.syntax_valid else 0.0


def execution_score(grade: AnswerGrade) -> float | None:
    """1.0 when the code ran to its end in the sandbox, 0.0 when it did not; None when it was not executed."""
    if not grade.executed:
        return None
    return 1.0 if grade.ran_ok else 0.0


def score_or(score: float | None, default: float) -> float:
    """`score`, or `default` where it is None: the explicit choice a reward makes for undefined scores."""
    return default if score is None else score
