"""benchmarks/gpu_check.py: the GPU check's table, end to end on a tiny model on the CPU (`--tiny`)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest
from conftest import REPO

SCRIPT = REPO / "benchmarks" / "gpu_check.py"


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("name", "tflops"),
    [
        ("NVIDIA H200", 989.4),
        ("NVIDIA H100 80GB HBM3", 989.4),
        ("NVIDIA H100 PCIe", 756.0),
        ("NVIDIA H100 NVL", 835.0),
        ("NVIDIA A100-SXM4-80GB", 312.0),
        ("Tesla T4", None),
    ],
)
def test_mfu_uses_the_dense_bf16_peak_of_the_gpu_named(name, tflops):
    peak = load_script().peak_bf16_flops(name)
    assert peak == (None if tflops is None else pytest.approx(tflops * 1e12))


@pytest.mark.slow
def test_tiny_check_trains_under_zero_2_and_3_and_generates(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--tiny", "-o", str(tmp_path / "check.json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = json.loads((tmp_path / "check.json").read_text())["rows"]
    train = [row for row in rows if row["kind"] == "train"]
    assert [(row["attention"], row["zero"]) for row in train] == [("sdpa", 2), ("sdpa", 3)]
    # The same conversations, packed the same way, whatever the ZeRO stage: the same tokens per timed step.
    assert train[0]["tokens"] == train[1]["tokens"] > 0
    assert all(row["rows"] == "packed rows kept apart" and row["seconds"] > 0 for row in train)
    (generation,) = [row for row in rows if row["kind"] == "eval"]
    assert generation["backend"] == "hf" and 0 < generation["tokens"] <= 6 * 8
    assert "| chat SFT, sdpa, ZeRO-3" in done.stdout and "| eval generation, hf" in done.stdout
