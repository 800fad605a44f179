"""eval/judge.py: pairwise judging of two checkpoints' samples.jsonl by a judge model, each pair in both orders.

A scripted OpenAI-compatible server (from test_selfinstruct) plays the judge, so every count is known: wins, ties,
losses, order disagreements, unparseable judgements, failed requests, position bias. The real server
(`transformers serve` with a tiny model) judges two tiny checkpoints in test_selfinstruct_serve.py.
"""

from __future__ import annotations

import importlib.util
import json
import re

import pytest
from conftest import REPO
from test_selfinstruct import ScriptedServer

from luacoder.files import RowError
from luacoder.selfinstruct.pairwise_judge import (
    Pair,
    fill_template,
    pair_samples,
    parse_judgement,
    read_samples,
    summarize,
)
from luacoder.selfinstruct.runner import Unparseable

JUDGE_SCRIPT = REPO / "eval" / "judge.py"


def load_judge_script():
    spec = importlib.util.spec_from_file_location("judge_script", JUDGE_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sample(checkpoint: str, index: int, prompt: str, answer: str) -> dict:
    """A row as eval.py writes it to samples.jsonl."""
    return {
        "checkpoint": checkpoint,
        "step": int(checkpoint.split("-")[1]),
        "index": index,
        "prompt": prompt,
        "expected_apis": [],
        "answer": answer,
        "new_tokens": 10,
        "grade": {},
    }


# What the judge says about each question, as (score of A, score of B), or a fixed text whatever the order.
VERDICTS = {
    "Q1": (7, 3),  # A wins in both orders
    "Q2": (2, 6),  # B wins in both orders
    "Q3": (5, 5),  # a tie
    "Q4": "8 2\nThe first answer is better.",  # position bias: the orders disagree, the means tie
    "Q5": None,  # A first: "6 2"; B first: no scores (unparseable)
    "Q6": "named",  # "Assistant 1: 6/8, Assistant 2: 4/8" with A's score 6
    "Q7": "down",  # the judge never answers (500): failed, asked again by --continue
}


def judge_script(key, attempt: int, query: str):
    question, a_first = key
    verdict = VERDICTS[question]
    if verdict == "down" and attempt < 3:
        return ("status", 500)
    if verdict == "down":
        verdict = (6, 4)  # answered on a later run
    if isinstance(verdict, str) and verdict != "named":
        return ("ok", verdict)
    if verdict is None:
        return ("ok", "6 2\nA is fine.") if a_first else ("ok", "Both answers look reasonable to me.")
    a, b = (6, 4) if verdict == "named" else verdict
    first, second = (a, b) if a_first else (b, a)
    if verdict == "named":
        return ("ok", f"Assistant 1: {first}/8, Assistant 2: {second}/8\nBecause.")
    return ("ok", f"{first} {second}\nScores for the two answers.")


def judge_key(query: str):
    """(question, whether A's answer comes first) of a judge request."""
    question = re.search(r"Q\d", query).group(0)
    return question, query.index("answer-A") < query.index("answer-B")


@pytest.fixture
def samples_file(tmp_path):
    rows = [sample("checkpoint-1", i, f"Question Q{i + 1}?", f"answer-A to Q{i + 1}") for i in range(8)]
    rows += [sample("checkpoint-2", i, f"Question Q{i + 1}?", f"answer-B to Q{i + 1}") for i in range(7)]
    path = tmp_path / "eval" / "samples.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_judge_counts_wins_ties_losses_disagreements_and_failures(samples_file, tmp_path, capsys):
    judge = load_judge_script()
    server = ScriptedServer(judge_script, judge_key)
    out = tmp_path / "judge"
    argv = [
        f"--samples_a={samples_file}",
        "--checkpoint_a=checkpoint-1",
        f"--samples_b={samples_file}",
        "--checkpoint_b=checkpoint-2",
        "--judge_model=judge",
        f"--output_dir={out}",
        f"--base_url={server.url}",
        "--max_retries=2",
        "--backoff=0.01",
        "--timeout=5",
    ]
    try:
        assert judge.main(argv) == 1  # Q7 got no answer: incomplete
        summary = json.loads((out / "judge.summary.json").read_text())
        assert {k: summary[k] for k in ("pairs", "a_wins", "ties", "b_wins", "unparseable", "failed")} == {
            "pairs": 7,
            "a_wins": 2,
            "ties": 2,
            "b_wins": 1,
            "unparseable": 1,
            "failed": 1,
        }
        assert summary["judged"] == 5 and summary["disagreements"] == 1
        assert summary["position"] == {"first_higher": 6, "second_higher": 3, "equal": 2}
        assert summary["unpaired"] == {"only_a": 1, "only_b": 0}
        assert summary["a_win_rate"] == pytest.approx((2 + 1) / 5)
        assert summary["this_run"]["retries"] == 4 and summary["complete"] is False
        assert server.hits[("Q7", True)] == server.hits[("Q7", False)] == 3

        rows = [json.loads(line) for line in (out / "judge.jsonl").read_text().splitlines()]
        assert len(rows) == 7
        q4 = next(r for r in rows if "Q4" in r["prompt"])
        assert q4["verdict"] == "tie" and q4["disagreement"] is True
        assert q4["orders"]["AB"]["winner"] == "A" and q4["orders"]["BA"]["winner"] == "B"
        q6 = next(r for r in rows if "Q6" in r["prompt"])
        assert q6["verdict"] == "A" and q6["score_a"] == 6 and q6["score_b"] == 4
        q5 = next(r for r in rows if "Q5" in r["prompt"])
        assert q5["verdict"] == "unparseable" and q5["orders"]["BA"]["status"] == "unparseable"
        assert q5["orders"]["BA"]["text"] == "Both answers look reasonable to me."

        report = (out / "judge.md").read_text()
        assert "| A (checkpoint-1) wins | 2 |" in report and "| B (checkpoint-2) wins | 1 |" in report
        assert "disagree on the winner in 1 of 5 judged pairs" in report and "Question Q4?" in report
        assert "not complete" in report

        # --continue asks only for the two orders of Q7.
        asked = len(server.log)
        assert judge.main([*argv, "--continue"]) == 0
        assert sorted(server.log[asked:]) == [("Q7", False), ("Q7", True)]
        summary = json.loads((out / "judge.summary.json").read_text())
        assert summary["a_wins"] == 3 and summary["failed"] == 0 and summary["complete"] is True
        assert summary["a_wins"] + summary["ties"] + summary["b_wins"] + summary["unparseable"] == 7
    finally:
        server.close()
    out_text = capsys.readouterr().out
    assert "3 A wins, 2 ties, 1 B wins, 1 unparseable, 0 failed" in out_text


def test_judge_input_errors_are_clear(samples_file, tmp_path, capsys):
    judge = load_judge_script()
    base = ["--judge_model=judge", f"--output_dir={tmp_path / 'o'}", "--base_url=http://127.0.0.1:9/v1"]
    assert judge.main([f"--samples_a={samples_file}", f"--samples_b={samples_file}", *base]) == 2
    assert "answers of 2 checkpoints (checkpoint-1, checkpoint-2); name the one to judge" in capsys.readouterr().err
    argv = [f"--samples_a={samples_file}", "--checkpoint_a=checkpoint-9", f"--samples_b={samples_file}", *base]
    assert judge.main(argv) == 2
    assert "no answers of checkpoint 'checkpoint-9'" in capsys.readouterr().err
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps(sample("checkpoint-3", 0, "Something else entirely", "x")) + "\n")
    argv = [f"--samples_a={samples_file}", "--checkpoint_a=checkpoint-1", f"--samples_b={other}", *base]
    assert judge.main(argv) == 2
    assert "no prompt was answered by both checkpoints" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7 5\nA is more complete.", (7, 5, "A is more complete.")),
        ("  7, 5  \n\nReason here.", (7, 5, "Reason here.")),
        ("7/8 5/8\nok", (7, 5, "ok")),
        ("Scores: 6.5 3", (6.5, 3, "")),
        ("Assistant 1: 4\nAssistant 2: 8\nB wins.", (4, 8, "Assistant 2: 8\nB wins.")),
        ("Assistant 1 score: 2, Assistant 2 score: 3", (2, 3, "")),
    ],
)
def test_parse_judgement_reads_the_usual_shapes(text, expected):
    assert parse_judgement(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty judgement"),
        ("Both are good.", "the first line should hold the two scores"),
        ("9 3\nwhy", "outside 1-8"),
        ("0 3", "outside 1-8"),
        ("7 5 3", "the first line should hold the two scores"),
    ],
)
def test_parse_judgement_rejects_what_it_cannot_read(text, message):
    with pytest.raises(Unparseable, match=message):
        parse_judgement(text)


