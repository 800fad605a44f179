"""API-match grading (luacoder.grading) of hand-written answers with known calls: the exact grade of each call."""

from __future__ import annotations

import json

import pytest
from conftest import BUNDLED_DOCS

from luacoder.apidocs.schema import ApiEntry, Param
from luacoder.grading import (
    AnswerGrade,
    ApiIndex,
    aggregate,
    api_match_score,
    best_index,
    correct_call_score,
    execution_score,
    expected_recall_score,
    grade_answer,
    score_or,
    syntax_score,
)
from luacoder.grading.answer import apply_run
from luacoder.lua.calls import extract_calls


@pytest.fixture(scope="module")
def lua54() -> ApiIndex:
    from luacoder.apidocs.markdown import read_markdown_docs

    return ApiIndex(read_markdown_docs([BUNDLED_DOCS], name="lua54"))


def entry(name: str, *params: str, aliases: tuple[str, ...] = (), kind: str | None = None) -> ApiEntry:
    """`[x]` is optional, `...` variadic."""
    return ApiEntry(
        name=name,
        kind=kind or ("method" if ":" in name else "function"),
        module=name.split(".")[0].split(":")[0],
        signature=name,
        params=[Param(p.strip("[]"), optional=p.startswith("[") or p == "...") for p in params],
        aliases=list(aliases),
    )


@pytest.fixture(scope="module")
def luv() -> ApiIndex:
    """luv's convention: `uv.tcp_bind(tcp, ...)` documents every argument, the method form `tcp:bind` is an alias."""
    return ApiIndex(
        [
            entry("uv.new_tcp", "[flags]"),
            entry("uv.tcp_bind", "tcp", "host", "port", "[flags]", aliases=("tcp:bind",)),
            entry("uv.listen", "stream", "backlog", "callback", aliases=("stream:listen",)),
            entry("uv.close", "handle", "[callback]", aliases=("handle:close",)),
            entry("uv.run", "[mode]"),
            entry("uv.constants", kind="field"),
        ]
    )


@pytest.fixture(scope="module")
def solar2d() -> ApiIndex:
    """Solar2D's convention: object methods are entries named `Type:method`, documented without `self`."""
    return ApiIndex(
        [
            entry("display.newRect", "x", "y", "width", "height"),
            entry("ShapeObject:setFillColor", "[gray]", "[green]", "[blue]", "[alpha]"),
            entry("display.contentWidth", kind="field"),
        ]
    )


def calls_of(grade: AnswerGrade) -> list[tuple]:
    return [(c.resolved, c.kind, c.arity_ok) for c in grade.calls]


def lua(code: str) -> str:
    return f"Here you go:\n\n```lua\n{code}\n```\n"


# ---------------------------------------------------------------------------------------------------------------
# The bundled Lua 5.4 docs


def test_documented_calls_with_right_and_wrong_argument_counts(lua54):
    grade = grade_answer(
        lua(
            'local s = string.format("%d items", 3)\n'
            "print(s:rep(2), string.rep(s, 2), s:rep(), string.rep(s))\n"
            'print(("x"):rep(2, ", "), s:rep(1, 2, 3))'
        ),
        lua54,
    )
    assert calls_of(grade) == [
        ("string.format", "matched", True),
        ("print", "matched", True),
        ("s:rep", "matched", True),  # 1 argument + self = string.rep(s, n)
        ("string.rep", "matched", True),
        ("s:rep", "matched", False),  # self alone: n is missing
        ("string.rep", "matched", False),
        ("print", "matched", True),
        ("string.rep", "matched", True),  # a method call on a literal: ("x"):rep(2, ", ") = string.rep("x", 2, ", ")
        ("s:rep", "matched", False),  # 3 + self > 3
    ]
    assert (grade.api_calls, grade.matched, grade.hallucinated, grade.arity_errors) == (9, 9, 0, 3)
    assert grade.calls[2].entries == ["string.rep"] and grade.calls[2].expected_args == "1-2"
    assert grade.calls[3].expected_args == "2-3"
    assert grade.syntax_valid and grade.api_match == 1.0
    assert correct_call_score(grade) == pytest.approx(6 / 9)


