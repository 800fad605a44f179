"""One run per output folder (a lock naming its holder, stale locks taken over) and workers that end with their
launcher."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from luacoder.locks import LOCK_FILE, FolderLocked, hold_folder

HOLDER = """
import sys, time
from luacoder.locks import hold_folder
hold_folder(sys.argv[1], "training")
print("held", flush=True)
time.sleep(120)
"""


def _holder(folder: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_run_on_a_held_folder_is_refused_with_the_holders_host_and_pid(tmp_path):
    holder = _holder(tmp_path / "out")
    try:
        with pytest.raises(FolderLocked) as refused:
            hold_folder(tmp_path / "out", "training")
        message = str(refused.value)
        assert f"pid {holder.pid} on {socket.gethostname()}" in message and "another training run" in message
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_left_by_a_dead_run_is_taken_over_with_a_warning(tmp_path, caplog):
    holder = _holder(tmp_path / "out")
    holder.send_signal(signal.SIGKILL)  # dies holding it: the lock file stays, naming it
    holder.wait()
    assert (tmp_path / "out" / LOCK_FILE).is_file()
    with caplog.at_level(logging.WARNING, logger="luacoder"):
        lock = hold_folder(tmp_path / "out", "training")
    assert f"pid {holder.pid}" in caplog.text and "no longer runs" in caplog.text
    assert f'"pid": {os.getpid()}' in (tmp_path / "out" / LOCK_FILE).read_text()
    assert hold_folder(tmp_path / "out", "training") is lock  # this process already holds it
    lock.release()


# A launcher that starts its worker in a session of its own, as torchrun does, then waits.
LAUNCHER = """
import os, subprocess, sys
worker = subprocess.Popen(
    [sys.executable, "-c", "import sys, time; from luacoder.locks import exit_with_launcher; "
     "assert exit_with_launcher(poll_s=0.1); print('watching', flush=True); time.sleep(120)"],
    env={**os.environ, "LOCAL_RANK": "0"}, start_new_session=True, stdout=sys.stdout,
)
print(worker.pid, flush=True)
worker.wait()
"""


def test_a_worker_ends_when_its_launcher_is_killed(tmp_path):
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER], stdout=subprocess.PIPE, text=True)
    worker = int(launcher.stdout.readline())
    assert launcher.stdout.readline().strip() == "watching"
    launcher.send_signal(signal.SIGKILL)  # the launcher alone, as a user's kill or a lost terminal does
    launcher.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{worker}").exists():
        if Path(f"/proc/{worker}/stat").read_text().split()[2] == "Z":
            break
        time.sleep(0.1)
    gone = not Path(f"/proc/{worker}").exists() or Path(f"/proc/{worker}/stat").read_text().split()[2] == "Z"
    if not gone:
        os.kill(worker, signal.SIGKILL)
    assert gone, "the worker kept running after its launcher died"


def test_a_training_stage_on_a_held_output_dir_stops_on_rank_0(tmp_path):
    from types import SimpleNamespace

    from luacoder.train.run import guard_run

    holder = _holder(tmp_path / "out")
    try:
        with pytest.raises(FolderLocked, match=f"in use by another training run: pid {holder.pid}"):
            guard_run(SimpleNamespace(process_index=0, output_dir=str(tmp_path / "out")))
        guard_run(SimpleNamespace(process_index=1, output_dir=str(tmp_path / "out")))  # rank 0 alone holds it
    finally:
        holder.kill()
        holder.wait()


def test_a_training_stage_removes_a_build_lock_a_killed_build_left_and_keeps_a_live_one(tmp_path, monkeypatch, caplog):
    import dataclasses

    from luacoder.config import parse_config
    from luacoder.locks import STALE_BUILD_LOCK_S

    root = tmp_path / "torch_extensions"
    stale, live = root / "py311_cpu" / "deepspeed_shm_comm" / "lock", root / "py311_cpu" / "other_op" / "lock"
    for lock in (stale, live):
        lock.parent.mkdir(parents=True)
        lock.touch()
    old = time.time() - STALE_BUILD_LOCK_S - 5
    os.utime(stale, (old, old))
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(root))

    @dataclasses.dataclass
    class Stage:
        deepspeed: str = ""

    config = tmp_path / "stage.yaml"
    config.write_text("deepspeed: zero3.json\n")
    with caplog.at_level(logging.WARNING, logger="luacoder"):
        (args,) = parse_config([Stage], [str(config)])
    assert args.deepspeed == "zero3.json"
    assert not stale.exists() and live.exists()  # a build that may still run keeps its lock
    assert str(stale) in caplog.text
