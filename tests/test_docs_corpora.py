"""Fidelity on documentation nobody in this project wrote (../shared/corpora) and on the bundled docs.

The expected entries are derived here from the raw files, line by line with regexes (the reader itself never
looks at raw lines): luv's `### `uv.name(args)`` headings and `> method form` lines, Solar2D's `__Type__` /
`__Object__` rows, `# title` lines and the `##### name ~^(optional)^~` headings of each `## Syntax` section.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from conftest import BUNDLED_DOCS, CORPORA, need

from luacoder.apidocs import read_docs

LUV_DOCS = CORPORA / "luvit-luv" / "docs" / "docs.md"
SOLAR2D_API = CORPORA / "solar2d-corona-docs" / "markdown" / "api"


def optional_name(name: str) -> bool:
    return name == "..."  # the schema's convention: a variable argument list may be empty


# -- luv ------------------------------------------------------------------------------------------------------------


def luv_truth() -> dict[str, dict]:
    """{name: {"params": [(name, optional)], "alias": "tcp:bind" or None}} from the heading and quote lines."""
    truth: dict[str, dict] = {}
    current = None
    for line in LUV_DOCS.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^### `(uv\.\w+)\((.*)\)`\s*$", line)
        if heading:
            current = heading.group(1)
            args = [a for a in heading.group(2).split(",") if a.strip()]
            params = [(a.strip(" []"), "[" in a or optional_name(a.strip())) for a in args]
            truth[current] = {"params": params, "alias": None}
        elif line.startswith("#"):
            current = None
        elif current and (form := re.match(r"^> method form `(\w+:\w+)\(", line)):
            truth[current]["alias"] = form.group(1)
    return truth


@pytest.fixture(scope="module")
def luv():
    need(LUV_DOCS)
    return read_docs([LUV_DOCS])


def test_luv_functions_have_their_names_parameters_and_method_forms(luv):
    truth = luv_truth()
    assert len(truth) == 238 and sum(1 for t in truth.values() if t["alias"]) == 107
    wrong = []
    for name, expected in truth.items():
        entry = luv.api.get(name)
        if entry is None:
            wrong.append(f"{name}: missing")
            continue
        got = [(p.name, p.optional) for p in entry.params]
        if got != expected["params"]:
            wrong.append(f"{name}: params {got}, expected {expected['params']}")
        if expected["alias"] and expected["alias"] not in entry.aliases:
            wrong.append(f"{name}: aliases {entry.aliases}, expected {expected['alias']}")
        if entry.kind != "function" or entry.module != "uv":
            wrong.append(f"{name}: kind {entry.kind}, module {entry.module}")
    right = len(truth) - len({line.split(":")[0] for line in wrong})
    assert right >= 236, f"{right}/{len(truth)} right:\n" + "\n".join(wrong)
    assert len(luv.api) == len(truth), sorted({e.name for e in luv.api} - set(truth))
    assert luv.layouts == {str(LUV_DOCS): "luv"} and luv.detections[0].layout == "luv"
    # Every entry heading became an entry: nothing of luv is skipped.
    assert luv.skipped == []


def test_luv_entries_carry_types_returns_and_examples(luv):
    bind = luv.api.get("uv.tcp_bind")
    assert [(p.name, p.type, p.optional) for p in bind.params] == [
        ("tcp", "uv_tcp_t userdata", False),
        ("host", "string", False),
        ("port", "integer", False),
        ("flags", "table|nil", True),
    ]
    assert [r.type for r in bind.returns] == ["0|fail"]
    assert bind.aliases == ["tcp:bind"]
    assert [r.type for r in luv.api.get("uv.spawn").returns] == [
        "uv_process_t userdata|nil",
        "integer|string",
        "uv.error_name|nil",
    ]
    assert luv.api.get("uv.spawn").examples[0].startswith("local stdin = uv.new_pipe()")
    assert sum(1 for e in luv.api if e.returns) >= 200


# -- Solar2D --------------------------------------------------------------------------------------------------------


def bracket_args(inside: str, marked_optional: set[str] = frozenset()) -> list[tuple[str, bool]]:
    """`[parent,] filename [, width, height]` -> [(name, inside brackets)]: depth counted character by character; a
    table literal `{ channel=c }` is one argument; names in `marked_optional` are optional too."""
    args, depth, braces, current, optional = [], 0, 0, "", False
    for ch in inside + ",":
        braces += {"{": 1, "}": -1}.get(ch, 0)
        if braces == 0 and ch in "[]," and current.strip():
            name = current.strip()
            args.append((name, optional or name == "..." or name in marked_optional))
            current = ""
        if braces == 0 and ch == "[":
            depth += 1
        elif braces == 0 and ch == "]":
            depth -= 1
        elif braces > 0 or ch != ",":
            if not current.strip():
                optional = depth > 0
            current += ch
    return args


def solar2d_truth() -> dict[str, tuple[str, list[list[tuple[str, bool]]]]]:
    """{qualified name: (file, [[(param, optional)] per call form])} for every page whose __Type__ row says
    Function; the forms are the tab-indented lines of its `## Syntax*` sections that start with the page's name."""
    truth = {}
    for path in sorted(SOLAR2D_API.rglob("*.markdown")):
        text = path.read_text(encoding="utf-8").replace("\r\n", "\n").replace("\r", "\n")
        if not re.search(r"^>\s*__Type__\s+\[Function\]", text, re.MULTILINE):
            continue
        title = re.search(r"^# (.+?)\s*$", text, re.MULTILINE).group(1)
        title = re.sub(r"<span style=\"display: none;\">.*?</span>", "", title)
        written = title.split("(")[0].strip()
        name = written
        if ":" in name:
            object_row = re.search(r"^>\s*__Object__\s+\[(\w+)\]", text, re.MULTILINE)
            name = (object_row.group(1) if object_row else path.parent.name) + ":" + name.split(":")[1]
        forms = []
        for syntax in re.finditer(r"^## Syntax[^\n]*$(.*?)(?=^## )", text + "\n## ", re.MULTILINE | re.DOTALL):
            lines = [
                call.group(1)
                for line in re.findall(r"^\t+(\S.*?)\s*$", syntax.group(1), re.MULTILINE)
                if (call := re.match(re.escape(written) + r"\s*\((.*)\)", line.split("--")[0].strip()))
            ]
            # One line with no [ ]: its `##### name ~^(optional)^~` headings say what is optional.
            marked = set()
            if len(lines) == 1 and "[" not in lines[0]:
                for heading in re.findall(r"^##### (.+?) ~\^\(optional\)\^~", syntax.group(1), re.MULTILINE):
                    marked |= {n.strip(" []") for n in re.split(r"[,/]", heading)}
            forms += [bracket_args(args, marked) for args in lines]
        truth[name] = (path.relative_to(SOLAR2D_API).as_posix(), forms)
    return truth


