"""The call extractor on tricky snippets, and Lua code in Markdown answers."""

from __future__ import annotations

import pytest

from luacoder.grading import ApiIndex
from luacoder.lua.calls import extract_calls
from luacoder.lua.markdown_code import extract_lua_blocks, extract_lua_code


def calls(source: str) -> list[tuple]:
    return [(c.name, c.resolved, c.args) for c in extract_calls(source).calls]


# (source, [(name as written, resolved name, argument count), ...] in source order)
CASES = [
    ('print("hi")', [("print", "print", 1)]),
    ('string.format("%d", 1)', [("string.format", "string.format", 2)]),
    ("ngx.req.get_headers()", [("ngx.req.get_headers", "ngx.req.get_headers", 0)]),
    ("obj:method(1, 2)", [("obj:method", "obj:method", 2)]),
    (
        'io.open("f"):read("a")',
        [("io.open(...):read", "io.open(...):read", 1), ("io.open", "io.open", 1)],
    ),
    ("b:add(1):add(2)", [("b:add(...):add", "b:add(...):add", 1), ("b:add", "b:add", 1)]),
    ('f"str"', [("f", "f", 1)]),
    ("f{1, 2, 3}", [("f", "f", 1)]),
    ("obj:m{}", [("obj:m", "obj:m", 1)]),
    ("f()", [("f", "f", 0)]),
    ("print(...)", [("print", "print", 1)]),
    (
        'print(string.format("%s", tostring(x)))',
        [("print", "print", 1), ("string.format", "string.format", 2), ("tostring", "tostring", 1)],
    ),
    ('local fmt = string.format\nfmt("%d", 1)', [("fmt", "string.format", 2)]),
    ('local s = string\ns.rep("x", 3)', [("s.rep", "string.rep", 2)]),
    ('local s = string\nlocal r = s.rep\nr("x", 2)', [("r", "string.rep", 2)]),
    ('local a, b = string.upper, string.lower\nb("X")', [("b", "string.lower", 1)]),
    ('fmt = string.format\nfmt("%d", 2)', [("fmt", "string.format", 2)]),
    ('("%d"):format(5)', [('("%d"):format', "string.format", 1)]),
    ('local t = {}\nt.x("a")', [("t.x", "t.x", 1)]),
    ('-- print("no")\n--[[ os.exit(1) ]]', []),
    ('local s = "print(1)"\nlocal l = [[os.execute("x")]]', []),
    ("x = a.b[1](2)", [("a.b[...]", "a.b[...]", 1)]),
    ("(f)(1)", [("(f)", "(f)", 1)]),
    ("local x = #t + n", []),
]


@pytest.mark.parametrize("source,expected", CASES, ids=[c[0][:30] for c in CASES])
def test_calls_of_tricky_snippets(source, expected):
    report = extract_calls(source)
    assert report.syntax_ok, report.errors
    assert calls(source) == expected


def test_alias_is_scoped_and_shadowed():
    source = """
local fmt = string.format
do
  local fmt = function() end
  fmt()
end
fmt("%d", 1)
local function f(fmt) fmt() end
"""
    got = [(c.name, c.resolved, c.local) for c in extract_calls(source).calls]
    assert got == [("fmt", "fmt", True), ("fmt", "string.format", False), ("fmt", "fmt", True)]


def test_alias_reassigned_is_forgotten():
    got = calls('local f = print\nf = function() end\nf("x")')
    assert got == [("f", "f", 1)]


def test_local_calls():
    source = """
local M = {}
function M.new() return setmetatable({}, M) end
function M:len() return 0 end
local function helper(x) return x end
local obj = M.new()
print(obj:len(), helper(1), undefined_global(2), M.new())
for _, cb in ipairs({}) do cb() end
local tbl = {go = function() end}
tbl.go()
later()
function later() end
"""
    got = {(c.name, c.local) for c in extract_calls(source).calls}
    assert ("M.new", True) in got
    assert ("obj:len", True) in got
    assert ("helper", True) in got
    assert ("undefined_global", False) in got
    assert ("print", False) in got
    assert ("setmetatable", False) in got
    assert ("cb", True) in got
    assert ("tbl.go", True) in got
    assert ("later", True) in got


