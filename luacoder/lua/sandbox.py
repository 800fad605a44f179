"""Run untrusted Lua 5.4 (lupa) in a whitelist environment, in a child process with OS resource limits.

    result = run_lua('print(("%d items"):format(3))')
    result.ok, result.stdout          # True, "3 items\\n"

What the sandbox does:

- **Whitelist environment.** The code sees the basic functions, `string` (without `string.dump`, also as the string
  methods), `table`, `math`, `utf8`, `coroutine`, and safe parts of `os` (`clock`, `date`, `difftime`, `time`;
  `getenv` always answers nil, `setlocale` only knows "C"). `print`, `io.write`, `io.stdout`/`io.stderr` and
  `warn` are captured. Denied functions (`io.open`, `io.popen`, `os.execute`, `os.remove`, `os.exit`, `require`,
  `dofile`, `loadfile`, ...) raise an error that says so; `debug` and `package` are absent; `load` only loads text
  chunks, in the sandbox's environment unless the caller gives one; `collectgarbage` refuses "stop" and the
  tuning options. The real globals, the registry and lupa's `python` module are out of reach.
- **Limits.** An instruction budget (a count hook that user code cannot remove; `pcall`, `xpcall` and
  `coroutine.resume` re-raise once it is spent), a time limit checked by the same hook, a memory cap on the Lua
  allocator, and a cap on captured output. Around it, the child process has RLIMIT_AS (memory), RLIMIT_CPU,
  RLIMIT_FSIZE=0 (it cannot write a file), a small RLIMIT_NOFILE, RLIMIT_NPROC=0 (no new processes, except for
  root) and no core dumps; it runs in its own session, in an empty temporary directory, with an almost empty
  environment, and the parent kills its whole process group when the wall-clock limit passes. An escape from the
  Lua VM, a crash or a hang (a Lua pattern that backtracks for hours, an endless `__gc`) ends the child, never the
  caller.
- **Allowances**, opted into on purpose: `files={"name": "text"}` (or `allow=["files"]`) gives an in-memory file
  system behind `io.open`, `io.lines`, `io.input`/`io.output`, `io.tmpfile`, file methods, `os.remove`,
  `os.rename`, `os.tmpname`, `dofile` and `loadfile`; "modules" gives `require` and `package` over
  `package.preload`, `package.loaded` and Lua files of the in-memory file system (`package.loadlib` reports
  dynamic libraries as absent); "debug" gives the debug library minus `debug.getregistry`, with inspection of the
  user's own functions only (and `debug.sethook` layered over the budget's hook); "exit" makes `os.exit` end the
  script; "luaunit" gives `require('luaunit')` a luaunit-compatible test module (luaunit.lua here: the assertions
  and `LuaUnit.run()` that MultiPL-E's tests use) and nothing else.
- **A prelude**, `prelude=`: Lua run before the code in the same environment and under the same budget, time and
  memory limits (the API stubs of `luacoder.lua.stubs` are one); when it fails the code does not run and the reason
  is "prelude" (or the limit it hit).

What it does not protect against:

- Bugs in Lua 5.4, lupa or CPython that let crafted code corrupt memory: such an escape runs native code as the
  calling user in the child. The OS limits then bound its memory, CPU time and file writes, but it can read
  whatever the user can read and open network connections; run on a machine or container that holds nothing
  secret, or add OS isolation (namespaces, seccomp, a container) if the code is truly hostile.
- Timing side channels, and the CPU and memory the child spends up to its limits.
- RLIMIT_NPROC does nothing when running as root.
- Lua code that runs without executing Lua instructions (a costly pattern match, a huge `table.concat`) or inside
  a hook or finalizer is not stopped by the instruction budget, only by the wall-clock kill and RLIMIT_CPU.
- Output fidelity: `print` goes through `tostring` as in the real interpreter, but file handles are Lua tables
  that pass for userdata (`type`, `io.type`), and `debug.getinfo` describes sandbox functions as Lua functions.
  The debug functions are Lua wrappers: `return debug.getlocal(1, i)` (a tail call) no longer sees the caller's
  frame, which a tail call into the C function would have kept.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

ALLOWANCES = frozenset({"files", "modules", "debug", "exit", "luaunit"})
DEFAULT_TIMEOUT = 5.0
DEFAULT_MEMORY_MB = 64
DEFAULT_INSTRUCTIONS = 100_000_000
DEFAULT_OUTPUT_LIMIT = 1_000_000
# Python, lupa and the JSON of a result, on top of what the Lua state may use.
_CHILD_OVERHEAD_MB = 256
# Starting the child (Python, lupa) is not the code's time; it says when it is ready.
_START_TIMEOUT = 60.0
# The Lua-side time limit fires first; the wall-clock kill is the backstop for what it cannot see.
_WALL_SLACK = 0.5
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


@dataclass
class RunResult:
    ok: bool  # the code ran to its end (or called os.exit(0) under the "exit" allowance)
    stdout: str = ""
    stderr: str = ""
    error: str | None = None
    elapsed: float = 0.0  # seconds
    # Why it did not run to its end: "syntax", "error", "memory", "instructions", "timeout", "output", "exit",
    # "crashed" (the child died: a signal, RLIMIT_AS, RLIMIT_CPU), "prelude" (the job's prelude failed: the code
    # did not run); None when ok.
    reason: str | None = None
    exit_code: int | None = None  # the os.exit status under the "exit" allowance

    @property
    def stopped(self) -> bool:
        """Stopped by a limit rather than by an error of its own."""
        return self.reason in ("memory", "instructions", "timeout", "output", "crashed")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class LuaJob:
    code: str
    timeout: float = DEFAULT_TIMEOUT
    memory_mb: float = DEFAULT_MEMORY_MB
    instructions: int = DEFAULT_INSTRUCTIONS
    files: Mapping[str, str] | None = None
    allow: Iterable[str] = ()
    output_limit: int = DEFAULT_OUTPUT_LIMIT
    chunkname: str = "input"  # error messages read "input:3: ..."
    # Lua run first, in the same environment and under the same limits (API stubs: luacoder.lua.stubs); its own
    # failure is reported with reason "prelude", not as the code's error.
    prelude: str = ""
    allow_set: frozenset[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.allow_set = frozenset(self.allow) | ({"files"} if self.files is not None else frozenset())
        unknown = sorted(self.allow_set - ALLOWANCES)
        if unknown:
            raise ValueError(f"unknown sandbox allowance(s) {unknown}; known: {sorted(ALLOWANCES)}")
        if not isinstance(self.code, str) or not isinstance(self.prelude, str):
            shown = f"{type(self.code).__name__} and {type(self.prelude).__name__}"
            raise TypeError(f"Lua code and prelude must be str, got {shown}")
        if self.timeout <= 0 or self.memory_mb <= 0 or self.instructions <= 0:
            raise ValueError("timeout, memory_mb and instructions must be positive")

    def to_json(self) -> str:
        return json.dumps(
            {
                "code": self.code,
                "timeout": self.timeout,
                "memory_mb": self.memory_mb,
                "instructions": self.instructions,
                "files": dict(self.files) if self.files is not None else None,
                "allow": sorted(self.allow_set),
                "output_limit": self.output_limit,
                "chunkname": self.chunkname,
                "prelude": self.prelude,
            }
        )


def run_lua(
    code: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    memory_mb: float = DEFAULT_MEMORY_MB,
    instructions: int = DEFAULT_INSTRUCTIONS,
    files: Mapping[str, str] | None = None,
    allow: Iterable[str] = (),
    output_limit: int = DEFAULT_OUTPUT_LIMIT,
    prelude: str = "",
) -> RunResult:
    """Run one Lua chunk in a fresh child process; see the module docstring for what is allowed. `prelude` runs
    first in the same environment (see `LuaJob.prelude`)."""
    job = LuaJob(code, timeout, memory_mb, instructions, files, allow, output_limit, prelude=prelude)
    return next(iter(run_many([job])))


def run_many(jobs: Iterable[LuaJob | str], **defaults) -> list[RunResult]:
    """Run many chunks, each in a fresh LuaRuntime, in ONE child process (restarted after a kill or a crash).

    Items may be `LuaJob`s or code strings, which take `defaults` (the keyword arguments of `run_lua`).
    """
    return list(iter_run_many(jobs, **defaults))


def iter_run_many(jobs: Iterable[LuaJob | str], **defaults) -> Iterator[RunResult]:
    child: _Child | None = None
    try:
        for item in jobs:
            job = item if isinstance(item, LuaJob) else LuaJob(item, **defaults)
            if child is None or not child.alive():
                child = _Child(job)
            result = child.run(job)
            if result.reason in ("timeout", "crashed") and not child.alive():
                child.close()
                child = None
            yield result
    finally:
        if child is not None:
            child.close()


def sandbox_workers(jobs: int) -> int:
    """How many sandbox children to run at once: this process's share of the machine's cores (torchrun's
    LOCAL_WORLD_SIZE ranks share them), at most one per job."""
    share = (os.cpu_count() or 1) // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(1, min(jobs, share))


def iter_run_parallel(jobs: Iterable[LuaJob | str], workers: int | None = None, **defaults) -> Iterator[RunResult]:
    """`iter_run_many` over `workers` sandbox children at once (default `sandbox_workers`), results in job order.

    Job i goes to child i % workers; threads only wait on the children's pipes, so they do not contend for the
    GIL. Each child is still restarted after a kill or a crash, as in `iter_run_many`."""
    import queue
    import threading

    items = list(jobs)
    workers = sandbox_workers(len(items)) if workers is None else max(1, min(workers, len(items)))
    if workers <= 1:
        yield from iter_run_many(items, **defaults)
        return
    done: queue.Queue = queue.Queue()

    def work(first: int) -> None:
        try:
            for offset, result in enumerate(iter_run_many(items[first::workers], **defaults)):
                done.put((first + offset * workers, result))
        except BaseException as exc:  # handed to the caller's thread
            done.put((None, exc))

    threads = [threading.Thread(target=work, args=(n,), daemon=True) for n in range(workers)]
    for thread in threads:
        thread.start()
    ready: dict[int, RunResult] = {}
    for position in range(len(items)):
        while position not in ready:
            index, result = done.get()
            if index is None:
                raise result
            ready[index] = result
        yield ready.pop(position)
    for thread in threads:
        thread.join()


def _limits(job: LuaJob):
    address_space = int((job.memory_mb + _CHILD_OVERHEAD_MB) * 2**20)
    cpu = int(math.ceil(job.timeout)) + 2  # the child moves it ahead before each job

    def preexec() -> None:  # runs in the child between fork and exec: only setrlimit calls
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, resource.RLIM_INFINITY))
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NOFILE, (32, 32))
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))

    return preexec


class _Child:
    """One `python -m luacoder.lua._child` process, fed one JSON job per line."""

    def __init__(self, job: LuaJob):
        self.workdir = tempfile.TemporaryDirectory(prefix="luacoder-sandbox-")
        env = {"PATH": os.defpath, "PYTHONPATH": _PACKAGE_ROOT, "PYTHONDONTWRITEBYTECODE": "1", "LC_ALL": "C"}
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-B", "-m", "luacoder.lua._child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=self.workdir.name,
            env=env,
            start_new_session=True,
            preexec_fn=_limits(job),
            close_fds=True,
        )
        self.buffer = b""
        self.errors = b""
        self.ready = self._read_line(time.monotonic() + _START_TIMEOUT) is not None

    def alive(self) -> bool:
        return self.proc.poll() is None

    def run(self, job: LuaJob) -> RunResult:
        start = time.monotonic()
        if not self.ready:
            return self._dead(start)
        deadline = start + job.timeout + _WALL_SLACK
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(job.to_json().encode("utf-8") + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return self._dead(start)
        line = self._read_line(deadline)
        if line is None:
            if self.alive():
                self.kill()
                return RunResult(
                    ok=False,
                    error=f"sandbox: wall-clock limit of {job.timeout:g} s exceeded; the process was killed",
                    reason="timeout",
                    elapsed=time.monotonic() - start,
                )
            return self._dead(start)
        data = json.loads(line)
        return RunResult(
            ok=bool(data.get("ok")),
            stdout=data.get("stdout", ""),
            stderr=data.get("stderr", ""),
            error=data.get("error"),
            elapsed=data.get("elapsed", time.monotonic() - start),
            reason=data.get("reason"),
            exit_code=data.get("exit_code"),
        )

    def _read_line(self, deadline: float) -> bytes | None:
        out, err = self.proc.stdout, self.proc.stderr
        assert out is not None and err is not None
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([out, err], [], [], left)
            for stream in ready:
                chunk = os.read(stream.fileno(), 65536)
                if stream is err:
                    self.errors = (self.errors + chunk)[-4000:]
                elif not chunk:
                    return None
                else:
                    self.buffer += chunk
            if not ready and not self.alive():
                return None
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line

    def _dead(self, start: float) -> RunResult:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.returncode
        if code is not None and code < 0:
            try:
                why = f"killed by {signal.Signals(-code).name}"
            except ValueError:
                why = f"killed by signal {-code}"
            if -code == signal.SIGXCPU:
                return RunResult(
                    ok=False,
                    error="sandbox: CPU time limit exceeded; the process was killed",
                    reason="timeout",
                    elapsed=time.monotonic() - start,
                )
        else:
            why = f"exited with status {code}"
        tail = self.errors.decode("utf-8", errors="replace").strip().splitlines()[-1:]
        if any("MemoryError" in t for t in tail):
            why += " (out of memory)"
        detail = f": {tail[0]}" if tail else ""
        return RunResult(
            ok=False,
            error=f"sandbox: the sandbox process {why}{detail}",
            reason="crashed",
            elapsed=time.monotonic() - start,
        )

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def close(self) -> None:
        if self.alive():
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.alive():
            self.kill()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self.workdir.cleanup()
