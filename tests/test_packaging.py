"""An installed (not editable) luacoder works away from the checkout: what the library reads is package data."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig

import pytest
from conftest import REPO


def run(command: list, cwd=None) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


@pytest.mark.slow
def test_the_wheel_grades_with_its_bundled_standard_library_outside_the_checkout(tmp_path):
    # What the build sees of the checkout: the package, pyproject.toml and the README it names.
    source = tmp_path / "source"
    shutil.copytree(REPO / "luacoder", source / "luacoder", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", tmp_path / "dist", source])
    (wheel,) = (tmp_path / "dist").glob("luacoder-*.whl")

    # A fresh venv whose third-party packages come from this one (a .pth line), with luacoder from the wheel only.
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv])
    site = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([*pip, "--python", venv / "bin" / "python", "install", "--no-deps", "--no-index", "--ignore-installed", wheel])

    work = tmp_path / "elsewhere"
    work.mkdir()
    where = run([venv / "bin" / "python", "-c", "import luacoder; print(luacoder.__file__)"], cwd=work).stdout
    assert where.startswith(str(site))
    api = {"name": "mylib", "entries": [{"name": "mylib.greet", "kind": "function", "module": "mylib"}]}
    (work / "api.json").write_text(json.dumps(api))
    (work / "answer.lua").write_text('local s = string.format("%d", 3)\nmylib.greet(s)\nstring.shout(s)\n')
    graded = run([venv / "bin" / "luacoder", "grade", "answer.lua", "--api_path", "api.json"], cwd=work).stdout
    # string.format is the standard library's (the bundled Lua 5.4 docs); string.shout is in no docs.
    rows = {row["name"]: row["grade"] for row in map(json.loads, graded.splitlines())}
    assert rows == {"string.format": "standard", "mylib.greet": "matched", "string.shout": "hallucinated"}
    # The sandbox's Lua side and the self-instruct prompts come from the wheel too.
    (work / "hello.lua").write_text('print(("ab"):rep(3, "-"))\n')
    ran = run([venv / "bin" / "luacoder", "lua", "run", "hello.lua"], cwd=work).stdout
    assert json.loads(ran)["stdout"] == "ab-ab-ab\n"
    prompts = "from luacoder.selfinstruct.prompts import *; print(load_prompt_file(default_prompt_file(m), m))"
    loaded = run([venv / "bin" / "python", "-c", f"m = 'S->C'\n{prompts}"], cwd=work).stdout
    assert loaded.startswith("FewShotPrompt(mode='S->C'")
