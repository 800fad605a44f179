"""The project's shape: what set-up.sh, CI and the stage folders promise."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO


def test_no_init_py_under_deepspeed():
    assert (REPO / "deepspeed").is_dir()
    assert list((REPO / "deepspeed").rglob("__init__.py")) == []


def test_import_deepspeed_resolves_to_the_library_not_the_repo_folder():
    # Run from the repo root and from inside deepspeed/, where the folder is first on sys.path.
    for cwd in (REPO, REPO / "deepspeed"):
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "import deepspeed; print('@', deepspeed.__file__); print('@', deepspeed.__version__)",
            ],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        out = [line[2:] for line in out if line.startswith("@ ")]  # deepspeed logs to stdout too
        path = Path(out[0]).resolve()
        assert (REPO / "deepspeed") not in path.parents, path
        assert "site-packages" in path.parts, path
        assert re.match(r"\d+\.\d+", out[1])


def test_data_requirements_have_no_torch_or_deepspeed():
    names = {
        re.split(r"[<>=!~\[ ;]", line.strip())[0].lower()
        for line in (REPO / "requirements" / "data.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert "torch" not in names and "deepspeed" not in names
    assert {"markdown-it-py", "tree-sitter-lua", "lupa"} <= names


def test_constraints_pin_exact_versions_and_leave_torch_to_set_up():
    lines = [ln for ln in (REPO / "requirements" / "constraints.txt").read_text().splitlines() if ln and ln[0] != "#"]
    assert len(lines) > 20
    assert all("==" in ln for ln in lines), [ln for ln in lines if "==" not in ln]
    assert not any(ln.lower().startswith(("torch==", "nvidia-")) for ln in lines)


def test_ci_runs_exactly_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    readme = (REPO / "README.md").read_text()
    assert "./set-up.sh test" in ci and "./set-up.sh test" in readme
    assert os.access(REPO / ".ci" / "run", os.X_OK) and os.access(REPO / "set-up.sh", os.X_OK)


def _set_up(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / "set-up.sh"), *args], capture_output=True, text=True, cwd=REPO)


def test_set_up_rejects_an_unknown_environment_with_a_clear_message():
    result = _set_up("--env", "gpu")
    assert result.returncode != 0
    assert "unknown environment 'gpu'" in result.stderr and "data, train, eval or all" in result.stderr


def test_set_up_rejects_an_unknown_argument_and_explains_usage():
    result = _set_up("--frobnicate")
    assert result.returncode != 0
    assert "unknown argument '--frobnicate'" in result.stderr
    assert "--env data|train|eval|all" in result.stderr


def test_set_up_refuses_a_python_that_is_too_old(tmp_path):
    fake = tmp_path / "python3.9"
    fake.write_text("#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'Python 3.9.18'; exit 0; fi\nexit 1\n")
    fake.chmod(0o755)
    result = subprocess.run(
        ["bash", str(REPO / "set-up.sh"), "--venv", str(tmp_path / "venv")],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHON": str(fake)},
    )
    assert result.returncode != 0
    assert "Python 3.9.18 is too old" in result.stderr
    assert not (tmp_path / "venv").exists()


def test_ruff_passes():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--quiet", str(REPO)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_data_file_of_the_package_is_shipped():
    """A non-Python file under luacoder/ (sandbox prelude, chat template, layouts) must be package data, or an
    installed (non-editable) luacoder would fail to find it."""
    import tomllib

    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["luacoder"]
    shipped = {pattern.rsplit("*", 1)[1] for pattern in patterns}
    data_files = [
        p for p in (REPO / "luacoder").rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc") and p.suffix
    ]
    assert data_files, "expected at least the sandbox prelude"
    assert [str(p) for p in data_files if p.suffix not in shipped] == []
