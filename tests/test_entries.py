"""luacoder.evaluation.entries: per documented entry, what answers did where their prompt expected it."""

from __future__ import annotations

import pytest
from conftest import BUNDLED_DOCS

from luacoder.apidocs.markdown import read_markdown_docs
from luacoder.evaluation.entries import ENTRY_COLUMNS, entry_outcome, entry_table
from luacoder.grading.answer import grade_answer
from luacoder.grading.api_index import ApiIndex


@pytest.fixture(scope="module")
def index() -> ApiIndex:
    return ApiIndex(read_markdown_docs([BUNDLED_DOCS], name="lua54"))


def lua(code: str) -> str:
    return f"Here:\n```lua\n{code}\n```"


@pytest.mark.parametrize(
    ("code", "expected", "outcome"),
    [
        ('print(string.format("%d", 1))', "string.format", "called_correctly"),
        ('print(("x"):format())', "string.format", "called_correctly"),  # the method form counts
        ("print(math.floor(1.5, 2))", "math.floor", "wrong_arity"),
        ('local parts = string.split("a,b", ",")', "string.gmatch", "hallucinated_instead"),
        ('local f = io.open("x")\nlocal all = f:readAll()', "file:read", "hallucinated_instead"),
        ('local s = ("a b"):trim()', "string.gsub", "hallucinated_instead"),  # a string method, gsub has one
        ('local n = toint("42")', "tonumber", "hallucinated_instead"),  # an invented global for a global
        ('local parts = string.split("a,b", ",")', "table.concat", "never_used"),  # another module's invention
        ('local n = toint("42")', "string.format", "never_used"),  # a global invented, a module function expected
        ("local x = 1 + 2", "table.sort", "never_used"),
    ],
)
def test_each_outcome(index, code, expected, outcome):
    assert entry_outcome(index.entries[expected], grade_answer(lua(code), index, [expected])) == outcome


def test_the_table_partitions_every_expected_use(index):
    grades = [
        grade_answer(lua('print(string.format("%d", 1))'), index, ["string.format", "print"]),
        grade_answer(lua('local p = string.split("a", ",")'), index, ["string.format", "string.gmatch"]),
        grade_answer(lua("local x = 1"), index, []),
    ]
    rows = {row["entry"]: row for row in entry_table(grades, index)}
    assert list(rows) == index.callable_entries()
    assert [rows["string.format"][c] for c in ENTRY_COLUMNS[1:]] == [2, 1, 1, 0, 0]
    assert [rows["string.gmatch"][c] for c in ENTRY_COLUMNS[1:]] == [1, 0, 1, 0, 0]
    assert [rows["print"][c] for c in ENTRY_COLUMNS[1:]] == [1, 1, 0, 0, 0]
    for row in rows.values():
        assert row["expected"] == sum(row[c] for c in ENTRY_COLUMNS[2:])
