"""The bundled Lua 5.4 standard-library docs: complete, to the convention, and every example runs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import BUNDLED_DOCS

from luacoder.apidocs.markdown import read_markdown_docs

RUN_ONE = textwrap.dedent(
    """
    import sys
    from lupa import lua54
    lua54.LuaRuntime().execute(sys.stdin.read())
    """
)


@pytest.fixture(scope="module")
def api():
    return read_markdown_docs([BUNDLED_DOCS], name="lua54")


def test_at_least_150_entries_covering_the_whole_standard_library(api):
    assert len(api) >= 150
    modules = {e.module for e in api}
    assert {"_G", "string", "table", "math", "io", "os", "coroutine", "utf8"} <= modules
    names = {e.name for e in api}
    for name in [
        "print",
        "pcall",
        "string.format",
        "string.gsub",
        "table.concat",
        "math.floor",
        "io.open",
        "file:read",
        "file:write",
        "os.time",
        "coroutine.wrap",
        "utf8.char",
        "math.pi",
        "io.stdout",
    ]:
        assert name in names, name


def test_every_entry_is_complete(api):
    for e in api:
        where = f"{e.source.file}:{e.source.line} ({e.name})"
        assert e.description, where
        assert e.examples, where
        if e.kind in ("function", "method") and "(" in e.signature and not e.signature.endswith("()"):
            assert e.params, where
            assert all(p.type and p.description for p in e.params), where
    kinds = {e.kind for e in api}
    assert kinds == {"function", "method", "field", "event"}
    assert api.get("file:read").kind == "method" and api.get("file:read").module == "io"
    assert api.get("string.find").arity() == (2, 4)
    assert api.get("print").arity()[1] == float("inf")
    assert "s:rep" in api.get("string.rep").aliases


def _run(code: str, cwd: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", RUN_ONE], input=code, text=True, capture_output=True, cwd=cwd, timeout=60
    )


@pytest.mark.slow
def test_every_example_runs_under_lua54_and_prints(api, tmp_path):
    jobs = []
    for e in api:
        for i, code in enumerate(e.examples):
            cwd = tmp_path / f"{e.name.replace(':', '.')}-{i}"
            cwd.mkdir()
            jobs.append((e, i, code, cwd))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = list(pool.map(lambda job: _run(job[2], str(job[3])), jobs))
    failures = []
    for (e, i, _code, cwd), result in zip(jobs, results, strict=True):
        if result.returncode != 0 or not result.stdout.strip():
            failures.append(f"{e.name} example {i}: rc={result.returncode} {result.stderr.strip()[-300:]}")
        # Examples clean up the files they make.
        left = [p.name for p in cwd.iterdir()]
        if left:
            failures.append(f"{e.name} example {i} left files behind: {left}")
    assert not failures, "\n".join(failures)
    assert len(jobs) >= len(api)
