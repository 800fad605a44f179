"""Every shared corpus (../shared/corpora) read with no layout, as a new user runs `luacoder docs`: the names,
parameter counts and false entries against what the raw files document (corpora_truth.py, from the corpora README's
counting rules), and the details of each convention that later stages use (the structured descriptions' in
test_structured_corpora.py).

Each set is read once per session (conftest's `corpus_reading`); every number of a set is asserted from that one
reading.
"""

from __future__ import annotations

import math
import re

import pytest
from corpora_truth import SETS, score

SHARE = 0.95  # of the documented functions found with the right name, and of those with parameters, right counts
FALSE_SHARE = 0.02  # callables read that the docs do not document, of those read


def test_every_shared_corpus_has_its_truth():
    from conftest import CORPORA

    corpora = {p.name for p in CORPORA.iterdir() if p.is_dir()} if CORPORA.exists() else set()
    evaluation_only = {"multipl-e-humaneval-lua"}  # prompts and tests, no API
    assert corpora - evaluation_only <= set(SETS) and len(SETS) == 18  # the 17 corpora and the bundled docs


@pytest.mark.parametrize("name", list(SETS))
def test_every_corpus_reads_with_no_layout(corpus_reading, name):
    result = corpus_reading(name)
    truth = SETS[name][1]()
    got = score(result.api, truth)
    print(f"{name}: {got.row()}")
    assert got.found >= SHARE * got.expected, f"{name}: {got.row()}; missing {got.missing[:20]}"
    assert got.params_right >= SHARE * got.with_params, f"{name}: {got.row()}:\n" + "\n".join(got.wrong[:30])
    assert len(got.false) <= FALSE_SHARE * got.callables, f"{name}: {got.row()}; false {got.false[:20]}"
    assert not {"layout", "lua54", "luv", "solar2d"} & set(result.layouts.values())  # no layout was needed


def test_luv_types_returns_aliases_and_examples(corpus_reading):
    luv = corpus_reading("luvit-luv")
    bind = luv.api.get("uv.tcp_bind")
    assert [(p.name, p.type, p.optional) for p in bind.params] == [
        ("tcp", "uv_tcp_t userdata", False),
        ("host", "string", False),
        ("port", "integer", False),
        ("flags", "table|nil", True),
    ]
    assert [r.type for r in bind.returns] == ["0|fail"] and bind.aliases == ["tcp:bind"]
    assert bind.kind == "function" and bind.module == "uv"
    assert [r.type for r in luv.api.get("uv.spawn").returns] == [
        "uv_process_t userdata|nil",
        "integer|string",
        "uv.error_name|nil",
    ]
    assert luv.api.get("uv.spawn").examples[0].startswith("local stdin = uv.new_pipe()")
    assert sum(1 for e in luv.api if e.aliases) == 107 and sum(1 for e in luv.api if e.returns) >= 200
    assert luv.skipped == []


@pytest.mark.slow
def test_solar2d_forms_types_and_owner_types(corpus_reading):
    solar2d = corpus_reading("solar2d-corona-docs")
    fill = solar2d.api.get("ShapeObject:setFillColor")
    assert fill.signature.startswith("ShapeObject:setFillColor( gray )\n") and fill.owner == "ShapeObject"
    assert [[(p.name, p.type) for p in form.params] for form in fill.forms][-1] == [("gradient", "Table")]
    assert fill.arities() == [(1, 1), (2, 2), (3, 3), (4, 4), (1, 1)]  # no form takes no argument
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
    assert play.examples and "__Type__" not in play.description
    assert "s:len" in solar2d.api.get("string.len").aliases
    assert not [e.name for e in solar2d.api if e.name.startswith(("object:", "texture:"))]
    assert sum(1 for e in solar2d.api if e.examples) >= 400


def test_luanti_list_items_under_type_headings(corpus_reading):
    luanti = corpus_reading("luanti-lua-api")
    assert luanti.api.get("ObjectRef:get_pos").kind == "method"  # bare `get_pos()` under the `ObjectRef` heading
    assert len(luanti.api.get("core.get_perlin").forms) == 2  # overloads written as two bullets: two forms
    assert luanti.api.get("dump2") is not None  # under "Helper functions": a global, not a `Helper` module


def test_openra_table_rows_typed_defaults_and_properties(corpus_reading):
    api = corpus_reading("openra-lua-api").api
    cost = api.get("Actor.BuildTime")
    assert [(p.name, p.type, p.optional, p.default) for p in cost.params] == [
        ("type", "string", False, ""),
        ("queue", "string", True, "nil"),
    ]
    assert cost.returns[0].type == "int" and api.get("Actor:Move").kind == "method"
    assert api.get("Angle.East").kind == "field"  # `WAngle East { get; }`: a property, not a function


