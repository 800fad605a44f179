"""The prompt readers.

`read_eval_prompts`: eval prompts, a CSV with a `prompt` column and, optionally, `expected_apis` (documented names,
space- or comma-separated: `string.format, io.open` or `tcp:bind uv.listen`). Every expected name must be documented
(an alias is accepted and stands for its entry), so that a typo cannot silently lower the recall.

`read_prompts`: plain prompts from a .txt, .jsonl or .csv file (generate.py, self-instruct's decontamination).

`shipped_prompt_sets`: the natural prompt sets shipped in `data/prompts/` (questions written by hand, as people ask
them, for the bundled Lua 5.4 docs: `natural_lua54.csv`). They are for evaluation only: the data builders
decontaminate every training row against them, whatever docs the data is built from.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from luacoder.files import RowError, read_jsonl
from luacoder.grading.api_index import ApiIndex

# The shipped prompt sets: package data, so an installed package has them (data/prompts in a checkout links here).
SHIPPED_PROMPTS = Path(__file__).resolve().parent / "prompt_sets"
NATURAL_LUA54 = SHIPPED_PROMPTS / "natural_lua54.csv"
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


def read_prompts(path: str | os.PathLike, field: str = PROMPT_COLUMN) -> list[str]:
    """Plain prompts (generate.py, self-instruct's decontamination against eval's prompts.csv) from a .txt (one a
    line, blank lines skipped), a .jsonl (`field` of each row) or a .csv (`field` column). A missing field or column,
    an empty prompt or a file without prompts is an error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise RowError(f"{path}: no such prompts file")
    suffix = path.suffix.lower()
    if suffix == ".txt":
        prompts = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    elif suffix == ".jsonl":
        prompts = []
        for number, row in enumerate(read_jsonl(path, required=(field,)), 1):
            prompts.append(_checked_prompt(row[field], f"{path}: row {number}"))
    elif suffix == ".csv":
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            if field not in (reader.fieldnames or []):
                raise RowError(f"{path}: no {field!r} column; the columns are {reader.fieldnames or []}")
            prompts = [_checked_prompt(row[field], f"{path}:{reader.line_num}") for row in reader]
    else:
        raise RowError(f"{path}: unsupported prompts file; use .txt (one prompt a line), .jsonl or .csv")
    if not prompts:
        raise RowError(f"{path}: no prompts")
    return prompts


def _checked_prompt(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise RowError(f"{where}: the {PROMPT_COLUMN!r} is {type(value).__name__}, not text")
    if not value.strip():
        raise RowError(f"{where}: empty prompt")
    return value


def shipped_prompt_sets() -> list[Path]:
    """The shipped CSV prompt sets (`data/prompts/` in a checkout)."""
    return sorted(SHIPPED_PROMPTS.glob("*.csv"))
