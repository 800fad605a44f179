"""luacoder.files: the outputs of one build appear together or not at all, whenever the build is killed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest

from luacoder.files import atomic_outputs, finish_interrupted_swaps, write_text

NAMES = ["chat", "eval/prompts.csv"]
# A build that writes a folder and a file beside another folder, killed (SIGKILL) at its n-th os.replace: every
# step of the staging (each file's rename into place), the journal's and each move of the swap.
BUILD = textwrap.dedent(
    """
    import os, signal, sys
    from luacoder.files import atomic_outputs, write_text

    root, tag, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    calls, real_replace = [0], os.replace

    def replace(src, dst):
        calls[0] += 1
        if calls[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        real_replace(src, dst)

    os.replace = replace
    with atomic_outputs(root, ["chat", "eval/prompts.csv"]) as staging:
        write_text(staging / "chat" / "train.jsonl", tag + " rows")
        write_text(staging / "chat" / "README.md", tag + " card")
        write_text(staging / "eval" / "prompts.csv", tag + " prompts")
    print(calls[0])
    """
)


def build(root, tag: str, kill_at: int = 0) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BUILD, str(root), tag, str(kill_at)], capture_output=True, text=True, timeout=60
    )


def outputs(root) -> dict[str, str]:
    found = {}
    for name in ("chat/train.jsonl", "chat/README.md", "eval/prompts.csv"):
        if (root / name).is_file():
            found[name] = (root / name).read_text()
    return found


def built_by(tag: str) -> dict[str, str]:
    return {"chat/train.jsonl": f"{tag} rows", "chat/README.md": f"{tag} card", "eval/prompts.csv": f"{tag} prompts"}


def test_a_build_killed_at_any_step_leaves_one_builds_outputs_once_the_next_run_starts(tmp_path):
    previous = tmp_path / "previous"
    assert build(previous, "old").returncode == 0
    write_text(previous / "eval" / "run" / "report.md", "another run's report")  # not this build's: untouched
    shutil.copytree(previous, tmp_path / "whole")
    whole = build(tmp_path / "whole", "new")
    assert whole.returncode == 0, whole.stderr
    steps = int(whole.stdout)
    assert steps == 3 + 1 + 4  # three staged files, the journal, two outputs moved aside and two moved in
    finished = []
    for kill_at in range(1, steps + 1):
        root = tmp_path / f"killed-at-{kill_at}"
        shutil.copytree(previous, root)
        killed = build(root, "new", kill_at)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        journal_written = kill_at > 4
        assert outputs(root) == built_by("old") or journal_written  # before the journal nothing has moved
        repaired = finish_interrupted_swaps(root)  # what the next build into root does first
        assert outputs(root) == built_by("new" if journal_written else "old"), kill_at
        assert repaired == (NAMES if journal_written else [])
        assert (root / "eval" / "run" / "report.md").read_text() == "another run's report"
        assert sorted(p.name for p in root.iterdir()) == ["chat", "eval"]  # no staging folder left
        finished.append(journal_written)
    assert finished.count(True) == 4


def test_an_error_while_writing_leaves_the_previous_outputs_and_nothing_else(tmp_path):
    with atomic_outputs(tmp_path, NAMES) as staging:
        write_text(staging / "chat" / "train.jsonl", "old rows")
        write_text(staging / "eval" / "prompts.csv", "old prompts")
    with pytest.raises(RuntimeError), atomic_outputs(tmp_path, NAMES) as staging:
        write_text(staging / "chat" / "train.jsonl", "new rows")
        raise RuntimeError("the card failed")
    with pytest.raises(FileNotFoundError, match="eval/prompts.csv not written"), atomic_outputs(tmp_path, NAMES) as s:
        write_text(s / "chat" / "train.jsonl", "new rows")
    assert outputs(tmp_path) == {"chat/train.jsonl": "old rows", "eval/prompts.csv": "old prompts"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chat", "eval"]


def test_only_the_staging_of_runs_that_ended_is_cleared(tmp_path):
    live = tmp_path / f".luacoder-staging-{os.getppid()}-abc"  # another build, still writing
    dead = tmp_path / ".luacoder-staging-999999999-abc"
    for folder in (live, dead):
        write_text(folder / "chat" / "train.jsonl", "half written")
    assert finish_interrupted_swaps(tmp_path) == []
    assert live.is_dir() and not dead.exists()


@pytest.mark.parametrize("name", ["/abs", "../up", ".hidden", ""])
def test_outputs_are_relative_names(tmp_path, name):
    with pytest.raises(ValueError, match="relative path"), atomic_outputs(tmp_path, [name]):
        pass
