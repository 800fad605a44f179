"""Pairwise judging of two checkpoints' answers by a judge model, after the StarChat write-up (H4's "Can foundation
models label data like humans?"): the judge scores each of two assistants from 1 to 8 and says why in a line or two.

Judges favour the answer they read first, so every pair is judged twice, A first (order "AB") and B first ("BA"),
and a pair's scores are the means over both orders. The report counts wins, ties and losses of A against B, and the
pairs whose two orders disagree on the winner. A pair is judged only when both orders gave two scores; an answer
the judge wrote without them is counted as unparseable, a request that never got an answer as failed.

The answers come from eval.py's `samples.jsonl` (rows: checkpoint, index, prompt, answer, ...); one file may hold
several checkpoints, so each side names the checkpoint it takes (not needed when its file holds one).
"""

from __future__ import annotations

import os
import re
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from luacoder.files import RowError, read_jsonl, write_json, write_jsonl, write_text
from luacoder.selfinstruct.client import Sampling, ServerSettings
from luacoder.selfinstruct.run_log import RunLog, file_digest, fingerprint
from luacoder.selfinstruct.runner import RunCounts, Unit, Unparseable, run_sync, run_units, unit_seed

PLACEHOLDERS = ("{question}", "{answer_1}", "{answer_2}")
ORDERS = ("AB", "BA")
SCORE_RANGE = (1.0, 8.0)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_OUT_OF_EIGHT = re.compile(r"\s*(?:/|out of)\s*8\b", re.IGNORECASE)
_NAMED_SCORE = re.compile(r"assistant\s*([12])\s*(?:'s)?\s*(?:score)?\s*[:=\-]?\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
_ASSISTANT = re.compile(r"assistant\s*[12]", re.IGNORECASE)
_REASON_CHARS = 1000


@dataclass(frozen=True)
class Pair:
    id: str
    prompt: str
    answer_a: str
    answer_b: str


def read_samples(path: str | os.PathLike, checkpoint: str | None = None) -> tuple[str, list[dict[str, Any]]]:
    """(checkpoint name, its rows in file order) from an eval `samples.jsonl`."""
    rows = read_jsonl(path, required=("prompt", "answer"))
    names = sorted({str(r.get("checkpoint", "")) for r in rows})
    if checkpoint is None:
        if len(names) > 1:
            raise RowError(f"{path}: answers of {len(names)} checkpoints ({', '.join(names)}); name the one to judge")
        checkpoint = names[0]
    chosen = [r for r in rows if str(r.get("checkpoint", "")) == checkpoint]
    if not chosen:
        raise RowError(f"{path}: no answers of checkpoint {checkpoint!r}; it has {', '.join(names)}")
    for number, row in enumerate(chosen, 1):
        if not isinstance(row["prompt"], str) or not isinstance(row["answer"], str):
            raise RowError(f"{path}: {checkpoint} row {number}: prompt and answer must be text")
    return checkpoint, chosen


def pair_samples(rows_a: list[dict], rows_b: list[dict]) -> tuple[list[Pair], list[str], list[str]]:
    """(pairs, prompts only A answered, prompts only B answered). Prompts are matched by text; a prompt asked twice
    is matched by its occurrence."""
    keyed_b: dict[tuple[str, int], dict] = {}
    seen: Counter = Counter()
    for row in rows_b:
        keyed_b[(row["prompt"], seen[row["prompt"]])] = row
        seen[row["prompt"]] += 1
    pairs, only_a = [], []
    seen = Counter()
    for row in rows_a:
        key = (row["prompt"], seen[row["prompt"]])
        seen[row["prompt"]] += 1
        other = keyed_b.pop(key, None)
        if other is None:
            only_a.append(row["prompt"])
        else:
            pairs.append(Pair(f"p{len(pairs):05d}", row["prompt"], row["answer"], other["answer"]))
    return pairs, only_a, [prompt for prompt, _ in keyed_b]


def load_template(path: str | os.PathLike) -> str:
    path = Path(path)
    if not path.is_file():
        raise RowError(f"{path}: no such judge prompt file")
    template = path.read_text(encoding="utf-8")
    missing = [p for p in PLACEHOLDERS if p not in template]
    if missing:
        raise RowError(f"{path}: the judge prompt lacks {', '.join(missing)}")
    return template


def fill_template(template: str, question: str, answer_1: str, answer_2: str) -> str:
    """The template with its placeholders replaced once each (answers full of Lua braces are left alone)."""
    values = dict(zip(PLACEHOLDERS, (question, answer_1, answer_2), strict=True))
    pattern = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS))
    return pattern.sub(lambda m: values[m.group(0)], template)


