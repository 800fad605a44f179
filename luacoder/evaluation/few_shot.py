"""The prompted baseline: a model answering with example dialogues before each question, scored as its own row.

StarChat's write-up turned a base model into an assistant with a few-shot "tech assistant" prompt alone; a report
that shows fine-tuning against prompting on the same questions answers whether training was worth it. eval.py's
`few_shot_path` is a JSONL file of chat rows (`{"messages": [...]}` or prompt/completion, as the chat stage reads);
their user and assistant turns, in file order, go between the system prompt and each eval question. The row is
named "<model> + few-shot" and its answers are cached under a key that includes these turns, so it never shares
answers with the model's plain row.
"""

from __future__ import annotations

import os
from pathlib import Path

from luacoder.dialogue import ChatRowError, to_messages
from luacoder.files import RowError, read_jsonl

SUFFIX = " + few-shot"


def read_few_shot(path: str | os.PathLike) -> list[dict[str, str]]:
    """The example turns of every row, in order (system turns left out: the eval's system prompt stays the one)."""
    turns = []
    for number, row in enumerate(read_jsonl(path), 1):
        try:
            messages = to_messages(row, f"{Path(path)}: row {number}")
        except ChatRowError as exc:
            raise RowError(str(exc)) from None
        turns += [m for m in messages if m["role"] != "system"]
    return turns


def few_shot_name(name: str) -> str:
    return name + SUFFIX
