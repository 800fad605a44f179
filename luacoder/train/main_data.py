"""Data of the quick-start stage: text rows (`{"content": ...}`) or conversations, told apart by the first row.

Text rows train on every token. Conversations (`{"messages": [...]}`, or prompt/completion rows, converted) are
validated as the chat stage validates them and rendered with the dialogue template.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from datasets import Dataset

from luacoder.dialogue import to_messages
from luacoder.files import RowError, read_jsonl


@dataclass
class MainDataArguments:
    train_file: str = field(
        metadata={"help": "JSON lines: text rows (the field named by dataset_text_field) or {'messages': [...]} rows"}
    )
    test_file: str | None = field(default=None, metadata={"help": "held-out rows of the same kind, for eval loss"})
    system_prompt: str | None = field(default=None, metadata={"help": "conversations: added where there is none"})


def is_chat_row(row: dict) -> bool:
    return "messages" in row or ("prompt" in row and "completion" in row)


def load_rows(path: str, text_field: str, system_prompt: str | None = None) -> Dataset:
    """A `messages` dataset when the first row is a conversation, else a `text_field` dataset; every row must be of
    the first row's kind."""
    rows = read_jsonl(path)
    if not rows:
        raise RowError(f"{path}: no rows")
    if is_chat_row(rows[0]):
        return Dataset.from_dict(
            {"messages": [to_messages(row, f"{path} row {i}", system_prompt) for i, row in enumerate(rows, 1)]}
        )
    texts = []
    for i, row in enumerate(rows, 1):
        text = row.get(text_field)
        if not isinstance(text, str) or not text.strip():
            found = "a conversation" if is_chat_row(row) else f"the fields {sorted(row)}"
            raise RowError(
                f"{path} row {i}: expected text in {text_field!r} (dataset_text_field) like the first row, got {found}"
            )
        texts.append(text)
    return Dataset.from_dict({text_field: texts})
