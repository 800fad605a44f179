"""Signatures read right (luacoder.apidocs.call_forms), kept as call forms in api.json, and used by the grader."""

from __future__ import annotations

import json
import math

import pytest

from luacoder.apidocs.call_forms import parse_call_form
from luacoder.apidocs.schema import ApiEntry, ApiError, ApiSet, CallForm, Param, load_api, save_api
from luacoder.grading import ApiIndex
from luacoder.lua.calls import extract_calls


@pytest.mark.parametrize(
    "text, name, params, returns",
    [
        ("ok, err = ngx.say(a, b?)", "ngx.say", [("a", False), ("b", True)], ["ok", "err"]),
        ("string.rep (s, n [, sep])", "string.rep", [("s", False), ("n", False), ("sep", True)], []),
        (
            "display.newImageRect( [parent,] filename, [baseDir,] width, height )",
            "display.newImageRect",
            [("parent", True), ("filename", False), ("baseDir", True), ("width", False), ("height", False)],
            [],
        ),
        (
            "load (chunk [, chunkname [, mode [, env]]])",
            "load",
            [("chunk", False)] + [(n, True) for n in ("chunkname", "mode", "env")],
            [],
        ),
        (
            "string.format (formatstring, \u00b7\u00b7\u00b7)",
            "string.format",
            [("formatstring", False), ("...", True)],
            [],
        ),
        ("int BuildTime(string type, string queue = nil)", "BuildTime", [("type", False), ("queue", True)], [""]),
        ("f(x (optional), y = 2, z|nil)", "f", [("x", True), ("y", True), ("z", True)], []),
        (
            "core.register_on_generated(function(minp, maxp, blockseed))",
            "core.register_on_generated",
            [("callback", False)],
            [],
        ),
        (
            "mp.add_key_binding(key, name|fn [,fn [,flags]])",
            "mp.add_key_binding",
            [("key", False), ("name", False), ("fn", True), ("flags", True)],
            [],
        ),
        ("`tcp:bind(host, port, [flags])`", "tcp:bind", [("host", False), ("port", False), ("flags", True)], []),
        # C-style: `void` is no parameter, `Actor[]` an array type, `table { k= v }` one table, `optional` a name
        ("int GetCount(void)", "GetCount", [], [""]),
        ("All(LuaValue[] collection, LuaFunction func)", "All", [("collection", False), ("func", False)], []),
        ("SetInfo(int index, table { table pos, table color })", "SetInfo", [("index", False), ("table", False)], []),
        ("ResolvePath(string sPath, bool optional)", "ResolvePath", [("sPath", False), ("optional", False)], []),
        # Lua's calls with one table or one string, and a table that holds calls of its own.
        ("local sprite = Sprite{ fromFile=string }", "Sprite", [("table", False)], ["sprite"]),
        ('app.alert "Text"', "app.alert", [("value", False)], []),
        ("dlg:show{ wait=false, bounds=Rectangle() }", "dlg:show", [("table", False)], []),
        ("haka.alert{param1=value1, param2=value2[, ...]} -> alert", "haka.alert", [("table", False)], [""]),
        # A typed variadic (`... : variable`), and an example value: an argument with no name.
        ("f( event : string, ... : variable ) : t", "f", [("event", False), ("...", True)], [""]),
        ('app.tip("Text", 3.5)', "app.tip", [("Text", False), ("value", False)], []),
    ],
)
def test_signature_forms(text, name, params, returns):
    form = parse_call_form(text)
    assert form.name == name and form.callable
    assert [(p.name, p.optional) for p in form.params] == params
    assert [r.name for r in form.returns] == returns


def test_defaults_types_and_fields_of_a_parameter():
    form = parse_call_form("int BuildTime(string type, string queue = nil)")
    assert [(p.type, p.default) for p in form.params] == [("string", ""), ("string", "nil")]
    assert form.returns[0].type == "int"
    assert not parse_call_form("math.pi").callable
    with pytest.raises(ApiError, match="unbalanced"):
        parse_call_form("f(a, b")


def solar_entry() -> ApiEntry:
    one = lambda *names: [Param(n) for n in names]  # noqa: E731
    return ApiEntry(
        name="ShapeObject:setFillColor",
        kind="method",
        module="display",
        signature="object:setFillColor( gray )",
        params=one("gray"),
        forms=[CallForm("a", one("gray")), CallForm("b", one("gray", "alpha")), CallForm("c", one("r", "g", "b"))],
        owner="ShapeObject",
    )


def test_a_call_is_right_when_it_fits_any_form():
    index = ApiIndex([solar_entry()])
    code = "local r = x\n" + "\n".join(
        f"r:setFillColor({args})" for args in ("1", "1, 0.5", "1, 0, 0", "", "1, 2, 3, 4, 5")
    )
    calls = extract_calls(code)
    got = [index.classify(c).arity_ok for c in calls.calls]
    assert got == [True, True, True, False, False]
    assert index.classify(calls.calls[-1]).expected_args == "1 or 2 or 3"


def test_api_json_version_2_round_trips_and_version_1_still_reads(tmp_path):
    entry = solar_entry()
    entry.forms[0].params[0].fields = [Param("text", "string"), Param("font", optional=True)]
    save_api(ApiSet("solar", [entry]), tmp_path / "api.json")
    data = json.loads((tmp_path / "api.json").read_text())
    assert data["version"] == 2 and data["entries"][0]["owner"] == "ShapeObject"
    back = load_api(tmp_path / "api.json").entries[0]
    assert back.arities() == [(1, 1), (2, 2), (3, 3)] and back.forms[0].params[0].fields[1].optional
    old = {"name": "old", "entries": [{"name": "f", "kind": "function", "params": [{"name": "a"}, {"name": "..."}]}]}
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert load_api(tmp_path / "old.json").entries[0].arity() == (1, math.inf)
    (tmp_path / "future.json").write_text(json.dumps({**old, "version": 9}))
    with pytest.raises(ApiError, match="version 9"):
        load_api(tmp_path / "future.json")


def test_texts_that_are_no_call():
    with pytest.raises(ApiError, match="cannot read a name"):
        parse_call_form("Collision info passed to on_step (moveresult)")  # words are not a name
    prop = parse_call_form("WPos Position { get; set; }")  # a typed property, not a call with a table
    assert (prop.name, prop.callable, prop.returns[0].type) == ("Position", False, "WPos")
    assert not parse_call_form("math.pi").callable