def test_methods_documented_without_self(lua54):
    # file:read(...) and file:seek([whence [, offset]]) are documented after the implicit self.
    grade = grade_answer(
        lua('local f = assert(io.open("data.txt"))\nprint(f:read("l"), f:seek("set", 0), f:seek("set", 0, 1))'),
        lua54,
    )
    assert calls_of(grade) == [
        ("assert", "matched", True),
        ("io.open", "matched", True),
        ("print", "matched", True),
        ("f:read", "matched", True),
        ("f:seek", "matched", True),
        ("f:seek", "matched", False),
    ]
    assert grade.calls[3].entries == ["file:read"] and grade.calls[5].expected_args == "0-2"


def test_hallucinated_names_of_known_methods_and_wrong_modules(lua54):
    # The original evaluator kept only the last name part: `format` and `read` are documented somewhere, so all of
    # these counted as matches. Here each is an API call (documented root) of something the docs do not have.
    grade = grade_answer(
        lua(
            'print(table.format("%d", 1))\n'  # right name, wrong module
            'io.format("x")\n'
            'string.trim(" x ")\n'
            "math.pi()\n"  # a documented field, not a function
            'io.stdout:writeln("x")\n'  # an undocumented method on a documented value
            'local f = io.open("a.txt")\n'
            "f:readAll()\n"  # ... and on a variable holding an API call's result
            "f:read()"
        ),
        lua54,
    )
    assert calls_of(grade) == [
        ("print", "matched", True),
        ("table.format", "hallucinated", None),
        ("io.format", "hallucinated", None),
        ("string.trim", "hallucinated", None),
        ("math.pi", "hallucinated", None),
        ("io.stdout:writeln", "hallucinated", None),
        ("io.open", "matched", True),
        ("f:readAll", "hallucinated", None),
        ("f:read", "matched", True),
    ]
    assert grade.hallucinated_names == [
        "table.format",
        "io.format",
        "string.trim",
        "math.pi",
        "io.stdout:writeln",
        "f:readAll",
    ]
    assert "field" in grade.calls[4].reason
    assert api_match_score(grade) == pytest.approx(3 / 9)


def test_aliases_locals_and_calls_that_are_not_api_calls(lua54):
    grade = grade_answer(
        lua(
            "local fmt = string.format\n"
            "local S = string\n"
            "local function shout(s) return s:upper() end\n"
            'print(fmt("%s", shout("a")), S.rep("-", 3), _G.tostring(1))\n'
            "local t = {}\n"
            "t.insert(1)\n"  # a field of a local table
            'printf("%d", 1)\n'  # an undefined global: not an API call, listed on its own
            "obj:frobnicate()\n"  # a method the grader cannot tie to the API
            "local function string_trim(s) return s end\n"
            "string_trim(' x ')"
        ),
        lua54,
    )
    assert [(c.name, c.resolved) for c in grade.calls] == [
        ("s:upper", "s:upper"),  # on a parameter: documented through the method-form alias s:upper
        ("print", "print"),
        ("fmt", "string.format"),
        ("S.rep", "string.rep"),
        ("_G.tostring", "_G.tostring"),
    ]
    assert all(c.kind == "matched" and c.arity_ok for c in grade.calls)
    assert grade.calls[0].entries == ["string.upper"]
    assert grade.other_calls == ["obj:frobnicate"]
    assert grade.undefined_globals == ["printf"] and grade.undefined[0].line == 7


def test_answers_without_api_calls_are_not_scored_as_matches(lua54):
    prose = grade_answer("You can use a loop for that.", lua54)
    assert (prose.has_code, prose.syntax_valid, prose.api_calls) == (False, False, 0)
    assert api_match_score(prose) is None and correct_call_score(prose) is None
    assert syntax_score(prose) == 0.0
    local_only = grade_answer(lua("local function add(a, b) return a + b end\nlocal x = add(1, 2)"), lua54)
    assert (local_only.has_code, local_only.syntax_valid, local_only.api_calls) == (True, True, 0)
    assert api_match_score(local_only) is None
    assert score_or(api_match_score(local_only), 0.0) == 0.0
    # Other languages' fences are not Lua code.
    bash = grade_answer("```bash\nlua main.lua\n```", lua54)
    assert not bash.has_code


def test_broken_syntax_is_reported_and_its_calls_still_graded(lua54):
    grade = grade_answer(lua('print(string.format("%d", 1)\nlocal = 2\nstring.trim("x")'), lua54)
    assert grade.has_code and not grade.syntax_valid and grade.syntax_errors
    assert syntax_score(grade) == 0.0
    assert "string.trim" in grade.hallucinated_names
    assert "string.format" in [c.resolved for c in grade.calls if c.kind == "matched"]


