"""What eval.py keeps between runs, under `output_dir/cache/`, so that a rerun only does what is new.

- `<key>/answers.jsonl`: the generated answers of one checkpoint, one line per generated batch, appended as they
  come (a run killed half-way resumes after its last complete batch). The key hashes the checkpoint's content, the
  prompts and every setting that changes generation (`answers_key`), so a changed checkpoint, prompt or setting
  is generated anew and an unchanged one never is. Grading is not cached: it is cheap and redone on every run, so a
  changed api.json or grader shows at once.
- `executions.jsonl`: sandbox results by (code, limits), shared by all checkpoints
  (`luacoder.grading.execution.ExecutionCache`).
- `file_hashes.json`: checkpoint file hashes by size and mtime (`luacoder.evaluation.checkpoints.HashMemo`).

A line cut short by a kill is dropped (and the file repaired) before anything is appended.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from luacoder.files import JsonlLog, stable_hash, write_json


def answers_key(content_hash: str, prompts: Sequence[str], settings: dict[str, Any]) -> str:
    return stable_hash({"checkpoint": content_hash, "prompts": list(prompts), "settings": settings})[:24]


@dataclass
class CachedAnswer:
    answer: str
    new_tokens: int


class AnswerCache:
    """The answers of one (checkpoint content, prompts, settings) key."""

    def __init__(self, cache_dir: str | os.PathLike, key: str):
        self.folder = Path(cache_dir) / key
        self.log = JsonlLog(self.folder / "answers.jsonl")
        self.answers: dict[int, CachedAnswer] = {}
        self.generated_tokens = 0
        self.generation_seconds = 0.0
        for batch in self.log.load():
            self._take(batch)

    def start(self, meta: dict[str, Any]) -> None:
        """Record what the key stands for (for people reading the cache; never read back)."""
        if not (self.folder / "meta.json").is_file():
            write_json(self.folder / "meta.json", meta)

    def add_batch(self, indices: Sequence[int], answers: Sequence[str], new_tokens: Sequence[int], seconds: float):
        batch = {"indices": list(indices), "answers": list(answers), "new_tokens": list(new_tokens)}
        batch["seconds"] = seconds
        self.log.append([batch])
        self._take(batch)

    def _take(self, batch: dict[str, Any]) -> None:
        for i, answer, tokens in zip(batch["indices"], batch["answers"], batch["new_tokens"], strict=True):
            self.answers[i] = CachedAnswer(answer, tokens)
        self.generated_tokens += sum(batch["new_tokens"])
        self.generation_seconds += batch["seconds"]