def test_pairing_matches_prompts_by_text_and_occurrence():
    a = [{"prompt": p, "answer": f"a{i}"} for i, p in enumerate(["x", "y", "x", "only-a"])]
    b = [{"prompt": p, "answer": f"b{i}"} for i, p in enumerate(["y", "x", "x", "only-b"])]
    pairs, only_a, only_b = pair_samples(a, b)
    assert [(p.prompt, p.answer_a, p.answer_b) for p in pairs] == [
        ("x", "a0", "b1"),
        ("y", "a1", "b0"),
        ("x", "a2", "b2"),
    ]
    assert only_a == ["only-a"] and only_b == ["only-b"]


def test_template_placeholders_are_filled_once_and_lua_braces_are_left_alone():
    template = "Q: {question}\n1: {answer_1}\n2: {answer_2}\n"
    text = fill_template(template, "make {a} table", "local t = {answer_2}", "{}")
    assert text == "Q: make {a} table\n1: local t = {answer_2}\n2: {}\n"


def test_summarize_accounts_for_every_pair():
    pairs = [Pair(f"p{i}", f"q{i}", "a", "b") for i in range(3)]
    kept = [
        {"id": "p0:AB", "scores": [6, 6], "reason": ""},
        {"id": "p0:BA", "scores": [6, 6], "reason": ""},
        {"id": "p1:AB", "scores": [7, 1], "reason": ""},
    ]
    rejected = [{"id": "p1:BA", "reason": "timeout", "retryable": True}]
    rows, summary = summarize(pairs, kept, rejected)
    assert [r["verdict"] for r in rows] == ["tie", "failed", "not_judged"]
    assert summary["complete"] is False and summary["judged"] == 1


