"""`luacoder lua calls` and `luacoder lua run` on .lua and Markdown files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from luacoder.apidocs.schema import ApiEntry, ApiSet, save_api
from luacoder.cli import main

ANSWER_MD = """Use `string.format`:

```lua
local fmt = string.format
print(fmt("%d items", 3))
```

and then

```
local t = {}
t.x.y = 1
```
"""


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        rc = main(list(argv))
    except SystemExit as exc:  # argparse usage errors
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def test_calls_on_a_lua_file(tmp_path, capsys):
    path = tmp_path / "a.lua"
    path.write_text('local s = string\nprint(s.rep("x", 2))\nio.open("f"):read("a")\n')
    rc, out, _ = run_cli(capsys, "lua", "calls", str(path))
    assert rc == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["name"], r["resolved"], r["line"], r["args"]) for r in rows] == [
        ("print", "print", 2, 1),
        ("s.rep", "string.rep", 2, 2),
        ("io.open(...):read", "io.open(...):read", 3, 1),
        ("io.open", "io.open", 3, 1),
    ]
    assert all("status" not in r for r in rows)


def test_calls_on_markdown_with_an_api(tmp_path, capsys):
    md = tmp_path / "answer.md"
    md.write_text(ANSWER_MD)
    api = tmp_path / "api.json"
    entries = [
        ApiEntry(name="string.format", kind="function", module="string", signature="string.format(fmt, ...)"),
        ApiEntry(name="print", kind="function", module="_G", signature="print(...)"),
    ]
    save_api(ApiSet(name="t", entries=entries), api)
    md.write_text(ANSWER_MD + "\n```lua\nlocal function f() end\nf()\nnope()\n```\n")
    rc, out, _ = run_cli(capsys, "grade", str(md), "--api_path", str(api))
    assert rc == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["name"], r["resolved"], r["line"], r["status"]) for r in rows] == [
        ("print", "print", 5, "known"),
        ("fmt", "string.format", 5, "known"),
        ("f", "f", 17, "local"),
        ("nope", "nope", 18, "unknown"),
    ]


def test_calls_usage_errors(tmp_path, capsys):
    rc, _, err = run_cli(capsys, "lua", "calls", str(tmp_path / "missing.lua"))
    assert rc == 2 and "missing.lua: no such file" in err
    empty = tmp_path / "empty.md"
    empty.write_text("no code here")
    rc, _, err = run_cli(capsys, "lua", "calls", str(empty))
    assert rc == 2 and "no Lua code blocks" in err
    bad_api = tmp_path / "api.json"
    bad_api.write_text("{")
    lua = tmp_path / "a.lua"
    lua.write_text("print(1)")
    rc, _, err = run_cli(capsys, "grade", str(lua), "--api_path", str(bad_api))
    assert rc == 2 and "api.json:1" in err


def test_calls_reports_syntax_errors_with_file_and_line(tmp_path, capsys):
    path = tmp_path / "bad.lua"
    path.write_text("print(1)\nlocal = 2\n")
    rc, out, err = run_cli(capsys, "lua", "calls", str(path))
    assert rc == 0
    assert f"{path}:2:" in err and "syntax error" in err
    assert json.loads(out.splitlines()[0])["syntax_ok"] is False


def test_run_exit_codes_and_positions(tmp_path, capsys):
    ok = tmp_path / "ok.lua"
    ok.write_text('print(("%d"):format(7))\n')
    rc, out, _ = run_cli(capsys, "lua", "run", str(ok))
    result = json.loads(out)
    assert rc == 0 and result["ok"] and result["stdout"] == "7\n" and "elapsed" in result

    failing = tmp_path / "fail.lua"
    failing.write_text("print(1)\n\nerror('boom')\n")
    rc, out, _ = run_cli(capsys, "lua", "run", str(failing))
    result = json.loads(out)
    assert rc == 1 and not result["ok"] and result["error"] == f"{failing}:3: boom" and result["stdout"] == "1\n"

    md = tmp_path / "answer.md"
    md.write_text(ANSWER_MD)
    rc, out, _ = run_cli(capsys, "lua", "run", str(md))
    result = json.loads(out)
    assert rc == 1 and result["stdout"] == "3 items\n"
    assert result["error"].startswith(f"{md}:12:") and "attempt to index a nil value" in result["error"]

    loop = tmp_path / "loop.lua"
    loop.write_text("while true do end")
    rc, out, _ = run_cli(capsys, "lua", "run", str(loop), "--timeout", "1", "--instructions", str(10**12))
    assert rc == 1 and json.loads(out)["reason"] == "timeout"

    bomb = tmp_path / "bomb.lua"
    bomb.write_text("local t = {} for i = 1, math.huge do t[i] = i end")
    rc, out, _ = run_cli(capsys, "lua", "run", str(bomb), "--memory_mb", "16")
    assert rc == 1 and json.loads(out)["reason"] == "memory"


def test_run_usage_errors(tmp_path, capsys):
    rc, _, err = run_cli(capsys, "lua", "run", str(tmp_path / "none.lua"))
    assert rc == 2 and "none.lua: no such file" in err
    path = tmp_path / "a.lua"
    path.write_text("print(1)")
    rc, _, _ = run_cli(capsys, "lua", "run", str(path), "--timeout", "soon")
    assert rc == 2
    rc, _, err = run_cli(capsys, "lua", "run", str(path), "--timeout", "0")
    assert rc == 2 and "positive" in err


@pytest.mark.slow
def test_console_script(tmp_path):
    path = tmp_path / "a.lua"
    path.write_text("print('hi')")
    exe = Path(sys.executable).with_name("luacoder")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "luacoder.cli"]
    proc = subprocess.run([*command, "lua", "run", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and json.loads(proc.stdout)["stdout"] == "hi\n"
    proc = subprocess.run([*command, "lua", "run"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
