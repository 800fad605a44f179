"""API stubs from api.json (luacoder.lua.stubs): every documented name exists, calls are checked against every form
and the simple documented types, results carry their type's methods, undocumented members are API errors, the real
standard library wins, the sandbox's limits hold; and the rates on the shared corpora's own examples."""

from __future__ import annotations

import json

import pytest
import stubs_corpora
from conftest import BUNDLED_DOCS, CORPORA

from luacoder.apidocs import read_docs
from luacoder.apidocs.schema import ApiEntry, ApiSet, CallForm, Param, Return, save_api
from luacoder.cli import main
from luacoder.grading import ApiIndex, grade_answer
from luacoder.grading.execution import ExecutionCache, execute_grades
from luacoder.lua.sandbox import LuaJob, run_lua, run_many
from luacoder.lua.stubs import api_error_of, stub_prelude, stubbed_names, type_mask
from luacoder.rl.rewards import RewardArguments, reward_functions
from luacoder.selfinstruct.response_filter import FilterConfig, filter_rows


def entry(name: str, *params: str, returns: tuple[str, ...] = (), kind: str = "", **fields) -> ApiEntry:
    """`name:type` params (`[x]` optional, `...` variadic)."""
    built = [
        Param(p.split(":")[0].strip("[]"), p.partition(":")[2] or "any", optional=p.startswith("[") or p == "...")
        for p in params
    ]
    return ApiEntry(
        name=name,
        kind=kind or ("method" if ":" in name else "function"),
        module=name.split(".")[0].split(":")[0],
        signature=name,
        params=built,
        returns=[Return(r) for r in returns],
        **fields,
    )


def form(*params: str) -> CallForm:
    return CallForm("", entry("f", *params).params)


API = ApiSet(
    "test",
    [
        entry(
            "display.newRect",
            "[parent:GroupObject]",
            "x:Number",
            "y:Number",
            "w:Number",
            "h:Number",
            returns=("ShapeObject",),
        ),
        entry(
            "display.newImageRect",
            returns=("DisplayObject",),
            forms=[
                form("[parent:GroupObject]", "filename:String", "[baseDir:Constant]", "w:Number", "h:Number"),
                form("[parent:GroupObject]", "sheet:ImageSheet", "frame:Number", "w:Number", "h:Number"),
            ],
        ),
        entry("display.newGroup", returns=("GroupObject",)),
        entry(
            "ShapeObject:setFillColor",
            forms=[form("gray:Number", "[alpha:Number]"), form("r:Number", "g:Number", "b:Number", "[a:Number]")],
        ),
        entry("DisplayObject:removeSelf"),
        entry("GroupObject:insert", "[index:Number]", "child:DisplayObject"),
        entry("Runtime:addEventListener", "event:String", "listener:Listener", returns=("Boolean",)),
        entry(
            "timer.performWithDelay", "delay:Number", "listener:Listener", "[iterations:Number]", returns=("Table",)
        ),
        entry("table.copy", "...", returns=("Table",)),
        entry("print", "..."),
        entry("uv.new_timer", returns=("uv_timer_t userdata|fail",)),
        entry(
            "uv.timer_start",
            "timer:uv_timer_t userdata",
            "timeout:integer",
            "repeat:integer",
            "callback:callable",
            returns=("0|fail",),
            aliases=["timer:start"],
        ),
        entry("uv.run", "[mode:string]", returns=("boolean|fail",)),
        entry("core.get_node", "pos"),
        entry("core.get_meta", "pos"),
        entry("core.registered_nodes", kind="field"),
        entry("MetaDataRef:set_string", "key:string", "value:string"),
        entry("vector.new", "x:number", "y:number", returns=("Vec",)),
        entry("Vec:__add", "other", returns=("Vec",)),
        entry("Vec:len", returns=("number",)),
        entry("json.decode", "s:String", returns=("Table",), examples=['local json = require("json")']),
        entry("msg.info", "..."),
        entry("enterFrame", kind="event"),
    ],
    requires={"luv": "uv"},
)
PRELUDE = stub_prelude(API)

