"""The RL stage's data: preference pairs (reward model, DPO) and eval-style prompts (GRPO), read and validated.

Preference rows are TRL's conversational format, as `luacoder.data.preferences` writes them:
`{"prompt": [messages], "chosen": [assistant message], "rejected": [assistant message]}`.

GRPO prompts come from either
- a CSV in the eval prompts' format (`prompt`, optional `expected_apis`), read by the grader's own reader, so a
  prompt means the same in training and in eval (use other prompts than eval's, or eval measures what RL trained on);
- the chat dataset's JSON lines (the train split): each conversation up to its last answer is a prompt, and the
  APIs that answer calls correctly (graded) are the ones expected.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from datasets import Dataset

from luacoder.config import ConfigError
from luacoder.dialogue import DIALOGUE_TOKENS, ROLES, ChatRowError, chat_messages, to_messages
from luacoder.evaluation.prompts import read_eval_prompts
from luacoder.files import RowError, read_jsonl
from luacoder.grading.answer import grade_answer
from luacoder.grading.api_index import ApiIndex

PREFERENCE_FIELDS = ("prompt", "chosen", "rejected")


@dataclass
class PreferenceDataArguments:
    train_file: str = field(metadata={"help": "JSON lines of {'prompt', 'chosen', 'rejected'} pairs"})
    test_file: str | None = field(default=None, metadata={"help": "held-out pairs for eval loss and accuracy"})
    system_prompt: str | None = field(default=None, metadata={"help": "added to prompts that have no system turn"})


@dataclass
class PromptDataArguments:
    api_path: str = field(metadata={"help": "api.json the rewards grade against"})
    train_file: str = field(metadata={"help": "prompts CSV (prompt, expected_apis) or chat rows (.jsonl)"})
    test_file: str | None = None
    system_prompt: str | None = field(default=None, metadata={"help": "put first in prompts that have no system turn"})


def load_preference_dataset(path: str | os.PathLike, system_prompt: str | None = None) -> Dataset:
    """Validated preference pairs: a prompt ending with a user turn, one assistant message each side. The system
    prompt goes first where a prompt has none, as the chat stage put it (ChatDataArguments.system_prompt)."""
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


def load_prompt_dataset(path: str | os.PathLike, index: ApiIndex, system_prompt: str | None = None) -> Dataset:
    """Prompts as conversations for GRPO, each with the canonical names of the APIs it expects."""
    suffix = os.path.splitext(str(path))[1].lower()
    if suffix == ".csv":
        prompts = read_eval_prompts(path, index)
        conversations = [chat_messages(p.prompt, system_prompt) for p in prompts]
        expected = [p.expected_apis for p in prompts]
    elif suffix == ".jsonl":
        conversations, expected = [], []
        for number, row in enumerate(read_jsonl(path), 1):
            messages = to_messages(row, f"{path}: row {number}", system_prompt)
            last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
            conversations.append(messages[:last])
            expected.append(grade_answer(messages[last]["content"], index).used_correctly)
    else:
        raise RowError(f"{path}: prompts must be a .csv (prompt, expected_apis) or chat rows in .jsonl")
    return Dataset.from_dict({"prompt": conversations, "expected_apis": expected})


def check_chat_tokenizer(tokenizer, model_name: str) -> None:
    """The pairs and prompts are conversations rendered with the model's chat template, as the chat stage trained
    it: a tokenizer without the template or the dialogue tokens means the model is not a chat checkpoint."""
    missing = [token for token in DIALOGUE_TOKENS if token not in tokenizer.get_vocab()]
    if not tokenizer.chat_template or missing:
        lacks = "a chat template" if not tokenizer.chat_template else f"the dialogue tokens {missing}"
        raise ConfigError(
            f"{model_name}: its tokenizer lacks {lacks}; start from a chat checkpoint (deepspeed/chat/train.py, or"
            " sft_lora.py then merge_lora.py)"
        )