def test_mpv_nested_terms_are_not_globals(corpus_reading):
    api = corpus_reading("mpv-lua-rst").api
    assert api.get("stop") is None  # a timer's method, nested in mp.add_timeout's definition
    assert api.get("mp.add_timeout").description and [p.optional for p in api.get("mp.get_property").params] == [
        False,
        True,
    ]


def test_lua_manual_fields_and_no_c_api(corpus_reading):
    api = corpus_reading("lua54-manual-html").api
    text = SETS["lua54-manual-html"][0].read_text(encoding="utf-8")
    fields = {n for n, code in re.findall(r'<h3><a name="pdf-([^"]*)"><code>([^<]*)</code>', text) if "(" not in code}
    assert {e.name for e in api if e.kind == "field"} == fields and len(fields) == 13
    assert not [e.name for e in api if e.name.startswith(("lua_", "luaL_"))]  # the C API is not Lua's
    assert "concatenation" in api.get("string.rep").description


def test_ldoc_names_as_ldoc_itself_does(corpus_reading):
    api = corpus_reading("penlight-ldoc").api
    assert api.get("pl.path.chdir").module == "pl.path"  # `-- @function chdir` in `@module pl.path`
    assert api.get("pl.xml.parse") is not None  # `function _M.parse` in a file that returns `_M`
    assert api.get("Map:keys").kind == "method"  # `@class function` + `@name Map:keys`
    assert api.get("pl.tablex.copy").aliases == ["tablex.copy"]
    assert api.get("pl.path.islink") is None  # its tags sit in a plain `--` comment, which LDoc does not read


def test_sphinx_directives_of_any_domain(corpus_reading):
    haproxy = corpus_reading("haproxy-lua-sphinx").api
    data = haproxy.get("Channel.data")
    assert [(p.name, p.type, p.optional) for p in data.params] == [
        ("channel", "class_channel", False),
        ("offset", "integer", True),
        ("length", "integer", True),
    ]
    assert haproxy.get("FILTER.new").kind == "event"  # "Called to instantiate a new filter": the host calls it
    haka = corpus_reading("haka-lua-sphinx").api
    assert haka.get("haka.grammar.new").module == "haka"
    assert haka.get("extend") is not None  # `:module:` left empty: no module prefix
    assert haka.get("Class:new").kind == "method" and haka.get("get") is None  # a property's getter: nested
    assert haka.get("http.events.request").kind == "event"  # `:objtype: event`


def test_classed_html_paragraphs(corpus_reading):
    api = corpus_reading("fceux-lua-html").api
    assert [(p.name, p.type, p.optional) for p in api.get("memory.readword").params] == [
        ("addressLow", "int", False),
        ("addressHigh", "int", True),
    ]
    assert api.get("emu.framecount").returns[0].type == "int"
    assert len(api.get("emu.getscreenpixel").forms) <= 2


def test_heading_names_and_code_block_forms(corpus_reading):
    aseprite = corpus_reading("aseprite-api-md").api
    sprite = aseprite.get("Sprite")
    assert sorted(set(sprite.arities())) == [
        (1, 1),
        (2, 2),
        (3, 3),
    ]  # `Sprite(spec)`, `Sprite{ fromFile=... }`: (1, 1)
    assert aseprite.get("Sprite:resize").arities() == [(2, 2), (1, 1)]
    assert aseprite.get("app.command.CanvasSize") is None  # a command page: its heading names no call
    textadept = corpus_reading("textadept-api-md").api
    split = textadept.get("view:split")
    assert [(p.name, p.optional, p.default) for p in split.params] == [("vertical", True, "false")]
    assert textadept.get("assert").module == "_G"
    darktable = corpus_reading("darktable-luadocs-hugo").api
    register = darktable.get("darktable.register_event")
    assert [(p.name, p.type, p.optional) for p in register.params] == [
        ("event_name", "string", False),
        ("event_type", "string", False),
        ("callback", "function", False),
        ("...", "variable", True),
    ]
    assert darktable.get("darktable.tags.find").returns[0].type == "types.dt_lua_tag_t"
    assert darktable.get("lua_widget.reset_callback").kind == "event"  # a callback's signature, not a call


# -- the docs' own examples (correct code) graded against what the reader built --------------------------------------


@pytest.mark.slow
def test_solar2d_examples_raise_no_false_arity_errors_on_variants(corpus_reading):
    from luacoder.grading import ApiIndex
    from luacoder.lua.calls import extract_calls

    result = corpus_reading("solar2d-corona-docs")
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
