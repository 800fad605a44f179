"""`luacoder docs PATH... -o api.json`: api.json and the skipped report written, counts printed that add up."""

from __future__ import annotations

import json
import re
import textwrap

import pytest

from luacoder.apidocs import load_api
from luacoder.cli import main

MODULE_DOC = """
# `m`: a module

## m.f(x [, y])

Does f.

### Parameters

- `x` (`integer`): first.
- `y` (`string`, optional): second.

### Example

```lua
print(m.f(1))
```

## m.g()

Does g.

## m.f(x)

Documented twice.
"""

BROKEN_DOC = """
# No module here

## n.h()

Lost.
"""


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        rc = main(list(argv))
    except SystemExit as exc:  # argparse usage errors
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def printed_counts(out: str) -> dict[str, int]:
    return {key: int(n) for key, n in re.findall(r"^(files read|entries|skipped):\s+(\d+)", out, re.MULTILINE)}


def docs_folder(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "m.md").write_text(textwrap.dedent(MODULE_DOC).lstrip())
    (folder / "n.md").write_text(textwrap.dedent(BROKEN_DOC).lstrip())
    (folder / "README.md").write_text("# About these docs\n")
    return folder


def test_docs_writes_api_json_and_a_skipped_report_whose_counts_add_up(tmp_path, capsys):
    folder = docs_folder(tmp_path)
    out_path = tmp_path / "out" / "api.json"
    rc, out, _err = run_cli(capsys, "docs", str(folder), "-o", str(out_path), "--name", "mine", "-q")
    assert rc == 0
    api = load_api(out_path)
    assert api.name == "mine" and [e.name for e in api] == ["m.f", "m.g"]
    assert [(p.name, p.optional) for p in api.get("m.f").params] == [("x", False), ("y", True)]
    assert api.get("m.f").examples == ["print(m.f(1))\n"]

    report = tmp_path / "out" / "api.skipped.jsonl"
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    n_md = str(folder / "n.md")
    assert rows == [
        {
            "file": str(folder / "m.md"),
            "line": 22,
            "what": "entry 'm.f'",
            "reason": "duplicate: m.f is documented at m.md:3",
        },
        {
            "file": n_md,
            "line": 1,
            "what": "module heading 'No module here'",
            "reason": "the level-1 heading must name the module in a code span, e.g. # `string`",
        },
        {
            "file": n_md,
            "line": 3,
            "what": "entry 'n.h()'",
            "reason": "no module: the level-1 heading at line 1 does not name it in a code span, e.g. # `string`",
        },
    ]
    counts = printed_counts(out)
    # README.md is not read; two files, two entries, three rows in the report.
    assert counts == {"files read": 2, "entries": len(api), "skipped": len(rows)}
    assert "files read: 2 (lua54 2)" in out and f"-> {report}" in out


def test_docs_takes_a_layout_file_and_an_explicit_report_path(tmp_path, capsys):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "api.txt").write_text("#### `x.one(a)`\n\nOne.\n\n#### `x.two()`\n\nTwo.\n")
    layout = tmp_path / "mine.yaml"
    layout.write_text(
        "name: mine\nfiles: ['*.txt']\nmodule: {sources: [name]}\nentry: {heading: 4, code_heading: true}\n"
    )
    report = tmp_path / "skips.jsonl"
    rc, out, _ = run_cli(
        capsys,
        "docs",
        str(folder),
        "-o",
        str(tmp_path / "api.json"),
        "--layout",
        str(layout),
        "--skipped",
        str(report),
    )
    assert rc == 0
    assert [(e.name, e.module, [p.name for p in e.params]) for e in load_api(tmp_path / "api.json")] == [
        ("x.one", "x", ["a"]),
        ("x.two", "x", []),
    ]
    assert report.read_text() == "" and not (tmp_path / "api.skipped.jsonl").exists()
    assert printed_counts(out) == {"files read": 1, "entries": 2, "skipped": 0}


def test_docs_replaces_a_stale_report_and_keeps_the_old_api_json_on_failure(tmp_path, capsys):
    folder = docs_folder(tmp_path)
    out_path = tmp_path / "api.json"
    report = tmp_path / "api.skipped.jsonl"
    report.write_text('{"stale": true}\n')
    (folder / "n.md").unlink()
    (folder / "m.md").write_text("# `m`\n\n## m.f()\n\nF.\n")
    assert run_cli(capsys, "docs", str(folder), "-o", str(out_path), "-q")[0] == 0
    assert report.read_text() == ""
    before = out_path.read_text()

    (folder / "m.md").write_text("# Nothing\n\n## x()\n")
    rc, out, err = run_cli(capsys, "docs", str(folder / "m.md"), "-o", str(out_path), "--layout", "lua54", "-q")
    assert rc == 2 and out == ""
    assert "luacoder docs: error: no API entries found in" in err and "m.md:1: module heading 'Nothing'" in err
    assert out_path.read_text() == before


@pytest.mark.parametrize(
    "argv, code, message",
    [
        (["docs"], 2, "give at least one PATH and -o api.json"),
        (["docs", "nowhere", "-o", "api.json"], 2, "nowhere: no such file or folder"),
        (["docs", ".", "-o", "api.json", "--layout", "sphinx"], 2, "no layout named 'sphinx'"),
    ],
)
def test_docs_usage_errors(tmp_path, capsys, monkeypatch, argv, code, message):
    monkeypatch.chdir(tmp_path)
    rc, _out, err = run_cli(capsys, *argv)
    assert rc == code and message in err
    assert not (tmp_path / "api.json").exists()


def test_docs_output_naming_a_folder_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "m.md").write_text(MODULE_DOC)
    (tmp_path / "out").mkdir()
    rc, _out, err = run_cli(capsys, "docs", str(tmp_path / "m.md"), "-o", str(tmp_path / "out"), "-q")
    assert rc == 2 and f"-o {tmp_path / 'out'} is a folder; name the file to write" in err
    assert list((tmp_path / "out").iterdir()) == []


def test_docs_lists_the_shipped_layouts(capsys):
    rc, out, _ = run_cli(capsys, "docs", "--list_layouts")
    assert rc == 0
    assert [line.split()[0] for line in out.splitlines()] == ["lua54", "luv", "solar2d"]
