"""Structured API descriptions read by their shape: hand-written JSON, YAML, XML and Lua tables of shapes the shared
corpora do not have, so that the reader is seen to follow key words and value shapes rather than one schema."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from luacoder.apidocs import ApiError, read_docs
from luacoder.apidocs.structured import looks_structured, read_structured


def read(text: str, name: str, **kwargs):
    return read_structured(text, name, f"docs/{name}", **kwargs)


def by_name(reading) -> dict:
    return {e.name: e for e in reading.entries}


def counts(entry, form: int | None = None) -> tuple[int, int]:
    """(required, optional) parameters, `...` counted as optional."""
    params = entry.params if form is None else entry.forms[form].params
    return sum(not p.optional for p in params), sum(p.optional for p in params)


GFX_JSON = {
    "name": "gfx",
    "functions": [
        {"name": "line", "args": "x1, y1, x2, y2 [, color]", "returns": "boolean", "description": "Draws a line."},
        {"signature": "gfx.clear([color])", "summary": "Clears the screen."},
        {"name": "print", "params": ["text", "x?", "y?", "..."]},
        {"name": "blit", "args": "src", "description": "Copies."},
        {"name": "blit", "args": "src, x, y", "description": "Copies at a place."},
    ],
    "classes": [
        {
            "name": "Canvas",
            "methods": [{"name": "fill", "params": [{"name": "color", "type": "string|nil"}]}],
            "functions": [{"name": "new", "args": "w, h", "returns": [{"type": "Canvas"}]}],
            "fields": [{"name": "width", "type": "number", "description": "In pixels."}],
        }
    ],
    "constants": {"PI2": {"value": 6.283}},
}


def test_json_functions_with_argument_strings_classes_and_fields():
    reading = read(json.dumps(GFX_JSON, indent=1), "gfx.json")
    got = by_name(reading)
    assert sorted(got) == [
        "gfx.Canvas.new", "gfx.Canvas.width", "gfx.Canvas:fill", "gfx.PI2", "gfx.blit", "gfx.clear", "gfx.line",
        "gfx.print",
    ]  # fmt: skip
    line = got["gfx.line"]
    assert (line.kind, counts(line), [r.type for r in line.returns]) == ("function", (4, 1), ["boolean"])
    assert line.description == "Draws a line." and line.signature == "gfx.line(x1, y1, x2, y2, [color])"
    assert line.source.line == 4  # where its object opens
    assert counts(got["gfx.clear"]) == (0, 1) and got["gfx.clear"].description == "Clears the screen."
    printed = got["gfx.print"]
    assert [(p.name, p.optional) for p in printed.params] == [("text", False), ("x", True), ("y", True), ("...", True)]
    assert printed.arity() == (1, math.inf)
    # Documented twice with other arguments: one entry, two ways to call it.
    assert [f.arity() for f in got["gfx.blit"].forms] == [(1, 1), (3, 3)]
    # The class marks its methods (a `methods` list), so what it lists as functions are static.
    fill, new = got["gfx.Canvas:fill"], got["gfx.Canvas.new"]
    assert (fill.kind, fill.owner, counts(fill)) == ("method", "gfx.Canvas", (0, 1))
    assert (new.kind, counts(new), new.returns[0].type) == ("function", (2, 0), "Canvas")
    assert got["gfx.Canvas.width"].kind == got["gfx.PI2"].kind == "field"
    assert got["gfx.Canvas.width"].description == "In pixels."


NET_YAML = """\
name: net
kind: module
members:
  - name: request
    kind: function
    overloads:
      - params: [{name: url, type: string}]
      - params:
          - {name: url, type: string}
          - name: options
            type: table
            fields:
              - {name: timeout, type: number, optional: true}
              - {name: method, type: string, default: GET}
    returns: [{type: Response, desc: "What came back."}]
  - name: Socket
    kind: class
    members:
      - name: send
        params: [{name: self}, {name: data, type: string}]
      - name: open
        static: true
        params: [{name: host}, {name: port, type: integer, default: 80}]
      - name: closed
        kind: event
        description: Sent when the peer hangs up.
  - name: VERSION
    kind: constant