def parse_judgement(text: str) -> tuple[float, float, str]:
    """(score of assistant 1, score of assistant 2, reason) from a judge's answer: a first line with the two scores
    ("7 5", "7, 5", "7/8 5/8", "Assistant 1: 7 Assistant 2: 5"), then the reason. Raises Unparseable."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines:
        raise Unparseable("empty judgement")
    first = _OUT_OF_EIGHT.sub("", lines[0])
    named = dict(_NAMED_SCORE.findall(first))
    numbers = _NUMBER.findall(_ASSISTANT.sub("", first))
    if "1" in named and "2" in named:
        scores = [float(named["1"]), float(named["2"])]
    elif len(numbers) == 2:
        scores = [float(n) for n in numbers]
    else:
        named = dict(_NAMED_SCORE.findall(_OUT_OF_EIGHT.sub("", text)))  # "Assistant 1: 7" and "Assistant 2: 5" lines
        if "1" not in named or "2" not in named:
            raise Unparseable(f"the first line should hold the two scores, got {lines[0][:200]!r}")
        scores = [float(named["1"]), float(named["2"])]
    reason_lines = lines[1:]
    low, high = SCORE_RANGE
    if not all(low <= s <= high for s in scores):
        raise Unparseable(f"scores {scores} are outside {low:g}-{high:g}")
    return scores[0], scores[1], "\n".join(reason_lines).strip()[:_REASON_CHARS]


def _parse(text: str, unit: Unit) -> dict[str, Any]:
    first, second, reason = parse_judgement(text)
    return {"scores": [first, second], "reason": reason}


def judge_units(pairs: list[Pair], template: str, seed: int, api_style: str) -> list[Unit]:
    units = []
    for pair in pairs:
        for order in ORDERS:
            answers = (pair.answer_a, pair.answer_b) if order == "AB" else (pair.answer_b, pair.answer_a)
            text = fill_template(template, pair.prompt, *answers)
            unit_id = f"{pair.id}:{order}"
            unit = Unit(unit_id, unit_seed(seed, unit_id), carry={"pair": pair.id, "order": order})
            if api_style == "chat":
                unit.messages = [{"role": "user", "content": text}]
            else:
                unit.prompt = text
            units.append(unit)
    return units


def run_judge(
    pairs: list[Pair],
    out_dir: str | os.PathLike,
    server: ServerSettings,
    template_path: str | os.PathLike,
    *,
    names: tuple[str, str] = ("A", "B"),
    unpaired: tuple[list[str], list[str]] = ([], []),
    temperature: float = 0.0,
    max_tokens: int = 512,
    seed: int = 0,
    resume: bool = False,
    limit: int | None = None,
) -> dict[str, Any]:
    """Judge every pair in both orders; writes `judge.orders.jsonl` / `.rejected.jsonl` (one row per order, kept
    as they come, for `resume`), `judge.jsonl` (one row per pair), `judge.md` and `judge.summary.json`. `limit`
    judges only the first pairs (a trial run that `resume` with a larger limit extends)."""
    if not pairs:
        raise RowError("no prompt was answered by both checkpoints: nothing to judge")
    template = load_template(template_path)
    out_dir = Path(out_dir)
    settings = {
        "model": server.model,
        "api_style": server.api_style,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "seed": seed,
        "template_sha256": file_digest(template_path),
        "pairs": fingerprint({"pairs": [[p.prompt, p.answer_a, p.answer_b] for p in pairs]}),
    }
    run_print = fingerprint(settings)
    pairs = pairs[:limit] if limit is not None else pairs
    units = judge_units(pairs, template, seed, server.api_style)
    counts = RunCounts()
    started = time.monotonic()
    kept_path, rejected_path = out_dir / "judge.orders.jsonl", out_dir / "judge.orders.rejected.jsonl"
    with RunLog(kept_path, rejected_path, run_print, resume) as run_log:
        try:
            run_sync(
                run_units(
                    units,
                    server,
                    Sampling(temperature, max_tokens),
                    _parse,
                    run_log,
                    "judge",
                    counts=counts,
                    parse_truncated=True,
                )
            )
        finally:
            run_log.finish([u.id for u in units])
            pair_rows, summary = summarize(pairs, run_log.kept, run_log.rejected, names)
            summary.update(
                fingerprint=run_print,
                settings=settings,
                unpaired={"only_a": len(unpaired[0]), "only_b": len(unpaired[1])},
                this_run=counts.to_dict(),
                elapsed_s=round(time.monotonic() - started, 3),
            )
            write_jsonl(out_dir / "judge.jsonl", pair_rows)
            write_text(out_dir / "judge.md", report_markdown(summary, pair_rows, unpaired))
            write_json(out_dir / "judge.summary.json", summary)
    return summary


def _winner(first: float, second: float, order: str) -> str:
    """Who won one order, as "A", "B" or "tie", from the scores of assistant 1 and assistant 2."""
    if first == second:
        return "tie"
    first_won = first > second
    return ("A" if first_won else "B") if order == "AB" else ("B" if first_won else "A")


def summarize(
    pairs: list[Pair], kept: list[dict], rejected: list[dict], names: tuple[str, str] = ("A", "B")
) -> tuple[list[dict], dict]:
    """One row per pair (both orders, mean scores, verdict, disagreement) and the totals; every pair is exactly one
    of A wins, ties, B wins, unparseable, failed, or not judged yet."""
    by_unit = {r["id"]: ("ok", r) for r in kept}
    by_unit.update({r["id"]: (r["reason"], r) for r in rejected})
    rows, verdicts, positions = [], Counter(), Counter()
    for pair in pairs:
        orders = {}
        for order in ORDERS:
            status, row = by_unit.get(f"{pair.id}:{order}", ("not_judged", {}))
            entry: dict[str, Any] = {"status": status}
            if status == "ok":
                first, second = row["scores"]
                score_a, score_b = (first, second) if order == "AB" else (second, first)
                entry.update(scores=[first, second], score_a=score_a, score_b=score_b, reason=row["reason"])
                entry["winner"] = _winner(first, second, order)
                positions["first" if first > second else "second" if second > first else "tie"] += 1
            elif row:
                entry.update(detail=row.get("detail", ""), text=row.get("text"))
            orders[order] = entry
        statuses = {e["status"] for e in orders.values()}
        out: dict[str, Any] = {"pair": pair.id, "prompt": pair.prompt, "answer_a": pair.answer_a}
        out["answer_b"] = pair.answer_b
        if statuses == {"ok"}:
            score_a = statistics.fmean(e["score_a"] for e in orders.values())
            score_b = statistics.fmean(e["score_b"] for e in orders.values())
            verdict = "A" if score_a > score_b else "B" if score_b > score_a else "tie"
            out.update(score_a=score_a, score_b=score_b)
            out["disagreement"] = orders["AB"]["winner"] != orders["BA"]["winner"]
        elif "unparseable" in statuses:
            verdict = "unparseable"
        elif "not_judged" in statuses:
            verdict = "not_judged"
        else:
            verdict = "failed"
        out.update(verdict=verdict, orders=orders)
        verdicts[verdict] += 1
        rows.append(out)
    judged = [r for r in rows if "score_a" in r]
    summary = {
        "checkpoint_a": names[0],
        "checkpoint_b": names[1],
        "pairs": len(pairs),
        # pairs = a_wins + ties + b_wins + unparseable + failed + not_judged
        "a_wins": verdicts["A"],
        "ties": verdicts["tie"],
        "b_wins": verdicts["B"],
        "unparseable": verdicts["unparseable"],
        "failed": verdicts["failed"],
        "not_judged": verdicts["not_judged"],
        "judged": len(judged),
        "disagreements": sum(1 for r in judged if r["disagreement"]),
        "a_win_rate": (verdicts["A"] + verdicts["tie"] / 2) / len(judged) if judged else None,
        "mean_score_a": statistics.fmean(r["score_a"] for r in judged) if judged else None,
        "mean_score_b": statistics.fmean(r["score_b"] for r in judged) if judged else None,
        "position": {
            "first_higher": positions["first"],
            "second_higher": positions["second"],
            "equal": positions["tie"],
        },
        "complete": verdicts["not_judged"] == 0 and not any(r.get("retryable") for r in rejected),
    }
    return rows, summary


def report_markdown(summary: dict, rows: list[dict], unpaired: tuple[list[str], list[str]]) -> str:
    a, b = summary["checkpoint_a"], summary["checkpoint_b"]

    def rate(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1%}"

    def score(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}"

    lines = [
        f"# Pairwise judgement: {a} (A) vs {b} (B)",
        "",
        f"Judge: `{summary['settings']['model']}`, each pair judged in both orders (A first, then B first); scores"
        " 1-8, a pair's score is the mean over both orders.",
        "",
        "| outcome | pairs |",
        "| --- | ---: |",
        f"| A ({a}) wins | {summary['a_wins']} |",
        f"| tie | {summary['ties']} |",
        f"| B ({b}) wins | {summary['b_wins']} |",
        f"| unparseable (a judgement without two scores) | {summary['unparseable']} |",
        f"| failed (no answer from the judge) | {summary['failed']} |",
        f"| not judged yet | {summary['not_judged']} |",
        f"| **all pairs** | **{summary['pairs']}** |",
        "",
        f"A's win rate over the {summary['judged']} judged pairs (a tie counts half): {rate(summary['a_win_rate'])}."
        f" Mean score: A {score(summary['mean_score_a'])}, B {score(summary['mean_score_b'])}.",
        "",
        "## Position bias",
        "",
        f"Over every order the judge scored, the first answer scored higher {summary['position']['first_higher']}"
        f" times, the second {summary['position']['second_higher']} times, equal {summary['position']['equal']}"
        " times.",
        f"The two orders disagree on the winner in {summary['disagreements']} of {summary['judged']} judged pairs.",
    ]
    disagreements = [r for r in rows if r.get("disagreement")]
    if disagreements:
        lines += ["", "| pair | prompt | A first: A, B | B first: A, B |", "| --- | --- | --- | --- |"]
        for r in disagreements:
            ab, ba = r["orders"]["AB"], r["orders"]["BA"]
            lines.append(
                f"| {r['pair']} | {_cell(r['prompt'])} | {ab['score_a']:g}, {ab['score_b']:g} |"
                f" {ba['score_a']:g}, {ba['score_b']:g} |"
            )
    if unpaired[0] or unpaired[1]:
        lines += [
            "",
            "## Prompts without a pair",
            "",
            f"{len(unpaired[0])} prompts only A answered, {len(unpaired[1])} only B answered; they are not judged.",
        ]
    if not summary["complete"]:
        lines += ["", "**The run is not complete**: rerun the same command with `--continue`."]
    return "\n".join(lines) + "\n"


def _cell(text: str, limit: int = 80) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 3] + "..."
