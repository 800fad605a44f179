"""How a training stage ends: once its work is saved, no communicator thread is left to meet Python's teardown."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.multiprocess]

# Two gloo ranks that hold a process group beyond torch's own references, as DeepSpeed does (ZeRO-3 parameters keep
# their ds_process_group), then end the way the stages end. A finaliser reports which gloo threads still ran when
# the interpreter was torn down; an exit handler shows the exit handlers still run.
STAGE = """
import atexit, os, sys
import torch.distributed as dist
from luacoder.train import run

dist.init_process_group("gloo")
held = dist.new_group()
dist.all_reduce(__import__("torch").ones(4), group=held)
sys.held_groups = [held]  # freed late in the teardown, as DeepSpeed's references are
report = os.path.join(sys.argv[2], "rank" + os.environ["RANK"])


class TeardownWitness:
    # What it uses is bound now: the teardown may already have emptied the modules and builtins.
    def __del__(self, open=open, listdir=os.listdir, report=report, OSError=OSError):
        names = []
        for task in listdir("/proc/self/task"):
            try:
                names.append(open(f"/proc/self/task/{task}/comm").read().strip())
            except OSError:
                pass
        with open(report + ".teardown", "w") as handle:
            handle.write(" ".join(n for n in names if "gloo" in n))


witness = TeardownWitness()
atexit.register(lambda: open(report + ".atexit", "w").write("ran"))
getattr(run, sys.argv[1])()
print("after the last call")
"""


def _run_stage(tmp_path: Path, ending: str) -> subprocess.CompletedProcess:
    script = tmp_path / "stage.py"
    script.write_text(STAGE)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [str(Path(sys.executable).parent / "torchrun"), "--nproc_per_node=2", "--standalone"]
    return subprocess.run(
        [*command, str(script), ending, str(tmp_path)], env=env, capture_output=True, text=True, timeout=180
    )


def test_a_finished_stage_ends_before_teardown_with_its_exit_handlers_run(tmp_path):
    result = _run_stage(tmp_path, "finish_stage")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "after the last call" not in result.stdout
    for rank in (0, 1):
        assert (tmp_path / f"rank{rank}.atexit").read_text() == "ran"
        # No teardown ran at all, so none ran beside communicator threads.
        assert not (tmp_path / f"rank{rank}.teardown").exists()


def test_closing_the_process_group_alone_leaves_communicator_threads_to_the_teardown(tmp_path):
    # Why finish_stage exists: after destroy_process_group the held group's gloo threads still run at teardown.
    result = _run_stage(tmp_path, "close_distributed")
    assert "after the last call" in result.stdout
    threads = (tmp_path / "rank1.teardown").read_text().split()
    assert any(name.startswith("pt_gloo") for name in threads), threads
