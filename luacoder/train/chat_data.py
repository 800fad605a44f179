"""Chat fine-tuning data: rows read, validated and normalised to messages, with an optional system prompt."""

from __future__ import annotations

from dataclasses import dataclass, field

from datasets import Dataset

from luacoder.dialogue import to_messages
from luacoder.files import read_jsonl


@dataclass
class ChatDataArguments:
    train_file: str = field(metadata={"help": "JSON lines of {'messages': [...]} (or prompt/completion) rows"})
    test_file: str | None = field(default=None, metadata={"help": "held-out rows for eval loss"})
    system_prompt: str | None = field(default=None, metadata={"help": "added to rows that have no system turn"})


def load_chat_dataset(path: str, system_prompt: str | None = None) -> Dataset:
    rows = read_jsonl(path)
    return Dataset.from_dict(
        {"messages": [to_messages(row, f"{path} row {i}", system_prompt) for i, row in enumerate(rows, 1)]}
    )
