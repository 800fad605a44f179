"""Running graded answers' code in the Lua sandbox, many at once, each distinct program once.

With `prelude` (the API stubs of `luacoder.lua.stubs.stub_prelude`), code that calls the host API runs too, and a
run that raised an API error (an undocumented member, a call that fits no documented form; caught or not) has not
run: its reason is "api"."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from tqdm import tqdm

from luacoder.files import JsonlLog, stable_hash
from luacoder.grading.answer import AnswerGrade, apply_run
from luacoder.lua.sandbox import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT, LuaJob, iter_run_parallel
from luacoder.lua.stubs import api_error_of

# Code that opens files gets an empty in-memory file system rather than an error: writing then reading works.
ALLOW = ("files",)


class ExecutionCache:
    """Sandbox outcomes ({"ok", "reason"}) by code and limits."""

    def __init__(self, path: str | os.PathLike):
        self.log = JsonlLog(path)
        self.results = {row["key"]: {"ok": row["ok"], "reason": row["reason"]} for row in self.log.load()}

    @staticmethod
    def key(code: str, limits: dict[str, Any]) -> str:
        return stable_hash({"code": code, "limits": limits})

    def add(self, rows: Sequence[tuple[str, dict[str, Any]]]) -> None:
        self.log.append({"key": key, **result} for key, result in rows)
        for key, result in rows:
            self.results[key] = result


def execute_grades(
    grades: Sequence[AnswerGrade],
    cache: ExecutionCache | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    memory_mb: float = DEFAULT_MEMORY_MB,
    desc: str = "sandbox",
    workers: int | None = None,
    prelude: str = "",
) -> None:
    """Run the code of every grade that has code that parses (`workers` sandbox children at once, by default this
    process's share of the cores), and record the outcome on each grade (`apply_run`). Outcomes already in `cache`
    are reused; new ones are added to it. `prelude` runs before each program (the API stubs: see the module)."""
    limits = {"timeout": timeout, "memory_mb": memory_mb, "allow": list(ALLOW)}
    if prelude:
        limits["stubs"] = stable_hash(prelude)
    results = cache.results if cache is not None else {}
    keys = [ExecutionCache.key(g.code, limits) if g.has_code and g.syntax_valid else None for g in grades]
    missing = {k: g.code for k, g in zip(keys, grades, strict=True) if k is not None and k not in results}
    jobs = (LuaJob(code, timeout, memory_mb, allow=ALLOW, prelude=prelude) for code in missing.values())
    outcomes = []
    for key, run in zip(
        missing,
        tqdm(iter_run_parallel(jobs, workers), total=len(missing), desc=desc, unit="program", disable=not missing),
        strict=True,
    ):
        if run.reason == "prelude":  # the stubs themselves failed: no answer's outcome would mean anything
            raise RuntimeError(f"the API stubs do not run in the sandbox: {run.error}")
        api_error = api_error_of(run) if prelude else None
        outcomes.append((key, {"ok": run.ok and api_error is None, "reason": "api" if api_error else run.reason}))
    if cache is not None:
        cache.add(outcomes)
    else:
        results.update(outcomes)
    for key, grade in zip(keys, grades, strict=True):
        apply_run(grade, None if key is None else results[key])
