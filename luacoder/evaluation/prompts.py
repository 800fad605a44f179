"""Eval prompts: a CSV with a `prompt` column and, optionally, `expected_apis` (documented names, space- or
comma-separated: `string.format, io.open` or `tcp:bind uv.listen`). Every expected name must be documented (an
alias is accepted and stands for its entry), so that a typo cannot silently lower the recall."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from luacoder.files import RowError
from luacoder.grading.api_index import ApiIndex

PROMPT_COLUMN = "prompt"
EXPECTED_COLUMN = "expected_apis"
_SEPARATORS = re.compile(r"[\s,]+")


@dataclass
class EvalPrompt:
    prompt: str
    expected_apis: list[str] = field(default_factory=list)  # canonical entry names


def read_eval_prompts(path: str | os.PathLike, index: ApiIndex) -> list[EvalPrompt]:
    path = Path(path)
    if not path.is_file():
        raise RowError(f"{path}: no such prompts file")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise RowError(f"{path}: not a readable CSV file ({exc})") from None
    if PROMPT_COLUMN not in table.columns:
        raise RowError(f"{path}: no {PROMPT_COLUMN!r} column; the columns are {list(table.columns)}")
    if table.empty:
        raise RowError(f"{path}: no prompts")
    prompts = []
    for number, row in enumerate(table.to_dict("records"), 1):
        where = f"{path}: prompt {number} (data row {number}, after the header)"
        prompt = row[PROMPT_COLUMN]
        if not prompt.strip():
            raise RowError(f"{where}: empty prompt")
        expected = []
        for name in _SEPARATORS.split(row.get(EXPECTED_COLUMN, "").strip()):
            if not name:
                continue
            entry = index.canonical(name)
            if entry is None:
                raise RowError(f"{where}: expected API {name!r} is not documented in the API docs")
            expected.append(entry)
        prompts.append(EvalPrompt(prompt, list(dict.fromkeys(expected))))
    return prompts
