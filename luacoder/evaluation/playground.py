"""Trying one checkpoint by hand (eval/eval_code.ipynb, eval/eval_chat.ipynb): pick a checkpoint or the best one of
an eval run, ask it something, see the answer graded call by call, and optionally run it in the sandbox.

    playground = Playground(pick_checkpoint(eval_output="../outputs/eval"), "api.json", report_type="markdown")
    attempt = playground.ask("Format a number with two decimals.")
    call_table(attempt.grade, playground.index)     # each call: matched, hallucinated or wrong arity, its signature
    attempt.run()                                   # the sandbox's RunResult

The answer is generated as eval.py generates it (the same backend, prompt formatting and system prompt taken from
the checkpoint's saved config) and graded by the same grader (`luacoder.grading`), so what the notebook shows is
what the report counts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from luacoder.checkpoints import saved_config
from luacoder.grading.answer import AnswerGrade, grade_answer
from luacoder.grading.api_index import ApiIndex

MATCHED, HALLUCINATED, WRONG_ARITY = "matched", "hallucinated", "wrong arity"
CALL_COLUMNS = ("line", "call", "verdict", "documented as", "signature", "args passed", "args documented", "why")


def pick_checkpoint(checkpoint: str | os.PathLike | None = None, eval_output: str | os.PathLike | None = None) -> Path:
    """The checkpoint folder given, or the best checkpoint of an eval output folder (its best.json)."""
    if (checkpoint is None) == (eval_output is None):
        raise ValueError("give either a checkpoint folder or an eval output folder (with best.json), not both")
    if checkpoint is not None:
        path = Path(checkpoint)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path}: not a model folder (no config.json in it)")
        return path
    best_file = Path(eval_output) / "best.json"
    if not best_file.is_file():
        raise FileNotFoundError(f"{best_file}: no such file; run eval/eval.py with output_dir={eval_output} first")
    best = json.loads(best_file.read_text(encoding="utf-8"))
    if not best.get("best"):
        raise ValueError(f"{best_file}: eval found no best checkpoint ({best.get('why', 'none could be scored')})")
    return Path(best["path"])


def call_table(grade: AnswerGrade, index: ApiIndex) -> list[dict[str, Any]]:
    """One row per API call of a graded answer: where it is, its verdict (matched, hallucinated or wrong arity),
    the arguments passed and documented, the documented signature(s), and why a call is hallucinated."""
    rows = []
    for call in grade.calls:
        if call.kind == "hallucinated":
            verdict = HALLUCINATED
        else:
            verdict = MATCHED if call.arity_ok else WRONG_ARITY
        signatures = [index.entries[name].signature for name in call.entries if name in index.entries]
        values = (
            call.line,
            call.name,
            verdict,
            ", ".join(call.entries),
            " | ".join(dict.fromkeys(signatures)),
            call.args,
            call.expected_args,
            call.reason,
        )
        rows.append(dict(zip(CALL_COLUMNS, values, strict=True)))
    return rows


@dataclass
class Attempt:
    """One prompt, the checkpoint's answer and its grade."""

    prompt: str
    answer: str
    grade: AnswerGrade

    def run(self, **limits: Any):
        """The graded code run in the sandbox (`luacoder.lua.sandbox.run_lua`; limits: timeout, memory_mb, ...)."""
        from luacoder.lua.sandbox import RunResult, run_lua

        if not self.grade.has_code:
            return RunResult(ok=False, error="the answer has no Lua code", reason="no code")
        return run_lua(self.grade.code, **limits)


class Playground:
    """A checkpoint loaded once, asked many times. `report_type` "markdown" asks a chat checkpoint (the prompt goes
    through its chat template; the answer's ```lua blocks are graded); "code" completes a Lua prefix (the prefix
    and the completion are graded together, only the completion's calls counted)."""

    def __init__(
        self,
        checkpoint: str | os.PathLike,
        api_path: str | os.PathLike,
        report_type: str = "markdown",
        system_prompt: str | None = None,
        dtype: str = "auto",
        device: str | None = None,
    ):
        from luacoder.apidocs.json_docs import read_json_docs
        from luacoder.evaluation.backends import load_backend

        self.checkpoint, self.report_type = Path(checkpoint), report_type
        self.index = ApiIndex(read_json_docs(api_path))
        if system_prompt is None and report_type == "markdown":  # as eval.py: the one the checkpoint trained with
            system_prompt = saved_config(self.checkpoint).get("system_prompt") or None
        self.system_prompt = system_prompt
        self.backend = load_backend(
            "hf", self.checkpoint, report_type, system_prompt=system_prompt, dtype=dtype, device=device
        )

    def ask(
        self,
        prompt: str,
        expected_apis: Sequence[str] = (),
        max_new_tokens: int = 256,
        seed: int = 42,
        **sampling: Any,
    ) -> Attempt:
        """The answer to `prompt` (greedy unless sampling says do_sample=True, temperature=...; sampled with
        `seed`), graded."""
        from luacoder.evaluation.backends import Decoding

        decoding = Decoding(max_new_tokens=max_new_tokens, **sampling)
        (completion,) = self.backend.complete([self.backend.prompt_text(prompt)], decoding, [seed])
        answer = completion.text
        grade = grade_answer(answer, self.index, expected_apis, self.report_type, prompt=prompt)
        return Attempt(prompt, answer, grade)
