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

OTHER_DOC = """
# `n`

## n.h()

H.

## m.g()

Documented again in another file.
"""

PROSE_DOC = """
# Notes

Call `setup(config)` before anything else; then ask(question) as often as you like.

    setup(config)
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
    (folder / "n.md").write_text(textwrap.dedent(OTHER_DOC).lstrip())
    (folder / "notes.md").write_text(textwrap.dedent(PROSE_DOC).lstrip())
    (folder / "README.md").write_text("# About these docs\n")
    return folder


def test_docs_writes_api_json_and_a_skipped_report_whose_counts_add_up(tmp_path, capsys):
    folder = docs_folder(tmp_path)
    out_path = tmp_path / "out" / "api.json"
    rc, out, _err = run_cli(capsys, "docs", str(folder), "-o", str(out_path), "--name", "mine", "-q")
    assert rc == 0
    api = load_api(out_path)
    assert api.name == "mine" and [e.name for e in api] == ["m.f", "m.g", "n.h"]
    # m.f written twice in one file: two call forms of one entry.
    assert [[(p.name, p.optional) for p in form.params] for form in api.get("m.f").forms] == [
        [("x", False), ("y", True)],
        [("x", False)],
    ]
    assert api.get("m.f").examples == ["print(m.f(1))\n"] and api.get("m.f").params[0].type == "integer"

    report = tmp_path / "out" / "api.skipped.jsonl"
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert rows == [
        {
            "file": str(folder / "n.md"),
            "line": 7,
            "what": "entry 'm.g'",
            "reason": "duplicate: m.g is documented at m.md:18",
        },
        {
            "file": str(folder / "notes.md"),
            "line": 1,
            "what": "file",
            "reason": "no entry (markdown): no line that reads as a Lua call signature",
        },
    ]
    counts = printed_counts(out)
    # README.md is not read; three files, three entries, two rows in the report.
    assert counts == {"files read": 3, "entries": len(api), "skipped": len(rows)}
    assert "files read: 3 (markdown 3)" in out and f"-> {report}" in out


def test_docs_explains_the_lines_that_looked_like_signatures_in_a_file_read_short(tmp_path, capsys):
    doc = tmp_path / "game.md"
    doc.write_text("# Game\n\nspawn(kind, x, y)\n\nSpawns a thing.\n\nwalk(1, 2)\n")
    rc, _out, message = run_cli(capsys, "docs", str(doc), "-o", str(tmp_path / "api.json"))
    assert rc == 2 and "no API entries found" in message and "lines that looked like signatures" in message
    assert "line 3: 'spawn(kind, x, y)': too little evidence (2 of 3 points: paragraph 1, description 1)" in message
    assert "line 7: 'walk(1, 2)': its arguments are values, not parameter names: an example call" in message
    # A file read short among others is explained on stdout, beside the counts.
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "game.md").write_text(doc.read_text() + "\n## game.quit()\n\nQuits.\n")
    (folder / "m.md").write_text(textwrap.dedent(MODULE_DOC).lstrip())
    rc, out, _err = run_cli(capsys, "docs", str(folder), "-o", str(tmp_path / "api.json"))
    assert rc == 0
    assert f"{folder / 'game.md'}: 1 entries; 2 line(s) looked like signatures:" in out
    assert "  line 3: 'spawn(kind, x, y)': too little evidence" in out and "entries: [{heading: 4}]" in out
    assert f"{folder / 'm.md'}:" not in out  # read in full: nothing to explain
    # The three-line override the explanation points to reads it.
    layout = tmp_path / "game.yaml"
    layout.write_text("name: game\nentries: [{kind: paragraph}]\n")
    rc, out, _err = run_cli(capsys, "docs", str(doc), "-o", str(tmp_path / "api.json"), "--layout", str(layout))
    assert rc == 0 and [e.name for e in load_api(tmp_path / "api.json")] == ["spawn"]


def test_docs_takes_a_layout_file_and_an_explicit_report_path(tmp_path, capsys):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "api.txt").write_text("x.one(a)\n    One.\n\nx.two()\n    Two.\n")
    (folder / "notes.md").write_text("# `x.three(b)`\n\nNot read: the layout takes *.txt only.\n")
    layout = tmp_path / "mine.yaml"
    layout.write_text("name: mine\nfiles: ['*.txt']\nentries: [{kind: paragraph}]\n")
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
    (folder / "notes.md").unlink()
    (folder / "m.md").write_text("# `m`\n\n## m.f()\n\nF.\n")
    assert run_cli(capsys, "docs", str(folder), "-o", str(out_path), "-q")[0] == 0
    assert report.read_text() == ""
    before = out_path.read_text()

    (folder / "m.md").write_text("# Nothing\n\nJust words here.\n")
    rc, out, err = run_cli(capsys, "docs", str(folder / "m.md"), "-o", str(out_path), "-q")
    assert rc == 2 and out == ""
    assert "luacoder docs: error: no API entries found in" in err and "m.md:1: file: no entry" in err
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