def test_read_samples_takes_the_only_checkpoint_without_a_name(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps(sample("checkpoint-5", 0, "p", "a")) + "\n")
    assert read_samples(path)[0] == "checkpoint-5"
    path.write_text(json.dumps({"prompt": "p"}) + "\n")
    with pytest.raises(RowError, match="missing field"):
        read_samples(path)


def test_a_trial_run_with_limit_is_extended_by_continue(samples_file, tmp_path):
    judge = load_judge_script()
    server = ScriptedServer(lambda key, attempt, query: ("ok", "5 5\nAlike."), judge_key)
    out = tmp_path / "judge"
    argv = [
        f"--samples_a={samples_file}",
        "--checkpoint_a=checkpoint-1",
        f"--samples_b={samples_file}",
        "--checkpoint_b=checkpoint-2",
        "--judge_model=judge",
        f"--output_dir={out}",
        f"--base_url={server.url}",
    ]
    try:
        assert judge.main([*argv, "--limit=3"]) == 0
        assert json.loads((out / "judge.summary.json").read_text())["ties"] == 3
        assert len(server.log) == 6
        assert judge.main([*argv, "--continue"]) == 0
    finally:
        server.close()
    summary = json.loads((out / "judge.summary.json").read_text())
    assert summary["ties"] == summary["pairs"] == 7 and summary["this_run"]["skipped"] == 6
    assert len(server.log) == 14 and len(set(server.log)) == 14  # every order of every pair asked once


def test_judge_script_runs_from_the_eval_folder():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "judge.py", "--help"], cwd=JUDGE_SCRIPT.parent, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "--samples_a" in result.stdout and "--checkpoint_b" in result.stdout
