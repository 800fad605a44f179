"""Docs of any format read with no layout: conventions no shared corpus has (as a new user's docs would be written),
one folder of every format, and nothing lost silently (bad input is read or reported, never dropped).

The shared corpora are read in test_docs_corpora.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import BUNDLED_DOCS

from luacoder.apidocs import read_docs

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
    assert result.layouts == {str(doc): "markdown"}


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
        "api.md": "markdown",
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


LDOC_MODULE = """
--- Paths.
-- @module kit.paths
local M = {}

--- Joins.
-- @string a first
-- @string[opt] b second
function M.join(a, b) end

--- Changes the folder.
-- @string d the folder
-- @function chdir
M.chdir = lfs.chdir

--- The parts.
-- @class function
-- @name M.parts
-- @string p a path
M.parts = split

-- is this a link? (a plain comment: LDoc documents nothing from it)
-- @string p a path
function M.islink(p) end

--- Settings.
-- @class table
-- @name defaults
M.defaults = {}

return M
"""


def test_ldoc_names_as_ldoc_does():
    """A bare `@function` name and the returned table's functions are the module's; `@class function` with `@name`
    is `@function`; a `--` comment documents nothing; `@class table` is no function."""
    from luacoder.apidocs.ldoc_reader import read_ldoc

    entries = read_ldoc(LDOC_MODULE, "paths.lua", "paths.lua").entries
    assert [(e.name, e.arity(), e.aliases) for e in entries] == [
        ("kit.paths.join", (1, 2), []),
        ("kit.paths.chdir", (1, 1), []),
        ("kit.paths.parts", (1, 1), []),
    ]


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
        "Move": (2, 3),  # a bare name under `## Functions`: a global (a section title names no module)
    }
    assert result.api.get("geo.area").description == "Area of a shape."
    assert result.api.get("geo.scale").params[1].default == "1"
    assert result.api.get("Move").returns[0].type == "Shape"


# -- bad input: read, or reported with the file and the reason --------------------------------------------------------


def test_a_byte_order_mark_does_not_hide_the_first_heading(tmp_path):
    doc = tmp_path / "string.md"
    doc.write_bytes(b"\xef\xbb\xbf" + (BUNDLED_DOCS / "string.md").read_bytes())
    result = read_docs([doc])
    assert len([e for e in result.api if e.name.startswith("string.")]) == 17 and result.skipped == []
    assert result.api.get("string.byte").module == "string"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_files_are_read(tmp_path, encoding):
    doc = tmp_path / "ref.md"
    doc.write_bytes(("# `m`\n\n## m.f(x [, y])\n\nDoes f \u2014 and more.\n").encode(encoding))
    result = read_docs([doc])
    assert [(e.name, e.arity(), e.description) for e in result.api] == [("m.f", (1, 2), "Does f \u2014 and more.")]


def test_a_file_that_is_no_text_is_a_row_naming_the_byte(tmp_path):
    (tmp_path / "good.md").write_text(PAGE_STYLE)
    (tmp_path / "bad.md").write_bytes(b"# `x.f()`\n\n\xff\xfe\xfa broken\n")
    result = read_docs([tmp_path])
    assert [e.name for e in result.api] == ["mylib.open"]
    rows = [s for s in result.skipped if s.file.endswith("bad.md")]
    assert len(rows) == 1 and rows[0].reason.startswith("not valid UTF-8 (invalid start byte at byte 11)")


def test_a_linked_folder_is_read_and_an_unreadable_one_is_a_row(tmp_path, monkeypatch):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "net.md").write_text(PAGE_STYLE.replace("mylib", "net"))
    docs = tmp_path / "docs"
    (docs / "locked").mkdir(parents=True)
    (docs / "locked" / "hidden.md").write_text(PAGE_STYLE.replace("mylib", "hidden"))
    (docs / "api.md").write_text(PAGE_STYLE)
    (docs / "linked").symlink_to(outside, target_is_directory=True)
    (docs / "loop").symlink_to(docs, target_is_directory=True)
    from luacoder.apidocs import formats

    scandir = os.scandir

    def unreadable(path):  # as a folder without read permission is to anyone but root
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(formats.os, "scandir", unreadable)
    result = read_docs([docs])
    assert sorted(e.name for e in result.api) == ["mylib.open", "net.open"]
    reasons = {Path(s.file).name: s.reason for s in result.skipped}
    assert reasons["locked"] == "cannot be read (Permission denied); its files are not read"
    assert "a link back to a folder already read" in reasons["loop"]


def test_html_nested_deeper_than_the_parser_reads_loses_no_entry(tmp_path):
    deep = "<div>" * 3000 + "<h3><code>deep.one(a)</code></h3><p>One.</p>" + "</div>" * 3000
    doc = tmp_path / "ref.html"
    doc.write_text(f"<html><body>{deep}<h3><code>deep.two(b, c)</code></h3><p>Two.</p></body></html>")
    result = read_docs([doc])
    assert sorted((e.name, e.arity()) for e in result.api) == [("deep.one", (1, 1)), ("deep.two", (2, 2))]
    assert any("nested deeper than the HTML parser reads" in s.reason for s in result.skipped)


def test_script_style_and_template_text_never_reach_a_description(tmp_path):
    doc = tmp_path / "ref.html"
    doc.write_text(
        "<html><head><script>var leaked = 1;</script></head><body>"
        "<h3><code>web.get(url)</code></h3><p>Fetches.<script>alert('x')</script></p>"
        "<style>p { color: red }</style><template><p>hidden</p></template><p>Returns a body.</p>"
        "</body></html>"
    )
    entry = read_docs([doc]).api.get("web.get")
    assert entry.description == "Fetches.\n\nReturns a body."


# -- conventions of every kind, as no shared corpus writes them ------------------------------------------------------


def test_sphinx_directives_of_an_unknown_domain_with_module_and_class_context(tmp_path):
    doc = tmp_path / "api.rst"
    doc.write_text(
        "Reference\n=========\n\n.. game:module:: world\n\n.. game:function:: spawn(kind, x [, y])\n\n"
        "   Spawns a thing.\n\n   :param string kind: what to spawn\n   :param number x: where\n\n"
        ".. game:class:: Entity\n\n   .. game:method:: move(dx, dy)\n\n      Moves it.\n\n"
        "   .. game:function:: count()\n\n      How many there are.\n\n"
        ".. game:function:: on_tick(dt)\n   :objtype: event\n\n   Called every tick.\n"
    )
    result = read_docs([doc])
    assert {(e.name, e.kind, e.arity()) for e in result.api} == {
        ("world.spawn", "function", (2, 3)),
        ("Entity:move", "method", (2, 2)),
        ("Entity.count", "function", (0, 0)),
        ("world.on_tick", "event", (1, 1)),
    }
    spawn = result.api.get("world.spawn")
    assert [(p.name, p.type, p.description) for p in spawn.params][:2] == [
        ("kind", "string", "what to spawn"),
        ("x", "number", "where"),
    ]
    assert result.skipped == []


def test_classed_html_paragraphs_and_a_definition_list(tmp_path):
    rows = "".join(
        f'<p class="sig">int pad.{n}(int player, [int timeout])</p><p class="text">Reads pad {n}.</p>'
        for n in ("read", "peek", "wait")
    )
    doc = tmp_path / "help.html"
    doc.write_text(
        f"<html><body><p>Pads</p>{rows}<p>Call pad.read(1) each frame.</p>"
        "<dl><dt><code>pad.reset()</code></dt><dd>Resets every pad.</dd></dl></body></html>"
    )
    api = read_docs([doc]).api
    assert {e.name: e.arity() for e in api} == {
        "pad.read": (1, 2),
        "pad.peek": (1, 2),
        "pad.wait": (1, 2),
        "pad.reset": (0, 0),
    }
    assert api.get("pad.read").returns[0].type == "int" and api.get("pad.read").description == "Reads pad read."


def test_front_matter_names_an_anonymous_signature(tmp_path):
    doc = tmp_path / "open.md"
    doc.write_text(
        "---\ntitle: store.open\nweight: 3\n---\n\n```\nfunction(\n  path : string,\n  [mode : string]\n)"
        " : types.handle\n```\n\nOpens a store.\n\n* **path** - _string_ - where it is\n"
    )
    entry = read_docs([doc]).api.get("store.open")
    assert [(p.name, p.type, p.optional) for p in entry.params] == [
        ("path", "string", False),
        ("mode", "string", True),
    ]
    assert entry.returns[0].type == "types.handle" and entry.description.startswith("Opens a store.")
    assert entry.params[0].description == "where it is"


def test_plain_text_reference_lines(tmp_path):
    doc = tmp_path / "README.txt"
    doc.write_text(
        "Lua interface\n=============\n\nvlc.play(item): Plays an item.\n"
        "vlc.seek(time [, relative]): Seeks.\n  The time is in seconds.\nvlc.stop(): Stops.\n"
    )
    api = read_docs([doc]).api
    assert {e.name: e.arity() for e in api} == {"vlc.play": (1, 1), "vlc.seek": (1, 2), "vlc.stop": (0, 0)}


def test_the_fast_inline_split_reads_as_markdown_it_does():
    from luacoder.apidocs.from_markdown import _BLOCKS, _pieces_of
    from luacoder.apidocs.inline import inline_pieces

    texts = [
        "`a.b(x)`: returns `nil`\nwhen  \n  done",
        "` x ` and `  ` and `` `tick` `` and `f(_x_)`",
        "`lpeg.P(`_`n`_`)`",
        "a_b c_d `e` _emphasis_",
        "[label][ref] and [shortcut] and *bold* \\* &amp; <b>x</b>",
        "`unclosed",
    ]
    for path in sorted(BUNDLED_DOCS.glob("*.md")):
        env: dict = {}
        texts += [t.content for t in _BLOCKS.parse(path.read_text(encoding="utf-8"), env) if t.type == "inline"]
    env = {"references": {"SHORTCUT": {"href": "x", "title": ""}}}
    assert len(texts) > 1000
    for text in texts:
        assert _pieces_of(text, env) == inline_pieces(text, env), text
