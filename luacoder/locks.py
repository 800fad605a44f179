"""One run per output folder, and workers that do not outlive their launcher (torch-free).

    lock = hold_folder("outputs/chat", "training")   # raises FolderLocked when another live run holds it
    exit_with_launcher()                            # in a torchrun worker: end when torchrun dies

The lock is `fcntl.flock` on `<folder>/.luacoder.lock`: the kernel releases it when its holder dies however it dies
(SIGKILL included), so a lock left by a dead run is stale by construction and the next run takes it over, saying
so. The file also names its holder (host, pid, command, start time), for the message another run gets. flock does
not lock across hosts on every network file system; on one shared by several machines, the holder's host in the
message is what tells a user that a run elsewhere writes there.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from luacoder.errors import UserError

logger = logging.getLogger("luacoder")
LOCK_FILE = ".luacoder.lock"
# How often a worker checks that its launcher still runs: a few seconds of orphaned work at most.
LAUNCHER_POLL_S = 1.0


# The folders this process holds: asking again (eval.py run twice in one Python process) is not another run.
_held: dict[Path, FolderLock] = {}


class FolderLocked(UserError, RuntimeError):
    """Another live run writes into the folder."""


@dataclass
class FolderLock:
    path: Path
    handle: object  # the open lock file: closing it (or dying) releases the lock

    def release(self) -> None:
        _held.pop(self.path, None)
        with contextlib.suppress(OSError):
            self.handle.close()


def _holder_text(info: dict) -> str:
    if not info:
        return "a process that has not written its name yet"
    return (
        f"pid {info.get('pid')} on {info.get('host')} (started {info.get('started')}, command: {info.get('command')})"
    )


def hold_folder(folder: str | os.PathLike, what: str) -> FolderLock:
    """Lock `folder` (created if missing) for this process, for as long as it lives or until `release()`.

    Raises FolderLocked naming the holder when another live process holds it. A lock file whose holder died is
    taken over, with a warning naming the dead holder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = (folder / LOCK_FILE).resolve()
    if path in _held:
        return _held[path]
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held open for the process's life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        info = _parse(handle.read())
        handle.close()
        raise FolderLocked(
            f"{folder} is in use by another {what} run: {_holder_text(info)}. Wait for it to end or stop it, or "
            f"give this run another output folder; two runs in one folder would overwrite each other's files."
        ) from None
    handle.seek(0)
    stale = _parse(handle.read())
    if stale:
        logger.warning("%s: taking over the lock left by %s, which no longer runs", folder, _holder_text(stale))
    info = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "command": " ".join(sys.argv)[:500],
        "what": what,
    }
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps(info) + "\n")
    handle.flush()
    _held[path] = FolderLock(path, handle)
    return _held[path]


def _parse(text: str) -> dict:
    try:
        info = json.loads(text)
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


def exit_with_launcher(poll_s: float = LAUNCHER_POLL_S) -> bool:
    """In a process started by torchrun, end it when torchrun ends. Returns whether a watch was started.

    torchrun starts its workers in their own sessions: killing the launcher alone would leave them training and
    writing checkpoints, under a rerun of the same command. A daemon thread watches the parent pid; once the
    process is re-parented (its launcher died), it exits at once (status 1): a checkpoint being written then is left
    incomplete, which a resume skips (its metadata file is written last).
    """
    if "TORCHELASTIC_RUN_ID" not in os.environ and "LOCAL_RANK" not in os.environ:
        return False
    launcher = os.getppid()
    if launcher <= 1:
        return False

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != launcher:
                with contextlib.suppress(Exception):
                    sys.stderr.write(f"luacoder: the launcher (pid {launcher}) ended; this worker stops too\n")
                    sys.stderr.flush()
                os._exit(1)

    threading.Thread(target=watch, name="luacoder-launcher-watch", daemon=True).start()
    return True


# torch's JIT extension builds (DeepSpeed's `deepspeed_shm_comm` on the CPU) take a `lock` file in the build folder
# that has no owner: a build killed midway leaves it, and every later launch waits on it forever (torch's FileBaton
# has no timeout). A build takes about a minute; a lock this much older belongs to no live build.
STALE_BUILD_LOCK_S = 600


def extension_build_root() -> Path:
    """Where torch builds JIT extensions: $TORCH_EXTENSIONS_DIR, else ~/.cache/torch_extensions (what torch reads)."""
    root = os.environ.get("TORCH_EXTENSIONS_DIR")
    return Path(root) if root else Path.home() / ".cache" / "torch_extensions"


def clear_stale_build_locks(root: Path | None = None, stale_after_s: float = STALE_BUILD_LOCK_S) -> list[Path]:
    """Remove the build locks under `root` older than `stale_after_s`, with a warning naming each; return them.

    Called before a stage initialises DeepSpeed, so a build lock left by a killed run never hangs the next one."""
    root = root or extension_build_root()
    removed = []
    for lock in [*root.glob("*/lock"), *root.glob("*/*/lock")]:
        try:
            age = time.time() - lock.stat().st_mtime
            if age < stale_after_s:
                continue
            lock.unlink()
        except FileNotFoundError:  # its build finished meanwhile, or another process removed it
            continue
        logger.warning("removed %s, a build lock %.0f s old that a killed build left behind", lock, age)
        removed.append(lock)
    return removed