# name -> (code, the API error it raises or None, whether it runs to its end, its stdout)
CASES = {
    "forms": (
        "local r = display.newRect(1, 2, 3, 4); display.newRect(display.newGroup(), 1, 2, 3, 4)\n"
        "r:setFillColor(0.5); r:setFillColor(1, 0, 0); r:setFillColor(1, 0, 0, 1)\n"
        'display.newImageRect("a.png", 10, 10); display.newImageRect({}, 1, 10, 10)',
        None,
        True,
        "",
    ),
    "arity against every form": (
        "local r = display.newRect(1, 2, 3, 4)\nr:setFillColor(1, 0, 0, 1, 0)",
        "ShapeObject:setFillColor: 5 argument(s), wants 1-2 or 3-4",
        False,
        "",
    ),
    "arity of a function": (
        "display.newImageRect()",
        "display.newImageRect: 0 argument(s), wants 3-5 or 4-5",
        False,
        "",
    ),
    "types": (
        'display.newRect("a", 1, 2, 3)',
        "display.newRect: arguments (string, number, number, number) fit no documented form: wants"
        " ([any], number, number, number, number)",
        False,
        "",
    ),
    "numbers and numeric strings convert": ('display.newRect("10", 1, 2, 3); print("ok")', None, True, "ok\n"),
    "a function wanted": (
        "uv.timer_start(uv.new_timer(), 1, 0, 'go')",
        "uv.timer_start: arguments (table, number, number, string) fit no documented form: wants"
        " (any, number, number, function)",
        False,
        "",
    ),
    "nil for an optional parameter": (
        "timer.performWithDelay(10, function() end, nil); print('ok')",
        None,
        True,
        "ok\n",
    ),
    "nil for a required one is the program's error": ("display.newRect(1, 2, 3, undefined_width)", None, False, ""),
    "named arguments": ("json.decode{text = '[]'}; print('ok')", None, True, "ok\n"),
    "objects carry their methods": (
        "local r = display.newRect(1, 2, 3, 4); r:setFillColor(1); r:removeSelf()\n"
        "local t = uv.new_timer(); t:start(10, 0, function() end)\n"
        "r.name = 'box'; print(tostring(r), type(r), r.name, Runtime:addEventListener('enterFrame', print))",
        None,
        True,
        "ShapeObject\ttable\tbox\ttrue\n",
    ),
    "a method alias counts as written": (
        "local t = uv.new_timer(); t:start(10)",
        "uv.timer_start: 1 argument(s), wants 3",
        False,
        "",
    ),
    "undocumented module member": (
        "display.newRectangle(1, 2, 3, 4)",
        "undocumented member display.newRectangle",
        False,
        "",
    ),
    "undocumented object member": (
        "local r = display.newRect(1, 2, 3, 4); r:setColor(1)",
        "undocumented member ShapeObject.setColor",
        False,
        "",
    ),
    "undocumented property read": (
        "local r = display.newRect(1, 2, 3, 4); print(r.x)",
        "undocumented member ShapeObject.x",
        False,
        "",
    ),
    "a module is not a function": ("display(1)", "display is not a documented function", False, ""),
    "a field is not a function": (
        "core.registered_nodes()",
        "core.registered_nodes is a documented field, not a function",
        False,
        "",
    ),
    "the standard library wins": (
        'print(string.format("%d", 7), #table.copy({1}), table.concat({1, 2}, ","), debug, io.open == nil)\n'
        'print(pcall(io.open, "x"))',
        None,
        True,
        "7\t0\t1,2\tnil\tfalse\nfalse\tsandbox: io.open is not allowed (file access is disabled; the sandbox"
        " offers an in-memory file system with files=)\n",
    ),
    "require": (
        'local uv, json, msg = require("luv"), require("json"), require("mp.msg")\n'
        "print(uv == _G.uv, json.decode('[]') ~= nil, msg == _G.msg, require('string') == string)\n"
        "require('socket')",
        None,
        False,
        "true\ttrue\ttrue\ttrue\n",
    ),
    "callbacks are not called": (
        "timer.performWithDelay(1, function() error('called') end)\n"
        "Runtime:addEventListener('enterFrame', function() error('called') end); print('ok', enterFrame)",
        None,
        True,
        "ok\tnil\n",
    ),
    "values of unknown type": (
        "local node, meta = core.get_node({}), core.get_meta({})\n"
        "meta:set_string('k', 'v')\n"
        "for _ in ipairs(node) do error('looped') end\n"
        "for _ in pairs(core.registered_nodes) do error('looped') end\n"
        "print(node.name == 'air', #node, node + 1 ~= nil, 'n: ' .. node.name)",
        None,
        True,
        "false\t0\ttrue\tn: core.get_node(...).name\n",
    ),
    "a documented method of a value of unknown type is checked": (
        "core.get_meta({}):set_string('k')",
        "MetaDataRef:set_string: 1 argument(s), wants 2",
        False,
        "",
    ),
    "an undocumented method of a value of unknown type": (
        "local node = core.get_node({}); node:dig()",
        "undocumented member core.get_node(...).dig",
        False,
        "",
    ),
    "metamethods": ("print((vector.new(1, 2) + vector.new(3, 4)):len())", None, True, "1\n"),
    "an API error caught by pcall is still reported": (
        "print(pcall(function() return display.newRectangle end))",
        "undocumented member display.newRectangle",
        True,
        None,
    ),
    "the program's own error is not an API error": ("error('boom')", None, False, ""),
}