@pytest.fixture(scope="module")
def solar2d():
    need(SOLAR2D_API)
    return read_docs([SOLAR2D_API])


@pytest.mark.slow
def test_solar2d_functions_are_qualified_by_object_type_with_optional_flags(solar2d):
    truth = solar2d_truth()
    # The corpus README counts 456 with `__Type__ +[Function]`; 9 more pages separate the row with tabs.
    assert len(truth) == 465
    assert sum(1 for f, _ in truth.values() if f.startswith("type/")) == 161
    wrong = []
    for name, (file, forms) in truth.items():
        entry = solar2d.api.get(name)
        if entry is None:
            wrong.append(f"{name} ({file}): missing")
            continue
        got = [[(p.name, p.optional) for p in form.params] for form in entry.forms] or [
            [(p.name, p.optional) for p in entry.params]
        ]
        # A written table literal (`{ channel=c }`) or `a | b` has no one name: only its optional flag is compared.
        forms = [[(n if re.fullmatch(r"\w+|\.\.\.", n) else None, o) for n, o in form] for form in forms]
        got = [[(n if any(t[0] == n for f in forms for t in f) else None, o) for n, o in form] for form in got]
        if forms and not all(form in got for form in forms):  # more forms (space-indented lines) are not wrong
            wrong.append(f"{name} ({file}): forms {got}, expected {forms}")
        if entry.kind != ("method" if ":" in name else "function") or entry.source.file != file:
            wrong.append(f"{name} ({file}): kind {entry.kind}, source {entry.source.file}")
    right = len(truth) - len(wrong)
    assert right >= 450 and right >= len(truth) - 6, f"{right}/{len(truth)} right:\n" + "\n".join(wrong)
    assert not [e.name for e in solar2d.api if e.name.startswith(("object:", "texture:"))]
    assert {e.name for e in solar2d.api} == set(truth)


