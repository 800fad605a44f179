"""API-match grading of generated Lua: one definition of a good answer for eval (`eval/eval.py`) and RL rewards.

    index = ApiIndex(read_json_docs("api.json"))
    grade = grade_answer(answer, index, expected_apis=["string.format"])
    grade.api_calls, grade.matched, grade.hallucinated_names, grade.arity_errors, api_match_score(grade)

`api_index` says which calls a documented API answers to; `answer` grades one answer; `rewards` turns a grade into
scores in [0, 1] (or None, see there); `scores` aggregates a checkpoint's grades and picks the checkpoint to ship.
`execution` runs answers in the Lua sandbox. The eval harness that uses the grader (generation backends, the
answer cache, checkpoint discovery, prompts, the report) is `luacoder.evaluation`.
"""

from luacoder.grading.answer import AnswerGrade, CallGrade, answer_code, canonical_apis, grade_answer, grade_code
from luacoder.grading.api_index import ApiIndex, CallMatch
from luacoder.grading.rewards import (
    answer_scores,
    api_match_score,
    arity_score,
    correct_call_score,
    execution_score,
    expected_recall_score,
    hallucination_free_score,
    score_or,
    syntax_score,
)
from luacoder.grading.scores import BEST_RULE, CheckpointScores, aggregate, best_index

__all__ = [
    "BEST_RULE",
    "AnswerGrade",
    "ApiIndex",
    "CallGrade",
    "CallMatch",
    "CheckpointScores",
    "aggregate",
    "answer_code",
    "answer_scores",
    "api_match_score",
    "arity_score",
    "best_index",
    "canonical_apis",
    "correct_call_score",
    "execution_score",
    "expected_recall_score",
    "grade_answer",
    "grade_code",
    "hallucination_free_score",
    "score_or",
    "syntax_score",
]
