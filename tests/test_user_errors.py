"""A user's mistake at any entry point: one clear message on stderr, exit status 2, no traceback."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from luacoder.errors import USAGE_ERROR

PYTHON = sys.executable
LUACODER = str(Path(sys.executable).parent / "luacoder")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}


def start(command: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [str(c) for c in command], cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=600)
    return proc.returncode, out, err


def assert_one_message(result: tuple[int, str, str], prefix: str, *parts: str) -> None:
    code, _, err = result
    assert "Traceback" not in err, err[-3000:]
    assert code == USAGE_ERROR, err[-3000:]
    # The message is the last thing printed (libraries may log warnings while importing).
    message = err[err.rindex(f"{prefix}: error: ") :]
    for part in parts:
        assert part in message, message


def test_luacoder_commands_and_argparse_scripts(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("output_dir: out\nsed: 1\n")
    samples = tmp_path / "none.jsonl"
    runs = {
        "build": start([LUACODER, "build-chat", "--config", config], tmp_path),
        "lua": start([LUACODER, "lua", "run", tmp_path / "missing.lua"], tmp_path),
        "judge": start(
            [PYTHON, REPO / "eval" / "judge.py", f"--samples_a={samples}", f"--samples_b={samples}", "--judge_model=m"]
            + [f"--output_dir={tmp_path / 'judge'}"],
            tmp_path,
        ),
    }
    results = {name: finish(proc) for name, proc in runs.items()}
    assert_one_message(results["build"], "luacoder build-chat", f"{config}: unknown key 'sed'; did you mean 'seed'?")
    assert_one_message(results["lua"], "luacoder lua", "missing.lua: no such file")
    assert_one_message(results["judge"], "judge.py", "none.jsonl")


@pytest.mark.slow
def test_a_stage_script_eval_and_generate(tmp_path):
    """One launch of each kind of script that imports torch, at once; each must fail on its input before any model
    or data loads."""
    broken = tmp_path / "broken.yaml"
    broken.write_text("model_name_or_path: x\ntrain_file: [unclosed\n")
    chat = REPO / "deepspeed" / "chat"
    runs = {
        "train": start([PYTHON, "train.py", broken], chat),
        "eval": start([PYTHON, "eval.py", "config_cpu.yaml", "--batch_size=many"], REPO / "eval"),
        "generate": start([PYTHON, "generate.py", f"--model_id={tmp_path / 'no-model'}", "--prompt=x"], chat),
    }
    results = {name: finish(proc) for name, proc in runs.items()}
    assert_one_message(results["train"], "train.py", f"{broken}: not valid YAML")
    assert_one_message(results["eval"], "eval.py", "'batch_size' (from the command line): expected a whole number")
    assert_one_message(results["generate"], "generate.py", "no-model")


def test_train_py_help_lists_every_key_with_its_type_default_range_and_help(monkeypatch, capsys):
    monkeypatch.chdir(REPO / "deepspeed" / "chat")
    monkeypatch.setattr(sys, "argv", ["train.py", "--help"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_path("train.py", run_name="__main__")
    out = capsys.readouterr().out
    assert exited.value.code == 0
    assert out.startswith("Chat fine-tuning on")  # the script's docstring first
    assert "usage: train.py config.yaml [--key=value ...]" in out
    # The script's own keys, the library's and TRL's.
    assert "  train_file: str = (required)\n      JSON lines of {'messages': [...]}" in out
    assert "  gradient_accumulation_steps: int = 1; at least 1\n      Number of update steps" in out
    assert "  learning_rate: float = " in out and "; above 0\n" in out
    assert "  chat_template: str | None = None" in out


@pytest.mark.slow
def test_the_demo_reports_a_notebook_that_stops_on_a_users_mistake(tmp_path):
    # The data notebooks run in a kernel; what stops one there is reported as one message, not the cell's traceback.
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.md").write_text("Nothing documented here.\n")
    demo = [PYTHON, REPO / "runs" / "demo.py", "--docs", tmp_path / "docs", "-o", tmp_path / "demo"]
    result = finish(start(demo, REPO))
    reason = "no line that reads as a Lua call signature"
    assert_one_message(result, "demo.py", "data/json.ipynb stopped: ApiError:", reason)
