"""The sandbox's child process: `python -m luacoder.lua._child`, one JSON job per stdin line, one result per line.

The parent (luacoder.lua.sandbox) started it with OS resource limits; this side adds the Lua-level ones (a fresh
LuaRuntime per job with its own memory cap, the whitelist environment, the instruction budget) and keeps the CPU
limit a few seconds ahead of each job. Nothing here trusts the code it runs.
"""

from __future__ import annotations

import gc
import json
import math
import resource
import sys
import time
from importlib.resources import files

# The Lua side of the sandbox (whitelist environment, limits, output capture); the chunk name marks its functions.
PRELUDE = files("luacoder.lua").joinpath("sandbox_prelude.lua").read_bytes()
SANDBOX_CHUNKNAME = "=[sandbox]"
# `require('luaunit')` under the "luaunit" allowance (MultiPL-E's tests): a luaunit-compatible module.
LUAUNIT = files("luacoder.lua").joinpath("luaunit.lua").read_bytes()


def _deny_attributes(obj, name, is_setting):
    # No Python object is ever handed to the sandbox; should one slip through, none of its attributes are reachable.
    raise AttributeError("Python attributes are not accessible from the sandbox")


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def run_job(job: dict) -> dict:
    from lupa import lua54

    start = time.perf_counter()
    memory = int(job.get("memory_mb", 64) * 2**20)
    runtime = lua54.LuaRuntime(
        register_eval=False,
        register_builtins=False,
        unpack_returned_tuples=True,
        max_memory=memory,
        encoding=None,
        attribute_filter=_deny_attributes,
    )
    result: dict = {"ok": False, "stdout": "", "stderr": "", "error": None, "reason": None, "exit_code": None}
    try:
        cfg = runtime.table_from(
            {
                b"instructions": int(job.get("instructions", 100_000_000)),
                b"timeout": float(job.get("timeout", 5.0)),
                b"output_limit": int(job.get("output_limit", 1_000_000)),
                b"chunkname": ("=" + job.get("chunkname", "input")).encode(),
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
        status, collect_output = factory(job["code"].encode("utf-8"), cfg)
        # Room to gather the output even when the code left the heap at its limit.
        runtime.set_max_memory(memory + 64 * 2**20)
        stdout, stderr = collect_output()
        result.update(
            ok=bool(status[b"ok"]),
            stdout=_text(stdout),
            stderr=_text(stderr),
            error=_text(status[b"error"]) or None,
            reason=_text(status[b"reason"]) or None,
            exit_code=status[b"exit_code"],
            instructions=status[b"instructions"],
        )
    except lua54.LuaMemoryError:
        result.update(error="sandbox: memory limit exceeded", reason="memory")
    except lua54.LuaError as exc:
        result.update(error=f"sandbox: {_text(exc.args[0] if exc.args else exc)}", reason="error")
    finally:
        # Closing the state runs the code's pending finalizers (__gc); they count against this job's wall time.
        status = collect_output = factory = cfg = None
        del runtime
        gc.collect()
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

    sys.stdout.write('{"ready": true}\n')
    sys.stdout.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        _limit_cpu(float(job.get("timeout", 5.0)) + 1)
        try:
            result = run_job(job)
        except MemoryError:
            result = {"ok": False, "error": "sandbox: memory limit exceeded", "reason": "memory"}
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
