"""Every documentation set in ../shared/corpora read with no layout named: names found, and parameters right.

For each set the expected entries come from the raw files by a rule of this file's own (line patterns from the
corpora README, counted character by character), never by the readers under test: each expected entry is a name
and, per documented call form, (required, optional) parameter counts (varargs count as optional). A set passes when
the reader names >= 95% of the expected entries and, of those with parameters, gets every form's counts right for
>= 95%. Then the silent-loss cases: a Markdown file whose fences swallow entries is reported, not read short quietly.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest
from conftest import BUNDLED_DOCS, CORPORA, need

from luacoder.apidocs import read_docs
from luacoder.apidocs.schema import ApiEntry

SHARE = 0.95


def counts(inside: str, optional_names: set[str] = frozenset()) -> tuple[int, int]:
    """(required, optional) arguments of a written argument list: top-level commas, `[ ]` depth, `...`, `= x`."""
    required = optional = 0
    paren = bracket = 0
    token, token_optional = "", False
    inside = re.sub(r"(?<=\w)\[\]", "", inside)  # `Actor[] actors`: an array type, not an optional part
    for ch in inside + ",":
        if ch in "({":
            paren += 1
        elif ch in ")}":
            paren -= 1
        if paren == 0 and ch in "[],":
            name = token.strip()
            if name:
                bare = re.sub(r"\W+$", "", name.split("=")[0].split()[-1]) if name.split("=")[0].split() else name
                if token_optional or "..." in name or "\u00b7" in name or "=" in name or bare in optional_names:
                    optional += 1
                else:
                    required += 1
            token = ""
            bracket += {"[": 1, "]": -1, ",": 0}[ch]
            token_optional = bracket > 0
            continue
        if not token.strip() and not ch.isspace():
            token_optional = token_optional or bracket > 0
        token += ch
    return required, optional


def entry_counts(entry: ApiEntry) -> set[tuple[int, int]]:
    forms = [f.params for f in entry.forms] or [entry.params]
    return {(sum(not p.optional for p in ps), sum(p.optional for p in ps)) for ps in forms}


def check(label: str, api, expected: dict[str, list[tuple[int, int]]], aliases: dict[str, str] | None = None) -> None:
    """Names found >= 95%; of the found entries with parameters, every expected form's counts among the entry's."""
    by_name = {e.name: e for e in api}
    missing, wrong = [], []
    with_params = 0
    for name, forms in expected.items():
        entry = by_name.get(name) or by_name.get((aliases or {}).get(name, ""))
        if entry is None:
            missing.append(name)
            continue
        if any(f != (0, 0) for f in forms):
            with_params += 1
            got = entry_counts(entry)
            if not set(forms) <= got:
                wrong.append(f"{name}: forms {sorted(got)}, expected {sorted(set(forms))}")
    found = len(expected) - len(missing)
    print(f"{label}: named {found}/{len(expected)}, parameter counts right {with_params - len(wrong)}/{with_params}")
    assert found >= SHARE * len(expected), f"{label}: {found}/{len(expected)} named; missing {missing[:20]}"
    assert with_params and len(wrong) <= (1 - SHARE) * with_params, (
        f"{label}: {with_params - len(wrong)}/{with_params} right:\n" + "\n".join(wrong[:30])
    )


# -- Luanti: one huge Markdown file of bullet items ---------------------------------------------------------------


def test_luanti_bullets_with_code_spans():
    doc = CORPORA / "luanti-lua-api" / "doc" / "lua_api.md"
    need(doc)
    expected: dict[str, list] = defaultdict(list)
    for line in doc.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\* `(core\.[A-Za-z0-9_.]*)\((.*?)\)(?:`| ->)", line)
        bare = re.match(r"^\* `(core\.[A-Za-z0-9_.]*)\(", line)
        if match:
            expected[match.group(1)].append(counts(match.group(2)))
        elif bare:  # wrapped onto the next line: the name, not the counts
            expected.setdefault(bare.group(1), [])
    assert len(expected) == 321
    result = read_docs([doc])
    assert result.layouts == {str(doc): "generic"}
    check("luanti", result.api, dict(expected))
    assert result.api.get("ObjectRef:get_pos").kind == "method"  # bare `get_pos()` under the `ObjectRef` heading
    assert result.api.get("core.registered_items").kind == "field"
    assert len(result.api.get("core.get_perlin").forms) == 2  # overloads written as two bullets: two forms


# -- OpenRA: Markdown tables ----------------------------------------------------------------------------------------


def test_openra_table_rows():
    doc = CORPORA / "openra-lua-api" / "api" / "lua.md"
    need(doc)
    expected: dict[str, list] = {}
    scope = group = ""
    for line in doc.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            scope = line[3:].strip()
        elif line.startswith("### "):
            group = line[4:].strip()
        row = re.match(r"^\| \*\*(?:<s>)?(?:[\w\[\]<>.]+ )?(\w+)\((.*?)\)", line)
        if row:
            owner = scope.split()[0]
            name = f"{group}.{row.group(1)}" if scope == "Global Tables" else f"{owner}:{row.group(1)}"
            expected.setdefault(name, []).append(counts(row.group(2)))
    assert len(expected) >= 170
    result = read_docs([doc])
    check("openra", result.api, expected)
    cost = result.api.get("Actor.BuildTime")
    assert [(p.name, p.type, p.optional, p.default) for p in cost.params] == [
        ("type", "string", False, ""),
        ("queue", "string", True, "nil"),
    ]
    assert result.api.get("Actor.Owner").kind == "field" and result.api.get("Actor:Move").kind == "method"
    assert result.api.get("Angle.East").kind == "field"  # `WAngle East { get; }`: a property, not a function


# -- mpv: reStructuredText definition lists -------------------------------------------------------------------------


def test_mpv_rst_definition_lists():
    doc = CORPORA / "mpv-lua-rst" / "DOCS" / "man" / "lua.rst"
    need(doc)
    expected: dict[str, list] = {}
    for line in doc.read_text(encoding="utf-8").splitlines():
        if re.match(r"^``[A-Za-z_.]+\(.*``( \(global\))?$", line):
            for name, args in re.findall(r"``([A-Za-z_.]+)\((.*?)\)``", line):
                expected.setdefault(name, []).append(counts(args))
    assert len(expected) == 67
    result = read_docs([doc])
    assert result.layouts == {str(doc): "rst"}
    check("mpv", result.api, expected)
    assert result.api.get("mp.add_timeout").examples or result.api.get("mp.add_timeout").description
    assert result.api.get("stop") is None  # a timer's method, nested in its definition: not a global


# -- Lua 5.4 manual: HTML -------------------------------------------------------------------------------------------


def test_lua54_manual_html():
    doc = CORPORA / "lua54-manual-html" / "doc" / "en-us" / "54" / "manual.html"
    need(doc)
    expected: dict[str, list] = {}
    fields = set()
    for name, code in re.findall(r'<h3><a name="pdf-([^"]*)"><code>([^<]*)</code>', doc.read_text(encoding="utf-8")):
        if "(" in code:
            args = code.split("(", 1)[1].rsplit(")", 1)[0].replace("&middot;&middot;&middot;", "...")
            expected[name] = [counts(args)]
        else:
            fields.add(name)
    assert len(expected) == 131 and len(fields) == 13
    result = read_docs([doc])
    assert result.layouts == {str(doc): "html"}
    check("lua54 manual", result.api, expected)
    assert {e.name for e in result.api if e.kind == "field"} == fields
    assert not [e.name for e in result.api if e.name.startswith(("lua_", "luaL_"))]  # the C API is not Lua's
    assert "concatenation" in result.api.get("string.rep").description


# -- nCine: LuaCATS, and the same API in LDoc ---------------------------------------------------------------------


def ncine_truth(folder: Path, optional_rule) -> dict[str, list]:
    expected: dict[str, list] = defaultdict(list)
    for path in sorted(folder.glob("*.lua")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            match = re.match(r"^function ([A-Za-z_][\w.]*\.[A-Za-z_]\w*)\((.*)\)", line)
            if not match:
                continue
            above, back = set(), number - 1
            while back >= 0 and lines[back].startswith("--"):
                above |= optional_rule(lines[back])
                back -= 1
            expected[match.group(1)].append(counts(match.group(2), above))
    return dict(expected)


def test_ncine_luacats():
    folder = CORPORA / "ncine-luacats" / "library"
    need(folder)
    expected = ncine_truth(folder, lambda line: set(re.findall(r"^---@param ([A-Za-z_]\w*)\?", line)))
    assert len(expected) == 675
    result = read_docs([folder])
    assert set(result.layouts.values()) == {"luacats"}
    check("ncine luacats", result.api, expected)
    new = result.api.get("ncine.sprite.new")
    assert new.arities() == [(2, 4), (1, 3)] and new.params[0].type == "scenenodeObj"
    assert new.returns[0].type == "spriteObj" and new.returns[0].description == "A new sprite object"


def test_ncine_ldoc():
    folder = CORPORA / "ncine-luacats" / "ldoc"
    need(folder)

    def optional(line: str) -> set[str]:
        written = re.match(r"^---@tparam (\S+) (\S+)", line)
        if not written:
            return set()
        type_, name = written.groups()
        return {name.removesuffix("|nil")} if "nil" in type_.split("|") or name.endswith("|nil") else set()

    expected = ncine_truth(folder, optional)
    assert len(expected) == 675
    result = read_docs([folder])
    check("ncine ldoc", result.api, expected)


# -- Penlight: LDoc source -----------------------------------------------------------------------------------------


def test_penlight_ldoc():
    folder = CORPORA / "penlight-ldoc" / "lua" / "pl"
    need(folder)
    expected: dict[str, list] = {}
    for path in sorted(folder.glob("*.lua")):
        text = path.read_text(encoding="utf-8")
        module = re.search(r"^--\s*@module\s+(\S+)", text, re.MULTILINE)
        lines = text.splitlines()
        for number, line in enumerate(lines):
            match = re.match(r"^function ([A-Za-z_]\w*)([.:])([A-Za-z_]\w*)\s*\((.*?)\)", line)
            if not match or number == 0 or not lines[number - 1].lstrip().startswith("--"):
                continue
            root, sep, short, args = match.groups()
            optional, back = set(), number - 1
            while back >= 0 and lines[back].lstrip().startswith("--"):
                tag = re.match(r"^\s*--+\s*@(\w+)\[opt[^\]]*\]\s+(\S+)(?:\s+(\S+))?", lines[back])
                if tag:
                    optional.add(tag.group(3) if tag.group(1) == "tparam" else tag.group(2))
                back -= 1
            name = f"{root}{sep}{short}"
            if module and module.group(1).endswith("." + root) and sep == ".":
                name = f"{module.group(1)}.{short}"
            expected.setdefault(name, []).append(counts(args, optional))
    assert len(expected) >= 380
    result = read_docs([folder])
    check("penlight", result.api, expected)
    assert "tablex.copy" in result.api.get("pl.tablex.copy").aliases
    step = result.api.get("pl.tablex.range").params[2]
    assert (step.name, step.type, step.optional, step.default) == ("step", "integer", True, "1")


# -- luv: the generic reader alone reads it as well as its layout --------------------------------------------------


def test_luv_without_its_layout():
    doc = CORPORA / "luvit-luv" / "docs" / "docs.md"
    need(doc)
    from luacoder.apidocs.generic_markdown import read_markdown

    expected = {}
    for line in doc.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^### `(uv\.\w+)\((.*)\)`\s*$", line)
        if heading:
            expected[heading.group(1)] = [counts(heading.group(2))]
    reading = read_markdown(doc.read_text(encoding="utf-8"), "docs.md")
    check("luv generic", reading.entries, expected)
    bind = next(e for e in reading.entries if e.name == "uv.tcp_bind")
    assert [p.type for p in bind.params][:3] == ["uv_tcp_t userdata", "string", "integer"]
    assert bind.aliases == ["tcp:bind"]  # from the `> method form` quote


# -- conventions no corpus here has: as a new user's docs would be written ------------------------------------------


NGX_STYLE = """\
Nginx API for Lua
=================

