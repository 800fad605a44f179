"""Resuming: a 2-process ZeRO-3 run killed after a checkpoint, rerun with the same command, ends with exactly the
weights of a run that was never interrupted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import BUNDLED_DOCS
from safetensors.torch import load_file
from stage_helpers import CPU_ZERO3, losses, torchrun, write_jsonl

from luacoder.apidocs.markdown import read_markdown_docs
from luacoder.checkpoints import META_FILE, complete_checkpoints, resume_checkpoint


def _checkpoint(output_dir, step: int, complete: bool = True):
    folder = output_dir / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    (folder / "trainer_state.json").write_text("{}")
    if complete:
        (folder / META_FILE).write_text("{}")
    return folder


def test_the_last_complete_checkpoint_is_resumed_unless_starting_over(tmp_path):
    assert resume_checkpoint(tmp_path / "none-yet", start_over=False) is None
    _checkpoint(tmp_path, 9)
    ten = _checkpoint(tmp_path, 10)  # by step, not by name: checkpoint-10 comes after checkpoint-9
    _checkpoint(tmp_path, 12, complete=False)  # killed while other ranks were still writing
    (tmp_path / "checkpoint-14").mkdir()  # killed before anything was written
    assert [p.name for p in complete_checkpoints(tmp_path)] == ["checkpoint-9", "checkpoint-10"]
    assert resume_checkpoint(tmp_path, start_over=False) == str(ten)
    assert resume_checkpoint(tmp_path, start_over=True) is None


STEPS = 6


def _command(output_dir, data):
    return [
        "train.py",
        "config_cpu.yaml",
        CPU_ZERO3,
        f"--train_file={data}",
        "--test_file=none",
        f"--output_dir={output_dir}",
        "--assistant_only_loss=false",
        "--max_length=64",
        "--per_device_train_batch_size=2",
        f"--max_steps={STEPS}",
        "--save_strategy=steps",
        "--save_steps=2",
        "--eval_strategy=no",
        "--logging_steps=1",
        "--report_to=none",
    ]


@pytest.mark.slow
@pytest.mark.multiprocess
def test_a_killed_run_resumes_where_it_stopped_and_ends_with_the_uninterrupted_weights(tmp_path, tiny_model_dir):
    examples = [code for entry in read_markdown_docs([BUNDLED_DOCS]) for code in entry.examples][:60]
    data = write_jsonl(tmp_path / "code.jsonl", [{"content": code} for code in examples])
    model = f"--model_name_or_path={tiny_model_dir('starcoder2')}"
    reference, crashed = tmp_path / "reference", tmp_path / "crashed"
    torchrun("main", *_command(reference, data), model)

    # Every rank kills itself right after checkpoint-2 is complete (a kill from outside would race checkpoint-4).
    killer = str(Path(__file__).with_name("kill_after_checkpoint.py"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LUACODER_KILL_AFTER_CHECKPOINT", "2")
        run = torchrun("main", killer, *_command(crashed, data), model, check=False)
    assert run.returncode != 0, run.stdout[-3000:]
    assert [p.name for p in complete_checkpoints(crashed)] == ["checkpoint-2"], run.stdout[-3000:]
    assert not (crashed / "checkpoint-4").exists() and not (crashed / "model.safetensors").exists()
    resumed_from = complete_checkpoints(crashed)[-1]
    step = 2
    saved_at = {p: p.stat().st_mtime_ns for p in resumed_from.rglob("*") if p.is_file()}

    rerun = torchrun("main", *_command(crashed, data), model)
    assert f"resuming from {resumed_from}" in rerun.stdout
    # Only the remaining steps ran (one loss line each), and the checkpoint it resumed from was left as it was.
    assert sum("'loss'" in line for line in rerun.stdout.splitlines()) == STEPS - step
    assert {p: p.stat().st_mtime_ns for p in resumed_from.rglob("*") if p.is_file()} == saved_at

    assert losses(crashed) == losses(reference)
    expected, got = load_file(reference / "model.safetensors"), load_file(crashed / "model.safetensors")
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), name
    state = json.loads((crashed / f"checkpoint-{STEPS}" / "trainer_state.json").read_text())
    assert state["global_step"] == STEPS
