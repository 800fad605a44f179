"""Self-instruct and the judge against a real OpenAI-compatible server: `transformers serve` on the CPU, serving a
tiny local model, started once for this module on a free loopback port.

A tiny random model writes garbage that rarely ends, so the served model is made to write short answers: its last
layer norm outputs a constant vector and its output layer gives a handful of tokens (" string", " table", ",",
" value", " 5", newline) and EOS the same logit, so every sampled answer is a few of those words and then stops.
The tests assert on the files and counts, not on the model's wit. With one request in flight, `transformers serve`
seeds each request just before generating it, so these runs are reproducible.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch
from conftest import BUNDLED_DOCS, REPO

from luacoder.cli import main
from luacoder.selfinstruct.client import ServerSettings
from luacoder.selfinstruct.response_filter import run_filter
from luacoder.selfinstruct.run_log import read_log
from luacoder.selfinstruct.stages import GenerationConfig, run_stage, stage_paths
from luacoder.selfinstruct.teachers import ServerTeacher

pytestmark = pytest.mark.slow
SHORT_ANSWER_TOKENS = [" string", " table", ",", " value", " 5", "\n"]
STARTUP_TIMEOUT = 240


def save_short_answer_model(tokenizer, folder: Path) -> None:
    from luacoder.train.tiny_model import save_tiny_model

    model = save_tiny_model("starcoder2", tokenizer, folder, seed=0, tie_word_embeddings=False)
    token_ids = [tokenizer.encode(t, add_special_tokens=False)[0] for t in SHORT_ANSWER_TOKENS]
    with torch.no_grad():
        model.model.norm.weight.zero_()
        model.model.norm.bias.zero_()
        model.model.norm.bias[0] = 1.0
        model.lm_head.weight.zero_()
        for token_id in [*token_ids, tokenizer.eos_token_id]:
            model.lm_head.weight[token_id, 0] = 8.0
    # `transformers serve` samples only when the model's generation config says so; a request's temperature alone
    # does not switch sampling on.
    model.generation_config.do_sample = True
    model.save_pretrained(folder)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served(tokenizer, tmp_path_factory):
    """(base URL, model name) of `transformers serve` serving the short-answer model."""
    folder = tmp_path_factory.mktemp("short-answer-model")
    save_short_answer_model(tokenizer, folder)
    port = free_port()
    log_path = folder.parent / "transformers-serve.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    command = [str(Path(sys.executable).parent / "transformers"), "serve", str(folder)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"transformers serve exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"transformers serve did not start in {STARTUP_TIMEOUT} s:\n{log_path.read_text()[-3000:]}"
                )
            time.sleep(0.5)
        yield f"{url}/v1", str(folder)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def server_settings(served, **overrides) -> ServerTeacher:
    url, model = served
    values = dict(model=model, base_url=url, timeout=60, max_retries=1, backoff=0.1, concurrency=1)
    values.update(overrides)
    return ServerTeacher(ServerSettings(**values))


def adds_up(summary: dict) -> bool:
    return summary["units"] == summary["kept"] + sum(summary["rejected"].values()) and summary["complete"]


def test_every_mode_end_to_end_against_transformers_serve(served, tmp_path):
    from luacoder.apidocs.markdown import read_markdown_docs

    api = read_markdown_docs([BUNDLED_DOCS], name="lua54")
    out = tmp_path / "out"
    config = GenerationConfig(num_fewshots=1, samples=2, max_tokens=48, limit=3)
    concepts = run_stage("S->C", out, server_settings(served), config, api=api)
    assert concepts["units"] == 6 and adds_up(concepts) and concepts["kept"] > 0
    rows = read_log(stage_paths(out, "S->C")[0])
    first_entries = [e.name for e in api.entries if e.examples][:3]
    assert {r["id"].rsplit("/", 1)[0] for r in rows} <= {f"{name}#1" for name in first_entries}
    assert all(r["concepts"] and r["fingerprint"] == concepts["fingerprint"] for r in rows)

    instructions = run_stage("C->I", out, server_settings(served), GenerationConfig(num_fewshots=1, max_tokens=48))
    assert instructions["units"] == concepts["kept"] and adds_up(instructions) and instructions["kept"] > 0
    # I->R through the chat API: the server formats the turns with the model's chat template.
    responses = run_stage(
        "I->R", out, server_settings(served, api_style="chat"), GenerationConfig(num_fewshots=1, max_tokens=48)
    )
    assert responses["units"] == instructions["kept"] and adds_up(responses)
    kept_responses = read_log(stage_paths(out, "I->R")[0])
    assert all(r["instruction"] and r["concepts"] and r["snippet"] for r in kept_responses)

    if responses["kept"]:
        filtered = run_filter(out)
        assert filtered["input"] == responses["kept"]
        assert filtered["kept"] + sum(filtered["rejected"].values()) == filtered["input"]
        assert len((out / "chat.jsonl").read_text().splitlines()) == filtered["kept"]


def test_a_killed_run_against_transformers_serve_continues_where_it_stopped(served, tmp_path, tokenizer, capsys):
    from luacoder.apidocs.markdown import read_markdown_docs
    from luacoder.apidocs.schema import save_api

    api_path = tmp_path / "api.json"
    save_api(read_markdown_docs([BUNDLED_DOCS], name="lua54"), api_path)
    url, model = served
    out = tmp_path / "out"
    argv = ["self-instruct", "--mode", "S->C", "--api_path", str(api_path), "-o", str(out), "--teacher_model", model]
    argv += ["--base_url", url, "--num_fewshots", "1", "--max_new_tokens", "48", "--limit", "16", "--concurrency", "1"]
    kept_path, rejected_path, summary_path = stage_paths(out, "S->C")

    def rows_written() -> int:
        return sum(p.read_text().count("\n") for p in (kept_path, rejected_path) if p.exists())

    process = subprocess.Popen([sys.executable, "-m", "luacoder.cli", *argv], cwd=REPO)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and rows_written() < 3 and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = {r["id"] for path in (kept_path, rejected_path) for r in read_log(path)}
    assert 3 <= len(before) < 16, "the kill should land in the middle of the run"

    rc = main([*argv, "--continue"])
    assert rc == 0, capsys.readouterr().err
    ids = [r["id"] for path in (kept_path, rejected_path) for r in read_log(path)]
    assert len(ids) == len(set(ids)) == 16  # none lost, none twice
    summary = json.loads(summary_path.read_text())
    assert summary["complete"] and summary["this_run"]["skipped"] == len(before)
    assert summary["kept"] + sum(summary["rejected"].values()) == 16


def test_judge_two_tiny_checkpoints_with_transformers_serve(served, tiny_model_dir, tmp_path):
    from luacoder.evaluation.engine import Decoding, Engine

    prompts = ["How do I reverse a table?", "Format a number with two decimals.", "Read a file line by line."]
    samples = {}
    for family in ("starcoder2", "gpt_bigcode"):
        engine = Engine.load(tiny_model_dir(family), device="cpu")
        answers = [c.text for c in engine.answer(prompts, Decoding(max_new_tokens=8))]
        rows = [
            {"checkpoint": f"{family}-0", "step": 0, "index": i, "prompt": p, "answer": a, "grade": {}}
            for i, (p, a) in enumerate(zip(prompts, answers, strict=True))
        ]
        samples[family] = tmp_path / family / "samples.jsonl"
        samples[family].parent.mkdir()
        samples[family].write_text("".join(json.dumps(r) + "\n" for r in rows))

    spec = importlib.util.spec_from_file_location("judge_script", REPO / "eval" / "judge.py")
    judge = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(judge)
    url, model = served
    out = tmp_path / "judge"
    rc = judge.main(
        [
            f"--samples_a={samples['starcoder2']}",
            f"--samples_b={samples['gpt_bigcode']}",
            f"--judge_model={model}",
            f"--base_url={url}",
            f"--output_dir={out}",
            "--max_new_tokens=24",
            "--temperature=1.0",
            "--concurrency=1",
        ]
    )
    assert rc == 0
    summary = json.loads((out / "judge.summary.json").read_text())
    outcomes = sum(summary[k] for k in ("a_wins", "ties", "b_wins", "unparseable", "failed", "not_judged"))
    assert summary["pairs"] == outcomes == 3 and summary["failed"] == 0 and summary["complete"]
    orders = read_log(out / "judge.orders.jsonl") + read_log(out / "judge.orders.rejected.jsonl")
    assert sorted(r["id"] for r in orders) == sorted(f"p{i:05d}:{o}" for i in range(3) for o in ("AB", "BA"))
    assert len((out / "judge.jsonl").read_text().splitlines()) == 3
    assert "starcoder2-0 (A) vs gpt_bigcode-0 (B)" in (out / "judge.md").read_text()