Directives
----------

lua_code_cache
--------------
**syntax:** *lua_code_cache on | off*

Not a Lua function.

Nginx API
=========

ngx.say
-------
**syntax:** *ok, err = ngx.say(...)*

Emits arguments concatenated to the HTTP client.

ngx.sleep
---------
**syntax:** *ngx.sleep(seconds)*

Sleeps for the specified seconds.

ngx.re.match
------------
**syntax:** *captures, err = ngx.re.match(subject, regex, options?, ctx?, res_table?)*

Matches the subject string.
"""

PAGE_STYLE = """\
# `mylib.open(path, [mode])`

Opens a file.

**Parameters:**
- `path` (`string`): where
- `mode` (`string`, optional): how

```lua
local f = mylib.open("x")
```
"""


def test_setext_headings_with_syntax_labels_and_return_names(tmp_path):
    doc = tmp_path / "README.markdown"
    doc.write_text(NGX_STYLE)
    result = read_docs([doc])
    assert sorted(e.name for e in result.api) == ["ngx.re.match", "ngx.say", "ngx.sleep"]
    match = result.api.get("ngx.re.match")
    assert [(p.name, p.optional) for p in match.params] == [
        ("subject", False),
        ("regex", False),
        ("options", True),
        ("ctx", True),
        ("res_table", True),
    ]
    assert [r.name for r in match.returns] == ["captures", "err"]
    assert result.api.get("ngx.say").kind == "function" and result.api.get("ngx.say").arity()[1] == float("inf")
    assert result.layouts == {str(doc): "generic"}


def test_a_page_per_function_folder_reads_with_no_layout(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "open.md").write_text(PAGE_STYLE)
    (tmp_path / "docs" / "close.md").write_text(PAGE_STYLE.replace("open", "close").replace(", [mode]", ""))
    result = read_docs([tmp_path / "docs"])
    open_ = result.api.get("mylib.open")
    assert [(p.name, p.type, p.optional) for p in open_.params] == [
        ("path", "string", False),
        ("mode", "string", True),
    ]
    assert open_.examples == ['local f = mylib.open("x")\n'] and open_.description == "Opens a file."
    assert result.api.get("mylib.close").arity() == (1, 1)


# -- nothing lost silently ------------------------------------------------------------------------------------------


def string_md_with(tmp_path: Path, edit) -> Path:
    text = (BUNDLED_DOCS / "string.md").read_text(encoding="utf-8")
    broken = tmp_path / "string.md"
    broken.write_text(edit(text), encoding="utf-8")
    return broken


def test_a_missing_closing_fence_names_the_entry_it_swallowed(tmp_path):
    def drop_first_close(text: str) -> str:
        lines = text.splitlines(keepends=True)
        first = next(i for i, line in enumerate(lines) if line.strip() == "```")
        return "".join(lines[:first] + lines[first + 1 :])

    result = read_docs([string_md_with(tmp_path, drop_first_close)])
    assert result.api.get("string.char") is None  # its section became string.byte's example
    rows = [s for s in result.skipped if s.what.startswith("code fence")]
    assert len(rows) == 1 and rows[0].line == 53 and "mismatched" in rows[0].reason
    assert "string.char(...)" in rows[0].reason


def test_a_four_backtick_fence_that_never_closes_is_reported(tmp_path):
    result = read_docs([string_md_with(tmp_path, lambda text: text.replace("```lua", "````lua", 1))])
    assert len(result.api) == 1
    rows = [s for s in result.skipped if s.what.startswith("code fence")]
    assert len(rows) == 1 and "not closed" in rows[0].reason and "string.upper(s)" in rows[0].reason


def test_odd_files_in_a_folder_are_rows_not_silence(tmp_path):
    import os

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "string.md").write_text((BUNDLED_DOCS / "string.md").read_text(encoding="utf-8"))
    (docs / "gone.md").symlink_to(tmp_path / "nowhere.md")
    (docs / "folder.md").mkdir()
    os.mkfifo(docs / "pipe.md")
    result = read_docs([docs])
    reasons = {Path(s.file).name: s.reason for s in result.skipped}
    assert "target does not exist" in reasons["gone.md"]
    assert "folder named like a docs file" in reasons["folder.md"]
    assert "FIFO" in reasons["pipe.md"]
    assert result.files == 1 and len(result.api) == 17


# -- Solar2D: the docs' own examples (correct code) graded against what the reader built ---------------------------


@pytest.mark.slow
def test_solar2d_examples_raise_no_false_arity_errors_on_variants():
    from luacoder.grading import ApiIndex
    from luacoder.lua.calls import extract_calls

    api = CORPORA / "solar2d-corona-docs" / "markdown" / "api"
    need(api)
    result = read_docs([api])
    index = ApiIndex(result.api)
    matched, errors = 0, []
    for entry in result.api:
        for code in entry.examples:
            for call in extract_calls(code).calls:
                match = index.classify(call)
                matched += match.kind == "matched"
                if match.kind == "matched" and match.arity_ok is False:
                    errors.append(match.entries[0])
    # Before call forms: 89 of 1,964 (display.newImage 24, newImageRect 15, setStrokeColor 12, File:write 6, ...).
    # The 6 left are the docs' own slips (a legacy newText call, setTextColor with one gray value, ...).
    assert matched >= 1900 and len(errors) <= 6, errors
    variants = {"display.newImage", "display.newImageRect", "ShapeObject:setStrokeColor", "File:write"}
    assert not variants & set(errors)
    fill = index.classify(extract_calls("local r = display.newRect(0, 0, 1, 1)\nr:setFillColor()").calls[1])
    assert fill.arity_ok is False  # no form of setFillColor takes no argument


def test_one_folder_of_every_format_reads_with_no_flags(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "api.md").write_text(PAGE_STYLE)
    (docs / "ref.html").write_text(
        "<!DOCTYPE html><html><body><hr><h3><code>web.get (url [, headers])</code></h3><p>Fetches.</p></body></html>"
    )
    (docs / "ref.rst").write_text("Functions\n---------\n\n``tool.run(cmd [, opts])``\n    Runs a command.\n")
    (docs / "cats.lua").write_text(
        "---Adds.\n---@param a number\n---@param b? number # the second\n---@return number\nfunction m.add(a, b) end\n"
    )
    (docs / "ld.lua").write_text("--- Scales.\n-- @number x\n-- @number[opt=1] k\nfunction n.scale(x, k) end\n")
    result = read_docs([docs])
    assert {Path(f).name: how for f, how in result.layouts.items()} == {
        "api.md": "generic",
        "ref.html": "html",
        "ref.rst": "rst",
        "cats.lua": "luacats",
        "ld.lua": "ldoc",
    }
    arities = {e.name: e.arity() for e in result.api}
    assert arities == {
        "mylib.open": (1, 2),
        "web.get": (1, 2),
        "tool.run": (1, 2),
        "m.add": (1, 2),
        "n.scale": (1, 2),
    }
    assert result.api.get("m.add").params[1].description == "the second"
    assert result.api.get("n.scale").params[1].default == "1" and result.files == 5


def test_a_manifest_json_beside_lua_docs_is_not_read_as_api_docs(tmp_path):
    (tmp_path / "library").mkdir()
    (tmp_path / "library" / "m.lua").write_text("---@param a number\nfunction m.f(a) end\n")
    (tmp_path / "config.json").write_text('{"$schema": "https://example.org/schema.json", "words": ["m"]}')
    result = read_docs([tmp_path])
    assert [e.name for e in result.api] == ["m.f"] and set(result.layouts.values()) == {"luacats"}


MIXED_STYLE = """\
# Geometry

## area

```
geo.area(shape [, units])
```

Area of a shape.

## perimeter

Usage: `geo.perimeter(shape, ...)`

Perimeter.

## Functions

`geo.scale(shape, k = 1)`
: Scales a shape.

| Function | Description |
|---|---|
| `geo.rotate(shape, angle)` | Rotates. |
| **Shape Move(Shape s, int dx, int dy = 0)** | Moves. |
"""


def test_code_block_label_definition_list_and_table_conventions(tmp_path):
    doc = tmp_path / "geo.md"
    doc.write_text(MIXED_STYLE)
    result = read_docs([doc])
    arities = {e.name: e.arity() for e in result.api}
    assert arities == {
        "geo.area": (1, 2),
        "geo.perimeter": (1, float("inf")),
        "geo.scale": (1, 2),
        "geo.rotate": (2, 2),
        "Functions.Move": (2, 3),
    }
    assert result.api.get("geo.area").description == "Area of a shape."
    assert result.api.get("geo.scale").params[1].default == "1"
    assert result.api.get("Functions.Move").returns[0].type == "Shape"