@pytest.fixture(scope="module")
def results():
    names = list(CASES)
    return dict(zip(names, run_many([LuaJob(CASES[n][0], prelude=PRELUDE) for n in names]), strict=True))


@pytest.mark.parametrize("name", list(CASES))
def test_stubs(results, name):
    code, api_error, ran, stdout = CASES[name]
    result = results[name]
    assert result.reason != "prelude", result.error
    assert api_error_of(result) == api_error, (result.error, result.stderr)
    assert result.ok is ran, result.error
    if stdout is not None:
        assert result.stdout == stdout


def test_errors_name_the_line_and_keep_the_program_error_apart(results):
    assert (
        results["undocumented module member"].error == "input:1: API error: undocumented member display.newRectangle"
    )
    assert results["arity against every form"].error.startswith("input:2: API error: ")
    nil = results["nil for a required one is the program's error"]
    assert nil.error == (
        "input:1: bad arguments (number, number, number, nil) to 'display.newRect': a nil where it wants"
        " ([any], number, number, number, number)"
    )
    assert results["require"].error == "input:3: sandbox: require is not allowed (modules are disabled)"


def test_type_masks():
    assert type_mask("String or Number") == 3 and type_mask("callable|nil") == 16 | 32
    assert type_mask("integer") == 1 and type_mask("string?") == 2 | 32 and type_mask("Actor[]") == 8
    assert type_mask("DisplayObject") == 0 and type_mask("any") == 0 and type_mask("nil") == 0
    assert type_mask("Number or DisplayObject") == 0


def test_only_the_api_is_stubbed_and_an_index_gives_the_same_stubs():
    assert "table.copy" in stubbed_names(API) and "print" not in stubbed_names(API)
    assert stub_prelude(ApiIndex(API)) == PRELUDE
    lua54 = read_docs([BUNDLED_DOCS]).api
    assert len(lua54) > 100 and stubbed_names(lua54) == set()  # the standard library's docs: nothing is replaced
    result = run_lua('print(string.rep("a", 2, ",", "extra"), debug, pcall(string.rep))', prelude=stub_prelude(lua54))
    assert (
        result.ok
        and result.stdout == "a,a\tnil\tfalse\tbad argument #1 to 'string.rep' (string expected, got no value)\n"
    )


def big_api(modules: int = 50, functions: int = 100) -> ApiSet:
    entries = [
        entry(f"mod{m}.func{f}", "a:number", "[b:string]", returns=("Obj" if f % 2 else "number",))
        for m in range(modules)
        for f in range(functions)
    ]
    return ApiSet("big", entries + [entry(f"Obj:meth{m}", "x:number") for m in range(modules)])


def test_thousands_of_entries_cost_little_and_limits_hold():
    prelude = stub_prelude(big_api())
    assert len(prelude) < 400_000
    code = 'local o = mod3.func1(1); o:meth4(2); print(mod49.func99(1, "x"), pcall(o.meth4, o))'
    loop = "for i = 1, 1e9 do mod1.func1(i) end"
    grow = "local t = {} for i = 1, 1e8 do t[i] = mod1.func1(i) end"
    jobs = [
        LuaJob(code, prelude=prelude, instructions=50_000),  # the prelude's own cost does not grow with the entries
        LuaJob(loop, prelude=prelude, instructions=1_000_000),
        LuaJob(grow, prelude=prelude, memory_mb=8, timeout=20),
        LuaJob("print('never')", prelude="while true do end", instructions=100_000),
        LuaJob("print('never')", prelude="local t = {} for i = 1, 1e9 do t[i] = {} end", memory_mb=16, timeout=20),
        LuaJob("print('never')", prelude="error('broken stubs')"),
        LuaJob("print('never')", prelude="local x ="),
    ]
    ran, loop, grow, spin, hog, broken, syntax = run_many(jobs)
    assert ran.ok and ran.stdout == "Obj\tfalse\tAPI error: Obj:meth4: 0 argument(s), wants 1\n", ran.error
    assert loop.reason == "instructions" and grow.reason == "memory"
    assert spin.reason == "instructions" and hog.reason == "memory" and spin.stdout == hog.stdout == ""
    assert broken.reason == "prelude" and broken.error == "sandbox: the prelude failed: [prelude]:1: broken stubs"
    assert syntax.reason == "prelude" and syntax.stdout == ""
    assert api_error_of(broken) is None


def test_run_lua_takes_a_prelude():
    result = run_lua("display.newRect(1)", prelude=PRELUDE)
    assert api_error_of(result) == "display.newRect: 1 argument(s), wants 4-5"


