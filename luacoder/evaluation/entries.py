"""Per documented entry, what the best checkpoint did where a prompt expected it: eval's `entries.csv`.

Every answer whose prompt lists entry E among its expected APIs counts once for E, in the first of these that holds:

- called_correctly: the answer calls E (by its name or an alias) with a documented argument count;
- wrong_arity: it calls E, but never with a documented argument count;
- hallucinated_instead: it does not call E, and makes an undocumented call in E's place: a hallucinated API call
  under E's module (`string.split` where `string.gmatch` was expected; `io.readAll` where `file:read` was), a
  hallucinated method of a value of E's receiver type when E has a method form (`f:readAll()` on an `io.open` result
  where `file:read` was; `s:trim()` where `string.gsub`, alias `s:gsub`, was), or, for a global function
  (`tonumber`), a call of an undefined global (`toint(s)`: a helper the model invented);
- never_used: none of these: E is not called and nothing was invented in its place.

So expected = called_correctly + wrong_arity + hallucinated_instead + never_used for every entry. The synthesis of
training data reads the file to weight up the entries a model fails on (`hallucinated_instead`, `never_used`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from luacoder.apidocs.schema import ApiEntry
from luacoder.files import write_text
from luacoder.grading.answer import AnswerGrade
from luacoder.grading.api_index import ApiIndex, receiver_types, root_of

ENTRY_COLUMNS = ("entry", "expected", "called_correctly", "hallucinated_instead", "wrong_arity", "never_used")
OUTCOMES = ENTRY_COLUMNS[2:]


def entry_outcome(entry: ApiEntry, grade: AnswerGrade) -> str:
    """What an answer whose prompt expected `entry` did with it: one of OUTCOMES (see the module's docstring)."""
    calls_of_entry = [c for c in grade.calls if c.kind == "matched" and entry.name in c.entries]
    if any(c.arity_ok for c in calls_of_entry):
        return "called_correctly"
    if calls_of_entry:
        return "wrong_arity"
    if in_its_place(entry, grade):
        return "hallucinated_instead"
    return "never_used"


def in_its_place(entry: ApiEntry, grade: AnswerGrade) -> bool:
    """Whether the answer makes an undocumented call where `entry` belongs (its module, its receiver type, or, for a
    global function, an undefined global)."""
    if "." not in entry.name and ":" not in entry.name:
        return bool(grade.undefined)
    module = entry.module or root_of(entry.name)
    method_form = any(":" in name for name in [entry.name, *entry.aliases])  # `file:read`, `string.rep` (`s:rep`)
    types = receiver_types(entry) if method_form else frozenset()
    for call in grade.calls:
        if call.kind != "hallucinated":
            continue
        if ":" not in call.resolved and root_of(call.resolved) == module:
            return True
        if types and set(call.receiver.split("/")) & types:
            return True
    return False


def entry_table(grades: Sequence[AnswerGrade], index: ApiIndex) -> list[dict[str, int | str]]:
    """One row per documented function and method of the API (`index.callable_entries()`, in its order) with the
    counts of ENTRY_COLUMNS over `grades` (entries no prompt expects have expected 0)."""
    rows = {name: dict.fromkeys(ENTRY_COLUMNS, 0) | {"entry": name} for name in index.callable_entries()}
    for grade in grades:
        for name in grade.expected_apis:
            if name not in rows:  # an expected field or event: not called, so not counted
                continue
            rows[name]["expected"] += 1
            rows[name][entry_outcome(index.entries[name], grade)] += 1
    return list(rows.values())


def write_entry_table(path: str | os.PathLike, rows: Sequence[dict[str, int | str]]) -> None:
    import pandas as pd

    table = pd.DataFrame(list(rows), columns=list(ENTRY_COLUMNS))
    write_text(path, table.to_csv(index=False, lineterminator="\n"))
