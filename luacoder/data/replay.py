"""Replay: the base model's own answers to general questions, as chat rows mixed into fine-tuning, so that training
on an API keeps what the model could already do (rehearsal with the model's own outputs, as self-distillation).

    summary = build_replay(config, teacher)   # -> <output_dir>/replay/rows.jsonl, README.md
    luacoder replay --config data/config.yaml --teacher self --base_model outputs/models/smollm2-135m-instruct

The questions (`replay.questions`, one a line; the shipped data/replay/general_questions.txt asks about general
knowledge, writing and programming ideas, never about the API or the eval prompts) are asked once each, greedy by
default, through the same teachers as the synthesis (luacoder.selfinstruct.teachers): the base model in this process,
or a server that serves it. Each outcome is logged as it comes (a killed run goes on with `resume=True`); an empty
answer or one cut at `replay.max_new_tokens` is left out and counted. `chat.replay` in data/config.yaml adds
`rows.jsonl` to the chat dataset (with `chat.replay_weight`), where every row still passes the chat builder's call
check and decontamination.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from luacoder.data.card import markdown_table
from luacoder.data.config import DataConfig
from luacoder.files import RowError, write_json, write_jsonl, write_text
from luacoder.selfinstruct.client import Sampling
from luacoder.selfinstruct.run_log import RunLog, file_digest, fingerprint
from luacoder.selfinstruct.runner import RunCounts, Unit, Unparseable, unit_seed

log = logging.getLogger(__name__)
SOURCE = "replay"


def read_questions(path: str | Path, limit: int | None = None) -> list[str]:
    """The questions of a file, one a line; blank lines and lines starting with # are left out."""
    path = Path(path)
    if not path.is_file():
        raise RowError(f"{path}: no such questions file (replay.questions)")
    questions = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    questions = [q for q in questions if q and not q.startswith("#")]
    if not questions:
        raise RowError(f"{path}: no questions")
    return questions[:limit] if limit is not None else questions


def _parse_answer(text: str, unit: Unit) -> dict[str, Any]:
    answer = text.strip()
    if not answer:
        raise Unparseable("empty answer")
    return {"answer": answer}


def build_replay(config: DataConfig, teacher, out_dir: str | Path | None = None, resume: bool = False) -> dict:
    """Ask every question once and write `rows.jsonl` (chat rows), `answers.jsonl` / `answers.rejected.jsonl` (the
    log) and a card; returns the summary (also `summary.json`)."""
    cfg = config.replay
    out = Path(out_dir) if out_dir is not None else config.out / "replay"
    questions_path = config.path(cfg.questions)
    questions = read_questions(questions_path, cfg.limit)
    settings = {
        "teacher": teacher.describe()["model"],
        "questions": file_digest(questions_path),
        "limit": cfg.limit,
        "max_new_tokens": cfg.max_new_tokens,
        "temperature": cfg.temperature,
        "seed": config.seed,
    }
    run_print = fingerprint(settings)
    units = [
        Unit(
            f"q{i:04d}",
            unit_seed(config.seed, f"replay:{i}"),
            messages=[{"role": "user", "content": q}],
            carry={"question": q},
        )
        for i, q in enumerate(questions)
    ]
    counts = RunCounts()
    sampling = Sampling(cfg.temperature, cfg.max_new_tokens)
    with RunLog(out / "answers.jsonl", out / "answers.rejected.jsonl", run_print, resume) as run_log:
        try:
            teacher.run(
                units, sampling, _parse_answer, run_log, desc="replay", max_consecutive_failures=20, counts=counts
            )
        finally:
            run_log.finish([u.id for u in units])
        kept, rejected = list(run_log.kept), list(run_log.rejected)
    rows = [
        {
            "messages": [{"role": "user", "content": r["question"]}, {"role": "assistant", "content": r["answer"]}],
            "source": SOURCE,
        }
        for r in kept
    ]
    reasons: dict[str, int] = {}
    for r in rejected:
        reasons[r["reason"]] = reasons.get(r["reason"], 0) + 1
    summary = {
        "teacher": teacher.describe(),
        "questions": len(questions),
        "rows": len(rows),
        "rejected": dict(sorted(reasons.items())),
        "complete": len(rows) + sum(reasons.values()) == len(questions)
        and not any(r.get("retryable") for r in rejected),
        "fingerprint": run_print,
    }
    write_jsonl(out / "rows.jsonl", rows)
    write_json(out / "summary.json", summary)
    write_text(out / "README.md", _card(summary, cfg, questions_path))
    log.info("replay: %d of %d questions answered -> %s", len(rows), len(questions), out / "rows.jsonl")
    return summary


def _card(summary: dict, cfg, questions_path: Path) -> str:
    teacher = summary["teacher"]
    return "\n".join(
        [
            "# Replay rows\n",
            f"The answers of `{teacher['model']}` ({teacher['kind']}) to the {summary['questions']} questions of"
            f" `{questions_path.name}`, asked once each (temperature {cfg.temperature:g}, at most"
            f" {cfg.max_new_tokens} new tokens), as chat rows (`rows.jsonl`, source `replay`). Mixed into chat"
            " fine-tuning (`chat.replay`), they keep the model answering general questions as it did before.\n",
            markdown_table([{"questions": summary["questions"], "rows": summary["rows"]} | dict(summary["rejected"])]),
            f"\nquestions {summary['questions']} = rows {summary['rows']} + left out"
            f" {sum(summary['rejected'].values())} (reasons above: `truncated` hit the token limit)."
            + ("" if summary["complete"] else " **Not complete**: rerun with `--continue`.")
            + "\n",
        ]
    )
