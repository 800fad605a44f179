"""The call check a generated answer must pass, with the grader that scores checkpoints (luacoder.grading): valid
Lua, no call of an undocumented name under the API, and every API call with a documented number of arguments.

    checker = ApiChecker(api)
    checker.problems('print(string.rep("ab"))')   # ['1: string.rep takes 2-3 arguments, got 1']
"""

from __future__ import annotations

from collections.abc import Iterable

from luacoder.apidocs.schema import ApiEntry
from luacoder.grading.answer import AnswerGrade, grade_code
from luacoder.grading.api_index import ApiIndex


class ApiChecker:
    def __init__(self, entries: Iterable[ApiEntry]):
        self.index = ApiIndex(entries)

    def grade(self, code: str) -> AnswerGrade:
        return grade_code(code, self.index)

    def problems(self, code: str) -> list[str]:
        """What is wrong with the code's API use, one message per problem ("line: message"); empty when fine."""
        grade = self.grade(code)
        if not grade.has_code:
            return ["no code"]
        if not grade.syntax_valid:
            return [f"syntax error at {e}" for e in grade.syntax_errors]
        out = []
        for call in grade.calls:
            if call.kind == "hallucinated":
                out.append(f"{call.line}: {call.resolved} is not documented ({call.reason})")
            elif call.arity_ok is False:
                out.append(f"{call.line}: {call.entries[0]} takes {call.expected_args} arguments, got {call.args}")
        return out

    def api_calls(self, code: str) -> list[str]:
        """The documented entries the code calls with a fitting number of arguments, sorted."""
        return self.grade(code).used_correctly
