"""Helpers for tests that launch a training stage with torchrun on the CPU."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from conftest import REPO

CPU_ZERO3 = "--deepspeed=../ds_configs/zero3_cpu.json"
# Under pytest-xdist (./set-up.sh test runs two workers), one multi-process launch at a time: two of them on the two
# cores would each wait on a rank the other's processes keep off a core (DeepSpeed's shared-memory collectives spin).
LAUNCH_LOCK = Path(tempfile.gettempdir()) / f"luacoder-tests-{os.getuid()}-torchrun.lock"


@contextlib.contextmanager
def one_launch_at_a_time(nproc: int):
    if nproc < 2 or "PYTEST_XDIST_WORKER" not in os.environ:
        yield
        return
    with open(LAUNCH_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if the test fails
        yield


def torchrun(stage: str, *args: str, nproc: int = 2, timeout: int = 300, check: bool = True, popen: bool = False):
    """Run `torchrun --nproc_per_node=N train.py ARGS` from the stage folder, as a user would."""
    command = [
        str(Path(sys.executable).parent / "torchrun"),
        f"--nproc_per_node={nproc}",
        "--standalone",
        *args,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    cwd = REPO / "deepspeed" / stage
    if popen:
        return subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    with one_launch_at_a_time(nproc):
        result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(
            f"torchrun {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-4000:]}"
            f"\n{result.stderr[-6000:]}"
        )
    return result


def python_stage(stage: str, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run `python script.py ARGS` from the stage folder: one process, no DeepSpeed (as a user may on a laptop)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    cwd = REPO / "deepspeed" / stage
    result = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(
            f"python {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
        )
    return result


def losses(output_dir: Path) -> list[float]:
    """Training losses logged in the final trainer_state.json of a run."""
    checkpoints = sorted(output_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    state = json.loads((checkpoints[-1] / "trainer_state.json").read_text())
    return [entry["loss"] for entry in state["log_history"] if "loss" in entry]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path
