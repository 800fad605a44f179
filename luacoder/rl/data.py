"""The RL stage's data: preference pairs (reward model, DPO) and eval-style prompts (GRPO), read and validated.

Preference rows are TRL's conversational format, as `luacoder.data.preferences` writes them:
`{"prompt": [messages], "chosen": [assistant message], "rejected": [assistant message]}`.

GRPO prompts (and the on-policy pair builder's, luacoder.rl.policy_pairs) come from one or several files, each
- a CSV in the eval prompts' format (`prompt`, optional `expected_apis`), read by the grader's own reader, so a
  prompt means the same in training and in eval (use other prompts than eval's, or eval measures what RL trained on);
- the chat dataset's JSON lines (the train split): each conversation up to its last answer is a prompt, and the
  APIs that answer calls correctly (graded) are the ones expected.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from datasets import Dataset

from luacoder.dialogue import ROLES, ChatRowError, chat_messages, to_messages
from luacoder.evaluation.prompts import read_eval_prompts
from luacoder.files import RowError, read_jsonl
from luacoder.grading.answer import grade_answer
from luacoder.grading.api_index import ApiIndex

PREFERENCE_FIELDS = ("prompt", "chosen", "rejected")
SYSTEM_PROMPT_HELP = "put first in prompts that have no system turn (default: the parent checkpoint's; '' for none)"


@dataclass
class PreferenceDataArguments:
    train_file: str = field(metadata={"help": "JSON lines of {'prompt', 'chosen', 'rejected'} pairs"})
    test_file: str | None = field(default=None, metadata={"help": "held-out pairs for eval loss and accuracy"})
    system_prompt: str | None = field(default=None, metadata={"help": SYSTEM_PROMPT_HELP})


@dataclass
class PromptDataArguments:
    api_path: str = field(metadata={"help": "api.json the rewards grade against"})
    train_file: list[str] = field(
        metadata={"help": "prompts: CSVs (prompt, expected_apis) or chat rows (.jsonl), one file or a list"}
    )
    test_file: str | None = None
    system_prompt: str | None = field(default=None, metadata={"help": SYSTEM_PROMPT_HELP})


def load_preference_dataset(path: str | os.PathLike, system_prompt: str | None = None) -> Dataset:
    """Validated preference pairs: a prompt ending with a user turn, one assistant message each side. The system
    prompt goes first where a prompt has none, as the chat stage put it (ChatDataArguments.system_prompt); the
    stages pass the one their parent checkpoint was trained with (luacoder.rl.parent)."""
    rows = read_jsonl(path, required=PREFERENCE_FIELDS)
    for number, row in enumerate(rows, 1):
        where = f"{path}: row {number}"
        prompt = row["prompt"]
        if not _messages(prompt) or prompt[-1]["role"] != "user":
            raise ChatRowError(f"{where}: 'prompt' must be a list of messages ending with a user turn")
        for side in ("chosen", "rejected"):
            answer = row[side]
            if not _messages(answer) or len(answer) != 1 or answer[0]["role"] != "assistant":
                raise ChatRowError(f"{where}: '{side}' must be a list with one assistant message")
        if row["chosen"] == row["rejected"]:
            raise ChatRowError(f"{where}: 'chosen' and 'rejected' are the same answer")
        if system_prompt and prompt[0]["role"] != "system":
            row["prompt"] = [{"role": "system", "content": system_prompt}, *prompt]
    return Dataset.from_dict({key: [row[key] for row in rows] for key in PREFERENCE_FIELDS})


def _messages(value: Any) -> bool:
    def message(m: Any) -> bool:
        return isinstance(m, dict) and m.get("role") in ROLES and isinstance(m.get("content"), str)

    return isinstance(value, list) and bool(value) and all(message(m) for m in value)


def load_prompt_dataset(
    paths: str | os.PathLike | Sequence[str | os.PathLike], index: ApiIndex, system_prompt: str | None = None
) -> Dataset:
    """Prompts as conversations for GRPO, each with the canonical names of the APIs it expects, file after file."""
    conversations, expected = [], []
    for path in [paths] if isinstance(paths, (str, os.PathLike)) else paths:
        for messages, apis in read_prompts(path, index, system_prompt):
            conversations.append(messages)
            expected.append(apis)
    return Dataset.from_dict({"prompt": conversations, "expected_apis": expected})


def read_prompts(
    path: str | os.PathLike, index: ApiIndex, system_prompt: str | None = None
) -> list[tuple[list[dict[str, str]], list[str]]]:
    """(conversation ending with a user turn, expected APIs) of each prompt of a CSV or a chat rows file."""
    suffix = os.path.splitext(str(path))[1].lower()
    if suffix == ".csv":
        return [(chat_messages(p.prompt, system_prompt), p.expected_apis) for p in read_eval_prompts(path, index)]
    if suffix == ".jsonl":
        prompts = []
        for number, row in enumerate(read_jsonl(path), 1):
            messages = to_messages(row, f"{path}: row {number}", system_prompt)
            last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
            prompts.append((messages[:last], grade_answer(messages[last]["content"], index).used_correctly))
        return prompts
    raise RowError(f"{path}: prompts must be a .csv (prompt, expected_apis) or chat rows in .jsonl")