"""


def test_yaml_overloads_table_fields_static_members_and_events():
    got = by_name(read(NET_YAML, "net.yaml"))
    assert sorted(got) == ["net.Socket.closed", "net.Socket.open", "net.Socket:send", "net.VERSION", "net.request"]
    request = got["net.request"]
    assert [f.arity() for f in request.forms] == [(1, 1), (2, 2)]
    assert request.signature == "net.request(url)\nnet.request(url, options)"
    options = request.forms[1].params[1]
    fields = [(f.name, f.optional, f.default) for f in options.fields]
    assert fields == [("timeout", True, ""), ("method", True, "GET")]
    assert [(r.type, r.description) for r in request.forms[1].returns] == [("Response", "What came back.")]
    # A class's members are methods; `self` is the receiver, not an argument; `static: true` keeps a function.
    send, opened = got["net.Socket:send"], got["net.Socket.open"]
    assert (send.kind, [p.name for p in send.params]) == ("method", ["data"])
    assert (opened.kind, counts(opened), opened.params[1].default) == ("function", (1, 1), "80")
    assert (got["net.Socket.closed"].kind, got["net.VERSION"].kind) == ("event", "field")


GIR_XML = """\
<?xml version="1.0"?>
<repository xmlns="http://www.gtk.org/introspection/core/1.0" xmlns:c="http://www.gtk.org/introspection/c/1.0">
  <namespace name="Gtk">
    <class name="Button" c:type="GtkButton">
      <constructor name="new"><return-value><type name="Button"/></return-value></constructor>
      <method name="set_label">
        <doc>Sets the text of the label.</doc>
        <parameters>
          <instance-parameter name="button"><type name="Button"/></instance-parameter>
          <parameter name="label"><type name="utf8"/></parameter>
        </parameters>
      </method>
      <function name="get_default"><return-value><type name="Button"/></return-value></function>
      <property name="label"><type name="utf8"/></property>
      <signal name="clicked"><doc>Emitted when the button is clicked.</doc></signal>
    </class>
    <function name="init">
      <parameters><parameter name="argv" optional="1"><type name="utf8"/></parameter></parameters>
    </function>
  </namespace>
