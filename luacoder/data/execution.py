"""The execution filter: code that needs only what the sandbox offers is kept only if it runs there.

Every piece of code runs in luacoder.lua.sandbox (one child process for the batch, a fresh Lua state per piece).
The verdict is one of:

- "passed": it ran to its end;
- "failed": it raised an error or hit a limit (the row is removed, with the error);
- "needs-host": it stopped only because it needs what the sandbox does not offer: a function the sandbox denies
  (`os.execute`, `io.popen`), a module it cannot `require` (your project's or a host's), or a documented name the
  sandbox lacks (a host API such as `display.newRect`). Such code is kept without proof that it runs, and counted;
- "not-run": the caller marked it as needing the host (a docs example tagged `needs-host`), so it is not run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tqdm import tqdm

from luacoder.apidocs.schema import ApiEntry
from luacoder.data.config import SandboxConfig
from luacoder.lua.sandbox import LuaJob, iter_run_many

_DENIED = re.compile(r"sandbox: (\S+) is not allowed")
_NO_MODULE = re.compile(r"module '[^']+' not found")
_MISSING = re.compile(r"attempt to (?:call|index) a nil value \((?:global|field) '([A-Za-z_][A-Za-z0-9_]*)'\)")


@dataclass
class Verdict:
    status: str  # passed, failed, needs-host, not-run
    error: str | None = None
    reason: str | None = None  # the sandbox's reason for a failure: error, timeout, memory, ...
    stdout: str = ""  # what the code printed, when it ran

    @property
    def keep(self) -> bool:
        return self.status != "failed"


class ExecutionFilter:
    def __init__(self, sandbox: SandboxConfig, entries: Iterable[ApiEntry] = ()):
        self.sandbox = sandbox
        # Names whose absence means "the host would have it": every part of every documented name.
        self.documented: set[str] = set()
        for entry in entries:
            for name in [entry.name, *entry.aliases]:
                self.documented.update(p for p in re.split(r"[.:]", name) if p)
        self._cache: dict[str, Verdict] = {}

    def job(self, code: str) -> LuaJob:
        s = self.sandbox
        return LuaJob(
            code,
            timeout=s.timeout,
            memory_mb=s.memory_mb,
            instructions=s.instructions,
            files=dict(s.files),
            allow=list(s.allow),
        )

    def verdict_for(self, error: str | None, reason: str | None) -> Verdict:
        text = error or ""
        if reason == "error":
            if _DENIED.search(text) or _NO_MODULE.search(text):
                return Verdict("needs-host", text, reason)
            missing = _MISSING.search(text)
            if missing and missing.group(1) in self.documented:
                return Verdict("needs-host", text, reason)
        return Verdict("failed", text or "sandbox: stopped", reason)

    def run(
        self, codes: Sequence[str], needs_host: Sequence[bool] | None = None, desc: str = "execution filter"
    ) -> list[Verdict]:
        """One verdict per code, in order; identical code runs once."""
        needs_host = needs_host or [False] * len(codes)
        todo = sorted({c for c, host in zip(codes, needs_host, strict=True) if not host and c not in self._cache})
        if todo:
            results = iter_run_many(self.job(c) for c in todo)
            progress = tqdm(zip(todo, results, strict=True), total=len(todo), desc=desc, unit="snippet", mininterval=2)
            for code, result in progress:
                verdict = Verdict("passed") if result.ok else self.verdict_for(result.error, result.reason)
                verdict.stdout = result.stdout
                self._cache[code] = verdict
        return [Verdict("not-run") if host else self._cache[c] for c, host in zip(codes, needs_host, strict=True)]
