"""Writing outputs so that a run that dies half-way never leaves a corrupt file, or files of two runs, behind."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import xxhash

from luacoder.errors import UserError


def _read_umask() -> int:
    # Read once, at import: os.umask can only be read by setting it, which would race with other threads' files.
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside `path`; on success it replaces `path` in one rename, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with open(fd, mode, encoding=None if "b" in mode else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp makes the file private (0600); give it the mode a plain open() would have.
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path) as handle:
        handle.write(text)


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict[str, Any]]) -> None:
    """JSON lines (UTF-8, not ASCII-escaped), written atomically."""
    with atomic_open(path) as handle:
        handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def write_json(path: str | os.PathLike, data: Any) -> None:
    with atomic_open(path) as handle:
        json.dump(data, handle, indent=2, ensure_ascii=False)
        handle.write("\n")


def stable_hash(data: Any) -> str:
    """A hex digest of JSON-serialisable data, independent of dict order."""
    return xxhash.xxh3_128_hexdigest(json.dumps(data, sort_keys=True, ensure_ascii=False).encode("utf-8"))


class RowError(UserError, ValueError):
    """A data file has a row that cannot be used; the message names the file and line."""


def read_jsonl(path: str | os.PathLike, required: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Every row of a JSON-lines file; a malformed row or one missing a required field is an error naming its line."""
    rows = []
    path = Path(path)
    if not path.is_file():
        raise RowError(f"{path}: no such file")
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise RowError(f"{path}:{number}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RowError(f"{path}:{number}: malformed JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise RowError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
            missing = [k for k in required if k not in row]
            if missing:
                raise RowError(f"{path}:{number}: missing field(s) {missing}; the row has {sorted(row)}")
            rows.append(row)
    if not rows:
        raise RowError(f"{path}: no rows")
    return rows


class JsonlLog:
    """An append-only JSON-lines file that survives being killed mid-write."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def load(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        raw = self.path.read_bytes()
        rows, complete = [], True
        for line in raw.split(b"\n"):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except ValueError:
                complete = False  # a torn line: everything else is still good
        if not complete or (raw and not raw.endswith(b"\n")):
            write_jsonl(self.path, rows)
        return rows

    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
            handle.flush()
            os.fsync(handle.fileno())


# What one build stages, beside its outputs: .luacoder-staging-<pid>-<random>/ holds the new outputs under their
# names, then (during the swap) the journal naming them and the previous outputs under .previous/.
_STAGING = ".luacoder-staging-"
_JOURNAL = ".journal.json"
_PREVIOUS = ".previous"
# The staging folders this process is filling: not stale, though their pid runs.
_filling: set[Path] = set()
log = logging.getLogger(__name__)


@contextlib.contextmanager
def atomic_outputs(root: str | os.PathLike, names: Iterable[str]) -> Iterator[Path]:
    """Yield a staging folder in which to write each of `names` (files or folders, relative to `root`:
    "chat", "eval/prompts.csv"); on success they replace their counterparts under `root` together, on an error
    before that nothing under `root` changes.

    Everything one build writes appears together or not at all, even when the build is killed: the staged outputs
    are complete (each file fsynced) before a journal naming them is written, and only then are they moved in. A
    run killed during those moves leaves the journal; the next `atomic_outputs` or `finish_interrupted_swaps` on the
    same root finishes the moves (the previous outputs then go). A staging folder without a journal is a build that
    never finished: it is removed. Until then, a reader may find one of the names missing (moved aside), never
    outputs of two builds side by side once the next build has run.
    """
    root = Path(root)
    names = [_output_name(name) for name in names]
    root.mkdir(parents=True, exist_ok=True)
    finish_interrupted_swaps(root)
    staging = Path(tempfile.mkdtemp(prefix=f"{_STAGING}{os.getpid()}-", dir=root))
    _filling.add(staging)
    try:
        yield staging
        missing = [name for name in names if not (staging / name).exists()]
        if missing:
            raise FileNotFoundError(f"{staging}: {', '.join(missing)} not written")
        with _locked(root):
            write_json(staging / _JOURNAL, {"names": names})  # from here on, the build counts as done
            _swap_in(root, staging, names)
        shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        if not (staging / _JOURNAL).exists():
            shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        _filling.discard(staging)


def finish_interrupted_swaps(root: str | os.PathLike) -> list[str]:
    """Finish the swaps that runs killed while moving their outputs into `root` left, and remove the staging folders
    of runs that died before; returns the names swapped in here."""
    root = Path(root)
    if not root.is_dir():
        return []
    finished = []
    with _locked(root):
        for staging in sorted(root.glob(f"{_STAGING}*")):
            journal = staging / _JOURNAL
            if journal.is_file():
                names = json.loads(journal.read_text(encoding="utf-8"))["names"]
                _swap_in(root, staging, names)
                log.warning("%s: finished swapping in %s, which an interrupted run had left", root, ", ".join(names))
                finished += names
            elif staging in _filling or _owner_runs(staging):
                continue
            shutil.rmtree(staging, ignore_errors=True)
    return finished


def _output_name(name: str) -> str:
    path = Path(name)
    if path.is_absolute() or not path.parts or ".." in path.parts or path.parts[0].startswith("."):
        raise ValueError(f"{name!r}: an output is named by a relative path that does not start with '.'")
    return path.as_posix()


def _swap_in(root: Path, staging: Path, names: list[str]) -> None:
    """Move each staged output in, the previous one aside first; what a killed run already moved is skipped, so
    running it again finishes the swap."""
    for name in names:
        new, target, old = staging / name, root / name, staging / _PREVIOUS / name
        if not new.exists():
            continue  # moved in already
        if target.exists():
            if old.exists():  # moved aside already, and something new appeared there since: ours wins
                _remove(target)
            else:
                old.parent.mkdir(parents=True, exist_ok=True)
                os.replace(target, old)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(new, target)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _owner_runs(staging: Path) -> bool:
    pid = staging.name[len(_STAGING) :].partition("-")[0]
    if not pid.isdigit() or int(pid) == os.getpid():
        return False  # this process's folders that are not being filled are left from an interrupted build
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        pass
    return True


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive flock on the folder itself (no lock file left behind), released when the holder dies."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
