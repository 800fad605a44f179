"""The outputs of a long run against a server, written so that a killed run can go on where it stopped.

A run writes two JSON-lines files, kept rows and rejected rows, one line per item as soon as its outcome is known:
one `write` of a whole line, then a flush to the OS, which keeps it even when the process is killed the next moment.
A kill during a write leaves at most a torn last line; reading the log cuts it off (that item is asked again).
Every row carries the run's fingerprint (a hash of everything that decides the output: model, sampling, seed,
prompt files, input), and `--continue` refuses a log with another fingerprint rather than mix two runs' data.
Rejections the server never answered (`retryable`: a timeout, a server down) do not count as done: `--continue`
asks again. A lock file keeps two runs from appending to the same log.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from luacoder.files import RowError, write_jsonl

log = logging.getLogger(__name__)


class OutputExists(RuntimeError):
    """The output already holds rows and the run was not asked to continue them."""


class FingerprintMismatch(RuntimeError):
    """`--continue` on output written with other settings."""


class LogBusy(RuntimeError):
    """Another run holds the log's lock."""


def fingerprint(settings: dict[str, Any]) -> str:
    """A short hash of the settings (JSON-serialisable): equal settings, equal fingerprint."""
    text = json.dumps(settings, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def file_digest(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def read_log(path: str | os.PathLike, repair: bool = True) -> list[dict[str, Any]]:
    """The rows of an append-only JSON-lines log (none when it does not exist). A last line without its newline
    was torn by a kill: with `repair` it is cut off the file. A malformed complete line is an error naming it."""
    path = Path(path)
    if not path.exists():
        return []
    data = path.read_bytes()
    complete, newline, torn = data.rpartition(b"\n")
    if torn:
        if repair:
            log.warning("%s: dropping a torn last line (%d bytes) left by a killed run", path, len(torn))
            with open(path, "r+b") as handle:
                handle.truncate(len(complete) + len(newline))
        else:
            raise RowError(f"{path}: the last line is incomplete (a killed run: rerun it with --continue)")
    rows = []
    for number, line in enumerate(complete.split(b"\n") if complete else [], 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RowError(f"{path}:{number}: malformed JSON ({exc}); fix or remove the line") from None
        if not isinstance(row, dict) or not isinstance(row.get("id"), str):
            raise RowError(f"{path}:{number}: expected a JSON object with a string 'id'")
        rows.append(row)
    return rows


class RunLog:
    """Kept and rejected rows of one run (see the module docstring). Use as a context manager."""

    def __init__(self, kept_path: str | os.PathLike, rejected_path: str | os.PathLike, fingerprint: str, resume: bool):
        self.kept_path, self.rejected_path = Path(kept_path), Path(rejected_path)
        self.fingerprint = fingerprint
        self.kept_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.kept_path.with_name(f".{self.kept_path.name}.lock"), "w")  # noqa: SIM115
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise LogBusy(f"{self.kept_path}: another run is writing it right now") from None
        try:
            self.kept, self.rejected = self._load(resume)
        except BaseException:
            self._lock.close()
            raise
        self.done = {row["id"] for row in self.kept} | {row["id"] for row in self.rejected}
        self._kept_out: IO[str] = open(self.kept_path, "a", encoding="utf-8")  # noqa: SIM115
        self._rejected_out: IO[str] = open(self.rejected_path, "a", encoding="utf-8")  # noqa: SIM115

    def _load(self, resume: bool) -> tuple[list[dict], list[dict]]:
        paths = (self.kept_path, self.rejected_path)
        if not resume:
            busy = [str(p) for p in paths if p.exists() and p.stat().st_size > 0]
            if busy:
                raise OutputExists(
                    f"{' and '.join(busy)} already hold rows: pass --continue to go on with that run,"
                    " or remove the files (or pick another output folder) to start over"
                )
            for path in paths:
                path.write_text("", encoding="utf-8")
            return [], []
        kept, rejected = read_log(self.kept_path), read_log(self.rejected_path)
        for path, rows in ((self.kept_path, kept), (self.rejected_path, rejected)):
            others = sorted({str(r.get("fingerprint")) for r in rows} - {self.fingerprint})
            if others:
                raise FingerprintMismatch(
                    f"{path} was written by a run with fingerprint {', '.join(others)}, this run's is"
                    f" {self.fingerprint}: the model, sampling, seed, prompt files or input differ. Continue with the"
                    " settings that run used (see its .summary.json), or write to another output folder."
                )
        final = [r for r in rejected if not r.get("retryable")]
        if len(final) < len(rejected):  # rewritten whole and atomically: a kill now leaves the old file or the new one
            write_jsonl(self.rejected_path, final)
        seen: set[str] = set()
        for path, rows in ((self.kept_path, kept), (self.rejected_path, final)):
            for row in rows:
                if row["id"] in seen:
                    raise RowError(f"{path}: item {row['id']!r} has two outcomes; was the log edited by hand?")
                seen.add(row["id"])
        return kept, final

    def add(self, row: dict[str, Any], kept: bool) -> None:
        if row["id"] in self.done:
            raise RuntimeError(f"item {row['id']!r} already has an outcome in this run")
        row = {**row, "fingerprint": self.fingerprint}
        (self.kept if kept else self.rejected).append(row)
        handle = self._kept_out if kept else self._rejected_out
        handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        handle.flush()
        if not row.get("retryable"):
            self.done.add(row["id"])

    def finish(self, order: Iterable[str]) -> None:
        """Close the log and rewrite both files in the items' input order (rows arrive in completion order), each
        atomically, so that equal runs write equal files."""
        for handle in (self._kept_out, self._rejected_out):
            handle.close()
        rank = {item_id: i for i, item_id in enumerate(order)}
        for rows, path in ((self.kept, self.kept_path), (self.rejected, self.rejected_path)):
            rows.sort(key=lambda r: (rank.get(r["id"], len(rank)), r["id"]))
            write_jsonl(path, rows)
        self.close()

    def close(self) -> None:
        """Close the files and release the lock (the lock last: no other run may start while we write)."""
        for handle in (self._kept_out, self._rejected_out, self._lock):
            with contextlib.suppress(OSError):
                handle.close()

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