def test_blocks_are_joined_so_later_blocks_see_earlier_locals(lua54):
    answer = (
        "First the file:\n\n```lua\nlocal f = io.open('a.txt')\n```\n\nThen read it:\n\n```\nf:readAll()\n```\n"
        "And a shell command:\n\n```sh\nlua a.lua\n```\n"
    )
    grade = grade_answer(answer, lua54)
    assert calls_of(grade) == [("io.open", "matched", True), ("f:readAll", "hallucinated", None)]
    assert grade.code == "local f = io.open('a.txt')\n\nf:readAll()\n"


def test_expected_api_recall_accepts_aliases_and_refuses_unknown_names(lua54):
    answer = lua('local s = ("%d"):format(3)\nprint(s:rep(2))')
    grade = grade_answer(answer, lua54, expected_apis=["string.format", "s:rep", "io.open"])
    assert grade.expected_apis == ["string.format", "string.rep", "io.open"]
    assert grade.expected_found == ["string.format", "string.rep"]
    assert expected_recall_score(grade) == pytest.approx(2 / 3)
    assert expected_recall_score(grade_answer(answer, lua54)) is None
    with pytest.raises(ValueError, match="'string.trim' is not documented"):
        grade_answer(answer, lua54, expected_apis=["string.trim"])


def test_code_mode_grades_only_what_the_completion_writes(lua54):
    prompt = "-- Shout a greeting.\nprint(string.rep('=', 10))\nlocal function shout(s)\n"
    completion = "  return s:upper() .. string.trim('!')\nend\nprint(shout('hi'))\n"
    grade = grade_answer(completion, lua54, report_type="code", prompt=prompt)
    assert grade.syntax_valid  # the completion alone (`end` without a function) would not parse
    assert calls_of(grade) == [
        ("s:upper", "matched", True),
        ("string.trim", "hallucinated", None),
        ("print", "matched", True),
    ]
    # A prompt ending mid-line: the call on that line started in the prompt, so it is not the completion's.
    grade = grade_answer('("x", 2)\n', lua54, report_type="code", prompt="local s = string.rep")
    assert grade.api_calls == 0 and grade.syntax_valid
    with pytest.raises(ValueError, match="report_type"):
        grade_answer("x", lua54, report_type="html")


def test_execution_is_recorded_on_the_grade(lua54):
    ran = grade_answer(lua('print(("%d"):format(7))'), lua54, execute=True)
    assert (ran.executed, ran.ran_ok, execution_score(ran)) == (True, True, 1.0)
    failed = grade_answer(lua("string.trim('x')"), lua54, execute=True)
    assert (failed.ran_ok, failed.run_reason, execution_score(failed)) == (False, "error", 0.0)
    broken = grade_answer(lua("print("), lua54)
    apply_run(broken, None)
    assert (broken.ran_ok, broken.run_reason) == (False, "syntax")
    assert execution_score(grade_answer(lua("print(1)"), lua54)) is None


# ---------------------------------------------------------------------------------------------------------------
# Third-party conventions: luv's method-form aliases, Solar2D's Type:method entries


LUV_ANSWER = """```lua
local uv = require("luv")
local server = uv.new_tcp()
server:bind("127.0.0.1", 8080)
uv.tcp_bind(server, "127.0.0.1", 8080)
server:bind("127.0.0.1")
server:listen(128, function(err) assert(not err) end)
server:accept_all()
uv.tcp_connect_now(server)
uv.constants()
uv.run()
```"""