</repository>
"""


def test_xml_with_namespaces_element_kinds_and_nested_parameters():
    reading = read(GIR_XML, "Gtk.gir")
    got = by_name(reading)
    assert sorted(got) == [
        "Gtk.Button.clicked", "Gtk.Button.get_default", "Gtk.Button.label", "Gtk.Button.new",
        "Gtk.Button:set_label", "Gtk.init",
    ]  # fmt: skip
    set_label = got["Gtk.Button:set_label"]
    assert [(p.name, p.type) for p in set_label.params] == [("label", "utf8")]  # the instance is the receiver
    assert set_label.description == "Sets the text of the label." and set_label.source.line == 6
    # The class says which members are methods, so its functions and constructors are static.
    assert (got["Gtk.Button.new"].kind, got["Gtk.Button.new"].returns[0].type) == ("function", "Button")
    assert got["Gtk.Button.get_default"].kind == "function"
    assert [(p.name, p.optional) for p in got["Gtk.init"].params] == [("argv", True)]
    assert (got["Gtk.Button.label"].kind, got["Gtk.Button.clicked"].kind) == ("field", "event")


DUMP_JSON = {
    "Classes": [
        {
            "Name": "Part",
            "Superclass": "BasePart",
            "Members": [
                {
                    "MemberType": "Function",
                    "Name": "Resize",
                    "Parameters": [
                        {"Name": "normalId", "Type": {"Category": "Enum", "Name": "NormalId"}},
                        {"Name": "deltaAmount", "Type": {"Category": "Primitive", "Name": "int"}, "Default": "1"},
                    ],
                    "ReturnType": {"Category": "Primitive", "Name": "bool"},
                },
                {"MemberType": "Property", "Name": "Shape", "ValueType": {"Category": "Enum", "Name": "PartType"}},
                {"MemberType": "Event", "Name": "Touched", "Parameters": [{"Name": "otherPart"}]},
            ],
        }
    ],
    "Enums": [{"Name": "NormalId", "Items": [{"Name": "Top", "Value": 1}, {"Name": "Bottom", "Value": 4}]}],
}


def test_json_dump_with_capitalised_keys_kind_per_member_type_objects_and_enums():
    got = by_name(read(json.dumps(DUMP_JSON), "API-Dump.json"))
    assert sorted(got) == ["NormalId.Bottom", "NormalId.Top", "Part.Shape", "Part.Touched", "Part:Resize"]
    resize = got["Part:Resize"]  # a class's functions are methods when no member says "method"
    assert [(p.name, p.type, p.optional, p.default) for p in resize.params] == [
        ("normalId", "NormalId", False, ""),
        ("deltaAmount", "int", True, "1"),
    ]
    assert [(r.type, r.name) for r in resize.returns] == [("bool", "")]
    assert [got[n].kind for n in ("Part.Shape", "Part.Touched", "NormalId.Top")] == ["field", "event", "field"]


LOVE_LUA = """\
local path = (...):match('(.-)[^%.]+$')
return {
    name = 'love',
    version = '11.5',
    modules = {
        {
            name = 'graphics',
            functions = {
                {
                    name = 'rectangle',
                    description = [[
Draws a rectangle.]],
                    variants = {
                        {
                            arguments = {
                                { type = 'DrawMode', name = 'mode' },
                                { type = 'number', name = 'x' },
                                { type = 'number', name = 'y' },
                                { type = 'number', name = 'width' },
                                { type = 'number', name = 'height' },
                                { type = 'number', name = 'rx', default = 'nil' },
                            },
                        },
                    },
                },
            },
            types = {
                {
                    name = 'Image',
                    functions = {
                        { name = 'getWidth', variants = { { returns = { { type = 'number', name = 'width' } } } } },
                    },
                },
            },
        },
        require(path .. 'modules.audio.Audio'),
    },
    callbacks = {
        { name = 'load', description = "Called once at start.\\z
                                        ", variants = { { arguments = { { type = 'table', name = 'arg' } } } } },
    },
}
"""


def test_lua_table_nested_modules_types_variants_and_callbacks_read_without_running_it():
    got = by_name(read(LOVE_LUA, "love_api.lua"))
    assert sorted(got) == ["love.graphics.Image:getWidth", "love.graphics.rectangle", "love.load"]
    rectangle = got["love.graphics.rectangle"]
    assert counts(rectangle) == (5, 1) and rectangle.description == "Draws a rectangle."
    width = got["love.graphics.Image:getWidth"]  # a type's functions are its methods
    assert (width.kind, width.params) == ("method", [])
    assert [(r.type, r.name) for r in width.returns] == [("number", "width")]
    assert (got["love.load"].kind, got["love.load"].description) == ("event", "Called once at start.")


def test_a_file_for_each_member_is_named_by_its_path(tmp_path):
    """Folder = library or type when a file beside it describes it; file = member; a folder with no description
    (`global/`) is a grouping. Read end to end through read_docs, beside LuaCATS stubs and an example script."""
    api = tmp_path / "api"
    (api / "global" / "gfx" / "line").mkdir(parents=True)
    (api / "global" / "gfx.lua").write_text('return {\n\ttype = "lib",\n\tdescription = "Drawing.",\n}\n')
    (api / "global" / "gfx" / "line.lua").write_text(
        'return {\n\ttype = "function",\n\tdescription = [[Draws. Example: ---@param x]],\n'
        '\targuments = {\n\t\t{ name = "x", type = "number" },\n\t\t{ name = "y", type = "number?" },\n\t},\n}\n'
    )
    (api / "global" / "gfx" / "line" / "example.lua").write_text("local t = { type = gfx.line }\ngfx.line(1)\n")
    (api / "global" / "gfx" / "circle.json").write_text('{"type": "function", "args": "r [, segments]"}')
    (api / "global" / "hello.yaml").write_text("type: function\nparams:\n  - name: who\n")
    (api / "types" / "Pen").mkdir(parents=True)
    (api / "types" / "Pen.lua").write_text('return { type = "class" }\n')
    (api / "types" / "Pen" / "move.lua").write_text('return { type = "method", arguments = {{ name = "dx" }} }\n')
    (api / "stubs.lua").write_text("---@param s string\nfunction shout(s) end\n")
    result = read_docs([api])
    got = {e.name: e for e in result.api}
    assert sorted(got) == ["Pen:move", "gfx.circle", "gfx.line", "hello", "shout"]
    assert counts(got["gfx.line"]) == (1, 1) and counts(got["gfx.circle"]) == (1, 1)
    assert got["gfx.line"].source.file == "global/gfx/line.lua"
    assert got["Pen:move"].kind == "method" and counts(got["hello"]) == (1, 0)
    assert result.layouts[str(api / "stubs.lua")] == "luacats"
    assert str(api / "global" / "gfx" / "line" / "example.lua") not in result.layouts  # code, not a description


def test_callables_known_by_name_only_are_one_row_not_entries():
    xml = "<Lua><GlobalFunctions>" + "".join(f"<Function name='f{i}'/>" for i in range(5)) + "</GlobalFunctions>"
    xml += "<Constants><Constant name='SCREEN_WIDTH' value='640'/><Constant name=\"'quoted'\"/></Constants></Lua>"
    reading = read(xml, "Lua.xml")
    assert [e.name for e in reading.entries] == ["SCREEN_WIDTH"]
    rows = sorted((row.what, row.reason.split(":")[0]) for row in reading.skipped)
    assert rows == [
        ("1 item (\"'quoted'\")", "a field whose name is not a Lua name"),
        ("5 items (f0, f1, f2, and 2 more)", "known by name only (no parameters, returns, description or signature)"),
    ]


@pytest.mark.parametrize(
    "name, text, line, reason",
    [
        ("a.json", '{"functions": [\n  {"name": "f",\n}]}', 3, "malformed JSON"),
        ("a.yaml", "functions:\n  - name: f\n   params: [", 3, "malformed YAML"),
        ("a.xml", "<api>\n<function name='f'>\n</api>", 3, "malformed XML"),
        ("a.lua", 'return {\n  type = "function",\n  arguments = {{ name = }},\n}', 3, "not valid Lua"),
    ],
)
def test_a_file_that_does_not_parse_is_a_row_with_its_line(name, text, line, reason):
    reading = read(text, name)
    assert reading.entries == [] and len(reading.skipped) == 1
    assert (reading.skipped[0].file, reading.skipped[0].line) == (f"docs/{name}", line)
    assert reading.skipped[0].reason.startswith(reason)


@pytest.mark.parametrize(
    "name, text, what",
    [
        ("deep.json", '{"a": ' * 3000 + "1" + "}" * 3000, "JSON"),
        ("deep.yaml", "[" * 3000 + "]" * 3000, "YAML"),
        ("deep.xml", "<a>" * 1500 + "</a>" * 1500, "XML"),
        ("deep.lua", "return " + "{" * 3000 + "}" * 3000, "Lua"),
    ],
)
def test_data_nested_too_deeply_is_a_row_not_a_crash(name, text, what):
    reading = read(text, name)
    assert [(r.what, r.reason) for r in reading.skipped] == [("file", f"{what} nested too deeply to read")]


def test_a_module_keyed_by_name_holding_a_container():
    text = json.dumps({"robot": {"functions": [{"name": "go", "params": [{"name": "speed"}]}], "version": 2}})
    got = by_name(read(text, "robot.json"))
    assert list(got) == ["robot.go"] and [p.name for p in got["robot.go"].params] == ["speed"]


def test_keys_it_cannot_guess_are_named_by_an_override():
    text = json.dumps({"procs": [{"ident": "go", "kind": "function", "inputs": [{"name": "speed"}]}]})
    assert read(text, "robot.json").entries == []  # neither `ident` nor `procs` says what it holds
    got = by_name(read(text, "robot.json", keys={"name": ["ident"], "params": ["inputs"], "members": ["procs"]}))
    assert list(got) == ["go"] and [p.name for p in got["go"].params] == ["speed"]
    with pytest.raises(ApiError, match="no key role 'argz'"):
        read(text, "robot.json", keys={"argz": ["inputs"]})


HEADS = {
    "steam.script_api": "- name: steam\n  type: table\n  members:\n  - name: init\n    type: function\n",
    "Docs.xml": "<?xml version='1.0'?>\n<!-- <Function name='' arguments=''> -->\n<Documentation xmlns='urn:x'>"
    "<GlobalFunctions><Function name='f' arguments='int a'>d</Function></GlobalFunctions></Documentation>",
    "rayTest.lua": 'return {\n\ttype = "function",\n\targuments = {{ name = "x" }},\n}\n',
    "gfx.json": json.dumps(GFX_JSON),
}
NOT_STRUCTURED = {
    "api.json": json.dumps({"name": "x", "version": 2, "entries": [{"name": "f", "kind": "function"}]}),
    "legacy.json": json.dumps({"string": [{"function_name": "format", "args": []}]}),
    "config.json": json.dumps({"name": "nCine", "words": ["nc%.%w+"], "settings": {"Lua.runtime.version": "5.4"}}),
    "stubs.lua": "---@class gfx\ngfx = { type = 'x', name = 'y' }\n---@param x number\nfunction gfx.f(x) end",
    "ldoc.lua": "--- Lists.\n-- @module pl.List\nlocal List = { name = 'List' }\nreturn List\n",
    "module.lua": "local M = {}\nfunction M.f(a) return a end\nreturn M\n",
    "Lua.xsd": '<?xml version="1.0"?>\n<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
    '<xs:element name="Function"><xs:attribute name="arguments"/></xs:element></xs:schema>',
    "Lua.xsl": '<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform"><xsl:template match="Function"'
    ' name="f" arguments="x"/></xsl:stylesheet>',
    "page.html": "<html><body><div name='f' arguments='x'>function f</div></body></html>",
    "LICENSE.txt": "Permission is hereby granted, free of charge, to any person obtaining a copy\nname: nobody\n",
    "image.png": "\x89PNG\r\n\x1a\n\x00\x00name: type:",
}


@pytest.mark.parametrize("name", sorted(HEADS))
def test_looks_structured(name):
    assert looks_structured(Path(name), HEADS[name])


@pytest.mark.parametrize("name", sorted(NOT_STRUCTURED))
def test_not_structured(name):
    assert not looks_structured(Path(name), NOT_STRUCTURED[name])


def test_a_json_description_named_on_the_command_line_is_read_by_shape(tmp_path):
    path = tmp_path / "gfx.json"
    path.write_text(json.dumps(GFX_JSON, indent=1))
    result = read_docs([path])
    assert result.layouts == {str(path): "structured"} and result.api.get("gfx.line") is not None
    own = tmp_path / "api.json"
    own.write_text(json.dumps({"name": "x", "entries": [{"name": "f", "kind": "function", "signature": "f()"}]}))
    assert read_docs([own]).layouts == {str(own): "json"}