# -- the stubs' users: eval's execute, the GRPO execution reward, the self-instruct execution filter


def _answer(code: str) -> str:
    return f"Here:\n```lua\n{code}\n```\n"


ANSWERS = {
    "calls the API": "local r = display.newRect(1, 2, 3, 4); r:setFillColor(1)",
    "undocumented": "display.newRectangle(1, 2, 3, 4)",
    "caught": "pcall(function() display.newRect(1) end)",
    "own error": "error('boom')",
}


def test_eval_runs_answers_with_the_stubs(tmp_path):
    index = ApiIndex(API)
    grades = [grade_answer(_answer(code), index) for code in ANSWERS.values()]
    cache = ExecutionCache(tmp_path / "executions.jsonl")
    execute_grades(grades, cache, prelude=stub_prelude(index), workers=1)
    assert [(g.ran_ok, g.run_reason) for g in grades] == [
        (True, None),
        (False, "api"),
        (False, "api"),
        (False, "error"),
    ]
    without = [grade_answer(_answer(code), index) for code in ANSWERS.values()]
    execute_grades(without, cache, workers=1)  # the stubs are part of the cache key
    assert [g.ran_ok for g in without] == [False, False, True, False]
    assert len(ExecutionCache(tmp_path / "executions.jsonl").results) == 8


def test_the_execution_reward_runs_with_the_stubs():
    (reward,) = reward_functions(ApiIndex(API), RewardArguments(["execution"]))
    completions = [[{"role": "assistant", "content": _answer(code)}] for code in ANSWERS.values()]
    assert reward(prompts=[None] * 4, completions=completions) == [1.0, 0.0, 0.0, 0.0]


def test_the_self_instruct_filter_runs_with_the_stubs():
    def response(code: str) -> str:
        program = f"local function make()\n  {code}\n  return 1\nend"
        return f"Make a box.\n\n```lua\n{program}\n```\n\n[Tests]\n```lua\nassert(make() == 1)\n```\n"

    rows = [
        {"id": f"r{i}", "instruction": f"Task {i}: {name}", "response": response(code)}
        for i, (name, code) in enumerate(ANSWERS.items())
    ]
    kept, rejected = filter_rows(rows, FilterConfig(stubs=PRELUDE))
    assert [r["id"] for r in kept] == ["r0"]
    assert {r["id"]: r["reason"] for r in rejected} == {"r1": "failed_api", "r2": "failed_api", "r3": "failed_error"}
    assert {r["id"]: r["detail"] for r in rejected}["r2"] == "display.newRect: 1 argument(s), wants 4-5"
    _, without = filter_rows(rows[:1], FilterConfig())
    assert without[0]["reason"] == "failed_error"  # without the stubs, `display` is nil


def test_lua_run_takes_the_api(tmp_path, capsys):
    save_api(API, tmp_path / "api.json")
    (tmp_path / "box.lua").write_text("local r = display.newRect(1, 2, 3, 4)\nr:setFillColor(1, 0, 0)\nr:fill()\n")
    assert main(["lua", "run", str(tmp_path / "box.lua"), "--api_path", str(tmp_path / "api.json")]) == 1
    shown = json.loads(capsys.readouterr().out)
    assert shown["api_error"] == "undocumented member ShapeObject.fill"
    assert shown["error"] == f"{tmp_path / 'box.lua'}:3: API error: undocumented member ShapeObject.fill"
    assert main(["lua", "run", str(tmp_path / "box.lua"), "--api_path", str(tmp_path / "none.json")]) == 2
    assert "none.json" in capsys.readouterr().err


# -- the shared corpora's own examples (tests/stubs_corpora.py; the table is in benchmarks/README.md)


@pytest.fixture(scope="session")
def corpus_measures():
    if not CORPORA.is_dir():
        pytest.skip(f"no shared corpora at {CORPORA}")
    # At most 80 snippets a set and every 4th call mutated: the rates of the benchmark in a fraction of its runs.
    return {c: stubs_corpora.measure(c, mutate_every=4, most=80) for c in stubs_corpora.SETS}


def test_corpus_examples_run_with_the_stubs(corpus_measures):
    measured = [m for m in corpus_measures.values() if m.accepted]
    assert sum(m.accepted for m in measured) >= 100 and sum(m.executed for m in measured) >= 200
    for m in measured:
        assert m.false_rate <= 0.01, (m.corpus, m.false_api)
        assert m.executed == 0 or m.flagged_rate >= 0.95, (m.corpus, m.missed)
        # Snippets may stop on what the docs assume (a variable defined elsewhere); where there are many, some run.
        assert m.ran > 0 or m.accepted < 10, (m.corpus, m.stops)