def test_luv_method_forms_and_hallucinations(luv):
    grade = grade_answer(LUV_ANSWER, luv, expected_apis=["tcp:bind", "uv.listen", "uv.run"])
    assert calls_of(grade) == [
        ("uv.new_tcp", "matched", True),
        ("server:bind", "matched", True),  # tcp:bind(host, port) = uv.tcp_bind(tcp, host, port)
        ("uv.tcp_bind", "matched", True),
        ("server:bind", "matched", False),  # the port is missing
        ("server:listen", "matched", True),
        ("server:accept_all", "hallucinated", None),  # server holds uv.new_tcp()'s result
        ("uv.tcp_connect_now", "hallucinated", None),
        ("uv.constants", "hallucinated", None),
        ("uv.run", "matched", True),
    ]
    assert grade.calls[1].entries == ["uv.tcp_bind"] and grade.calls[3].expected_args == "2-3"
    # This API set documents neither: they are calls of the Lua standard library under it, not API calls.
    assert [c.resolved for c in grade.standard_calls] == ["require", "assert"] and grade.other_calls == []
    assert grade.expected_apis == ["uv.tcp_bind", "uv.listen", "uv.run"]
    assert grade.expected_found == ["uv.tcp_bind", "uv.listen", "uv.run"]


def test_solar2d_type_methods(solar2d):
    grade = grade_answer(
        lua(
            "local rect = display.newRect(0, 0, display.contentWidth, 50)\n"
            "rect:setFillColor(1, 0, 0)\n"
            "rect:setFillColor(1, 0, 0, 1, 1)\n"
            "rect:setFillColour(1, 0, 0)\n"
            "display.newRect(0, 0)\n"
            "display.newRectangle(0, 0, 1, 1)"
        ),
        solar2d,
    )
    assert calls_of(grade) == [
        ("display.newRect", "matched", True),
        ("rect:setFillColor", "matched", True),
        ("rect:setFillColor", "matched", False),  # at most 4 after self
        ("rect:setFillColour", "hallucinated", None),
        ("display.newRect", "matched", False),
        ("display.newRectangle", "hallucinated", None),
    ]
    assert grade.calls[1].entries == ["ShapeObject:setFillColor"]


def test_open_ended_last_argument(luv):
    # f(...) or f(g()) may pass any number of values: only too many fixed arguments is an error.
    grade = grade_answer(
        lua("local t = {1}\nuv.run(table.unpack(t))\nuv.run('a', 'b', table.unpack(t))\nuv.tcp_bind(table.unpack(t))"),
        luv,
    )
    assert [(c.resolved, c.arity_ok) for c in grade.calls if c.resolved.startswith("uv")] == [
        ("uv.run", True),
        ("uv.run", False),
        ("uv.tcp_bind", True),
    ]


def test_index_status_for_luacoder_lua_calls(luv):
    report = extract_calls("local function h() end\nh()\nuv.run()\nuv.nope()\nfoo()\nx:bind(1, 2)")
    assert [luv.status(c) for c in report.calls] == ["local", "known", "unknown", "unknown", "known"]
    kinds = ["local", "matched", "hallucinated", "undefined", "matched"]  # foo: an undefined global
    assert [luv.classify(c).kind for c in report.calls] == kinds
    assert luv.canonical("tcp:bind") == "uv.tcp_bind" and luv.canonical("tcp:nope") is None
    assert luv.callable_entries() == ["uv.close", "uv.listen", "uv.new_tcp", "uv.run", "uv.tcp_bind"]


# ---------------------------------------------------------------------------------------------------------------
# A checkpoint's scores and the choice of the best


def test_aggregate_counts_rates_and_na(lua54):
    grades = [
        grade_answer(lua('print(string.format("%d", 1), string.trim(" "))'), lua54, expected_apis=["string.format"]),
        grade_answer(lua("print(string.rep('x'))"), lua54, expected_apis=["string.rep", "io.open"]),
        grade_answer("No code here.", lua54),
        grade_answer(lua("print(1)\nlocal = 2"), lua54),
    ]
    s = aggregate(grades, generated_tokens=100, generation_seconds=4.0)
    assert (s.answers, s.api_calls, s.matched, s.hallucinated, s.arity_errors) == (4, 6, 5, 1, 1)
    assert s.api_match_accuracy == pytest.approx(5 / 6)
    # Answers with API calls: 2/3, 2/2 and 1/1 (the broken one still calls print).
    assert s.answers_with_api == 3
    assert s.mean_answer_accuracy == pytest.approx((2 / 3 + 1 + 1) / 3)
    assert s.hallucination_rate == pytest.approx(1 / 4)
    assert s.arity_error_rate == pytest.approx(1 / 5)
    assert s.no_api_rate == pytest.approx(1 / 4) and s.no_code_rate == pytest.approx(1 / 4)
    assert s.expected_api_recall == pytest.approx(2 / 3)
    assert s.syntax_valid_rate == pytest.approx(2 / 3)
    assert s.execution_rate is None  # not executed
    assert s.tokens_per_second == pytest.approx(25.0)

    empty = aggregate([grade_answer("Nothing.", lua54)])
    assert empty.api_match_accuracy is None and empty.mean_answer_accuracy is None
    assert empty.arity_error_rate is None and empty.expected_api_recall is None
    assert empty.syntax_valid_rate is None and empty.tokens_per_second is None
    assert empty.no_api_rate == 1.0 and empty.hallucination_rate == 0.0
    assert empty.to_dict()["api_match_accuracy"] is None