def test_line_column_and_open_ended():
    source = "local x = 1\nprint(x,\n  table.unpack(t))\nf(g())\nf((g()))\nh(1, ...)\n"
    report = extract_calls(source)
    by_name = {c.name: c for c in report.calls}
    assert (by_name["print"].line, by_name["print"].column) == (2, 1)
    assert by_name["table.unpack"].line == 3
    assert by_name["table.unpack"].column == len("  table.") + 1
    assert by_name["print"].open_ended
    assert [c.open_ended for c in report.calls if c.name == "f"] == [True, False]
    assert by_name["h"].open_ended and by_name["h"].args == 2


def test_method_chain_line_is_the_method_name():
    report = extract_calls("builder\n  :add(1)\n  :build()\n")
    assert [(c.name, c.line, c.is_method) for c in report.calls] == [
        ("builder:add(...):build", 3, True),
        ("builder:add", 2, True),
    ]


@pytest.mark.parametrize("source", ["print((", "local = 3", "function f( end", "x = {1, 2", "if x then"])
def test_syntax_errors_are_reported_with_positions(source):
    report = extract_calls(source)
    assert not report.syntax_ok
    assert all(e.line >= 1 and e.column >= 1 for e in report.errors)


def test_calls_in_code_around_a_syntax_error_are_still_found():
    report = extract_calls('print("a")\nlocal = 1\nos.time()\n')
    assert not report.syntax_ok
    assert "print" in report.names()


def test_words_of_strings_whose_quotes_error_recovery_lost_are_not_calls():
    # A JSON object written as a Lua table (SmolLM2 did): error recovery pairs the quotes wrongly, and every
    # `word", "` reads as a call of `word` with a string argument.
    json_like = 'local obj = {\n  "name": "John",\n  "address": {\n    "city": "New York"\n  }\n}\n'
    assert not extract_calls(json_like).syntax_ok
    assert extract_calls(json_like).names() == []
    # A glued string call that starts with a word is still one, and in code that parses every call counts.
    calls = 'local s = require"string"\nprint"hi"\nfoo", "\n'
    assert extract_calls(calls).names() == ["require", "print", "foo"]
    assert extract_calls(calls + "end end\n").names() == ["require", "print"]


def test_deeply_nested_source_does_not_hit_the_recursion_limit():
    source = "x = " + "f(" * 3000 + "1" + ")" * 3000
    assert len(extract_calls(source).calls) == 3000


def test_api_index_status():
    from luacoder.apidocs.schema import ApiEntry

    api = [
        ApiEntry(name="string.rep", kind="function", module="string", signature="", aliases=["s:rep"]),
        ApiEntry(name="file:read", kind="method", module="io", signature=""),
        ApiEntry(name="print", kind="function", module="_G", signature=""),
    ]
    index = ApiIndex(api, base="none")  # this API alone: io.open is not documented
    report = extract_calls(
        'local function h() end\nh()\nprint(("x"):rep(2))\nlocal f = io.open("a")\nf:read("a")\nline:rep(2)\nfoo()'
    )
    status = {c.name: index.status(c) for c in report.calls}
    assert status == {
        "h": "local",
        "print": "known",
        '("x"):rep': "known",
        "io.open": "unknown",
        "f:read": "known",
        "line:rep": "known",
        "foo": "unknown",
    }
    # With the Lua standard library under the API (the default), io.open is a known standard call.
    assert (
        ApiIndex(api).status(report.calls[3]) == "known" and ApiIndex(api).classify(report.calls[3]).kind == "standard"
    )


MARKDOWN = """Here is the answer.

```lua
print("one")
```

Run it with:

```bash
lua main.lua
```

```
local two = 2
print(two)
```

```
This is not Lua code at all!
```

```Lua title="x"
print("three")
```

    print("indented")
"""


def test_extract_lua_code_from_markdown():
    assert extract_lua_code(MARKDOWN) == [
        'print("one")\n',
        "local two = 2\nprint(two)\n",
        'print("three")\n',
        'print("indented")\n',
    ]
    blocks = extract_lua_blocks(MARKDOWN)
    assert [b.line for b in blocks] == [4, 14, 23, 26]
    assert MARKDOWN.splitlines()[blocks[1].line - 1] == "local two = 2"


def test_no_code_blocks():
    assert extract_lua_code("just text, print(1) inline `f()`") == []
