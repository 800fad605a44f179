"""The sandbox's child process: `python -m luacoder.lua._child`, one JSON job per stdin line; on stdout, messages
(luacoder.lua.sandbox.FRAME): what the code prints as it prints it, then the job's result as JSON.

The parent (luacoder.lua.sandbox) started it with OS resource limits; this side adds the Lua-level ones (a fresh
LuaRuntime per job with its own memory cap, the whitelist environment, the instruction budget) and keeps the CPU
limit a few seconds ahead of each job. Nothing here trusts the code it runs.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import os
import resource
import sys
import threading
import time
from importlib.resources import files

from luacoder.lua.sandbox import CUT, FRAME, READY, RESULT, STDERR, STDOUT

# The Lua side of the sandbox (whitelist environment, limits, output capture); the chunk name marks its functions.
PRELUDE = files("luacoder.lua").joinpath("sandbox_prelude.lua").read_bytes()
SANDBOX_CHUNKNAME = "=[sandbox]"
# `require('luaunit')` under the "luaunit" allowance (MultiPL-E's tests): a luaunit-compatible module.
LUAUNIT = files("luacoder.lua").joinpath("luaunit.lua").read_bytes()


def _deny_attributes(obj, name, is_setting):
    # No Python object reaches user code (the prelude keeps its output functions to itself); should one slip
    # through, none of its attributes are reachable.
    raise AttributeError("Python attributes are not accessible from the sandbox")


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _send(kind: bytes, payload: bytes = b"") -> None:
    header = FRAME.pack(kind, len(payload))
    # One write for a short message, two for a long one (no copy).
    parts = (header + payload,) if len(payload) < 65536 else (header, payload)
    try:
        for part in parts:
            view = memoryview(part)
            while view:
                view = view[os.write(1, view) :]
    except OSError:
        os._exit(1)  # the parent is gone: nobody waits for this job


class _Output:
    """What the code prints, gathered by `bytearray.extend` (C: no Python code runs for a print) and sent to the
    parent by a thread every FLUSH_S seconds, so that what a program printed before it hung where no Lua hook sees
    it (a C pattern match, an endless finalizer) reaches the parent before the wall-clock kill. lupa releases the
    GIL while Lua runs, so the thread runs beside the code. Only the code appends and only a flush (under the
    lock) takes from the front."""

    FLUSH_S = 0.01

    def __init__(self):
        self.lock = threading.Lock()
        self.stdout, self.stderr = bytearray(), bytearray()
        self.sent = 0  # bytes of this job's output already sent
        threading.Thread(target=self._flush_often, name="output", daemon=True).start()

    def start_job(self) -> None:
        self.flush()
        self.sent = 0

    def written(self) -> int:
        """Bytes of this job's output so far."""
        return self.sent + len(self.stdout) + len(self.stderr)

    def flush(self) -> None:
        with self.lock:
            for kind, pending in ((STDOUT, self.stdout), (STDERR, self.stderr)):
                size = len(pending)
                if size:
                    _send(kind, bytes(pending[:size]))
                    del pending[:size]
                    self.sent += size

    def send(self, kind: bytes, payload: bytes) -> None:
        """A message after everything printed so far."""
        self.flush()
        with self.lock:
            _send(kind, payload)

    def _flush_often(self) -> None:
        while True:
            time.sleep(self.FLUSH_S)
            self.flush()


def _cut(error: bytes, room: int) -> str:
    """The error message within the `room` bytes the output left."""
    if len(error) <= room:
        return _text(error)
    return _text(error[: max(0, room - len(CUT))]) + CUT


def run_job(job: dict, output: _Output) -> dict:
    from lupa import lua54

    start = time.perf_counter()
    memory = int(job["memory_mb"] * 2**20)
    output.start_job()

    runtime = lua54.LuaRuntime(
        register_eval=False,
        register_builtins=False,
        unpack_returned_tuples=True,
        max_memory=memory,
        encoding=None,
        attribute_filter=_deny_attributes,
    )
    result: dict = {"ok": False, "error": None, "reason": None, "exit_code": None}
    error = b""
    try:
        cfg = runtime.table_from(
            {
                b"instructions": int(job["instructions"]),
                b"timeout": float(job["timeout"]),
                b"output_limit": int(job["output_limit"]),
                b"chunkname": ("=" + job["chunkname"]).encode(),
                # The prelude's only ways out, for print, io.write and warn.
                b"stdout": output.stdout.extend,
                b"stderr": output.stderr.extend,
            }
        )
        cfg[b"allow"] = runtime.table_from([a.encode() for a in job.get("allow", [])])
        if "luaunit" in job.get("allow", []):
            cfg[b"luaunit"] = LUAUNIT
        if job.get("prelude"):
            cfg[b"prelude"] = job["prelude"].encode("utf-8")
        if job.get("files") is not None:
            cfg[b"files"] = runtime.table_from({k.encode(): v.encode() for k, v in job["files"].items()})
        factory = runtime.eval("load")(PRELUDE, SANDBOX_CHUNKNAME.encode(), b"t")
        status = factory(job["code"].encode("utf-8"), cfg)
        error = status[b"error"] or b""
        result.update(
            ok=bool(status[b"ok"]),
            reason=_text(status[b"reason"]) or None,
            exit_code=status[b"exit_code"],
            instructions=status[b"instructions"],
        )
    except lua54.LuaMemoryError:
        error, result["reason"] = b"sandbox: memory limit exceeded", "memory"
    except lua54.LuaError as exc:
        message = exc.args[0] if exc.args else str(exc)
        error = b"sandbox: " + (message if isinstance(message, bytes) else str(message).encode())
        result["reason"] = "error"
    finally:
        # Closing the state runs the code's pending finalizers (__gc); they count against this job's wall time.
        status = factory = cfg = None
        del runtime
        gc.collect()
    result["error"] = _cut(error, int(job["output_limit"]) - output.written()) if error else None
    result["elapsed"] = time.perf_counter() - start
    return result


def _limit_cpu(seconds: float) -> None:
    used = resource.getrusage(resource.RUSAGE_SELF)
    spent = used.ru_utime + used.ru_stime
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    want = int(math.ceil(spent + seconds)) + 1
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (want, hard))


def main() -> int:
    import lupa.lua54  # noqa: F401  (loaded before saying ready, so that a job's time is the job's own)

    output = _Output()
    with contextlib.suppress(ValueError, OSError):  # no new processes from here on (not enforced for root)
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    _send(READY)
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        _limit_cpu(float(job["timeout"]) + 1)
        try:
            result = run_job(job, output)
        except MemoryError:
            result = {"ok": False, "error": "sandbox: memory limit exceeded", "reason": "memory"}
        output.send(RESULT, json.dumps(result).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