@pytest.mark.slow
def test_solar2d_every_page_is_an_entry_or_a_skipped_row_with_its_reason(solar2d):
    pages = sorted(p.relative_to(SOLAR2D_API).as_posix() for p in SOLAR2D_API.rglob("*.markdown"))
    assert len(pages) == 1162 and solar2d.files == 1162  # LICENSE.md is not read
    assert set(solar2d.layouts.values()) == {"solar2d"}
    from_entries = [e.source.file for e in solar2d.api]
    skipped_pages = [s for s in solar2d.skipped if s.what != "example"]
    from_skipped = [Path(s.file).relative_to(SOLAR2D_API).as_posix() for s in skipped_pages]
    assert sorted(from_entries + from_skipped) == pages
    reasons = {s.reason.split(";")[0] for s in skipped_pages}
    assert "its __Type__ is Number" in reasons and "the metadata table has no __Type__ row" in reasons
    examples = [s for s in solar2d.skipped if s.what == "example"]
    assert [(Path(s.file).name, s.line) for s in examples] == [("setStrokeVertexColor.markdown", 54)]


@pytest.mark.slow
def test_solar2d_entries_carry_types_returns_modules_and_examples(solar2d):
    fill = solar2d.api.get("ShapeObject:setFillColor")
    assert fill.module == "display" and fill.signature.startswith("ShapeObject:setFillColor( gray )\n")
    assert [[(p.name, p.type) for p in form.params] for form in fill.forms][-1] == [("gradient", "Table")]
    # Each signature line is a whole call: no form takes no argument, so `setFillColor()` is an arity error.
    assert fill.arities() == [(1, 1), (2, 2), (3, 3), (4, 4), (1, 1)]
    image = solar2d.api.get("display.newImageRect")
    assert [[p.name for p in f.params if not p.optional] for f in image.forms] == [
        ["filename", "width", "height"],
        ["imageSheet", "frameIndex", "width", "height"],
    ]
    text = solar2d.api.get("display.newText")
    options = text.forms[0].params
    assert [p.name for p in options] == ["options"] and options[0].type == "table"
    assert {"text", "font", "align"} <= {f.name for f in options[0].fields}
    assert text.arities() == [(1, 1), (4, 8)]
    assert solar2d.api.get("physics.newJoint").arity() == (1, math.inf)
    play = solar2d.api.get("audio.play")
    assert [(p.name, p.type, p.optional) for p in play.params] == [
        ("audioHandle", "Object", False),
        ("options", "Table", True),
    ]
    assert [r.type for r in play.returns] == ["Number"] and play.examples
    assert solar2d.api.get("print").module == "_G" and solar2d.api.get("require").module == "package"
    assert solar2d.api.get("ButtonWidget:setLabel").module == "widget"
    assert "s:len" in solar2d.api.get("string.len").aliases
    assert sum(1 for e in solar2d.api if e.examples) >= 400


# -- bundled docs -----------------------------------------------------------------------------------------------


def test_bundled_docs_every_entry_and_nothing_skipped():
    headings = []
    for path in sorted(BUNDLED_DOCS.glob("*.md")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.startswith("## "):
                headings.append((line[3:].split("(")[0].strip(), path.name, number))
    result = read_docs([BUNDLED_DOCS])
    assert len(headings) == 177
    assert [(e.name, e.source.file, e.source.line) for e in result.api] == headings
    assert result.skipped == [] and set(result.layouts.values()) == {"lua54"} and result.files == 11