def test_best_checkpoint_rule(lua54):
    def scores(*answers: str, expected=()):
        return aggregate([grade_answer(lua(a), lua54, expected_apis=expected) for a in answers])

    # Without expected APIs: the API-match accuracy; any number beats n/a, n/a beats "not scored".
    good = scores("print(1)")
    half = scores("print(string.trim('x'))")
    none = aggregate([grade_answer("prose", lua54)])
    assert good.selection_score == 1.0 and half.selection_score == 0.5 and none.selection_score is None
    assert best_index([none, half, good, None]) == 2
    assert best_index([half, none]) == 0
    assert best_index([none, None]) == 0
    assert best_index([None, None]) is None
    # With expected APIs: accurate calls of nothing that was asked for lose to calls of what was asked for.
    asked = ["string.rep"]
    accurate_but_off_topic = scores("print(1)", "print(2)", expected=asked)  # accuracy 1, recall 0
    on_topic = scores("print(string.rep('a', 2), string.trim('x'))", "print(1)", expected=asked)
    assert (accurate_but_off_topic.api_match_accuracy, accurate_but_off_topic.api_f1) == (1.0, 0.0)
    assert on_topic.api_match_accuracy == pytest.approx(3 / 4) and on_topic.expected_api_recall == 0.5
    assert on_topic.api_f1 == pytest.approx(2 * 0.75 * 0.5 / 1.25)
    assert best_index([accurate_but_off_topic, on_topic]) == 1
    # Equal scores: the lower hallucination rate (answers with one), then the earlier checkpoint.
    one_in_two = scores("print(string.trim('x'))", "print(1)")  # 2/3 calls documented
    one_in_three = scores("print(string.trim('x'), string.trim('y'))", "print(print(1))", "print(1)")  # 4/6
    assert one_in_two.selection_score == one_in_three.selection_score
    assert (one_in_two.hallucination_rate, one_in_three.hallucination_rate) == (1 / 2, 1 / 3)
    assert best_index([one_in_two, one_in_three]) == 1
    assert best_index([good, scores("print(2)")]) == 0


def test_grade_round_trips_through_json(lua54):
    grade = grade_answer(lua("print(string.trim('x'))"), lua54, expected_apis=["print"])
    data = json.loads(json.dumps(grade.to_dict()))
    assert data["api_calls"] == 2 and data["hallucinated_names"] == ["string.trim"] and data["api_match"] == 0.5
    again = AnswerGrade.from_dict(data)
    assert again == grade


def test_luacoder_grade_shows_the_same_grading(tmp_path, capsys, lua54):
    from luacoder.apidocs.markdown import read_markdown_docs
    from luacoder.apidocs.schema import save_api
    from luacoder.cli import main

    save_api(read_markdown_docs([BUNDLED_DOCS], name="lua54"), tmp_path / "api.json")
    (tmp_path / "a.lua").write_text('local f = io.open("a")\nf:readAll()\nprint(string.rep("x"))\nprintf(1)\n')
    assert main(["grade", str(tmp_path / "a.lua"), "--api_path", str(tmp_path / "api.json")]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["name"], r["status"], r["grade"], r.get("arity_ok")) for r in rows] == [
        ("io.open", "known", "matched", True),
        ("f:readAll", "unknown", "hallucinated", None),
        ("print", "known", "matched", True),
        ("string.rep", "known", "matched", False),
        ("printf", "unknown", "undefined", None),
    ]
    grade = grade_answer((tmp_path / "a.lua").read_text(), lua54, report_type="code")
    assert [(c.resolved, c.kind, c.arity_ok) for c in grade.calls] == [
        (r["resolved"], r["grade"], r.get("arity_ok")) for r in rows if r["grade"] in ("matched", "hallucinated")
    ]
