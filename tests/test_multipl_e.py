"""MultiPL-E (HumanEval-Lua) in the sandbox: the luaunit-compatible module, the harness against the reference
verdicts, pass@k, and `luacoder multipl-e score`.

The reference: MultiPL-E runs `lua` on prompt + completion + "\\n" + tests with the real luaunit, and a completion
passes when the program exits with status 0. The solutions below were written for this test; what luaunit 3.4
says of each (pass, or which assertion fails) follows from its source (assertEquals: tables compared key by key,
recursively, numbers with ==).
"""

from __future__ import annotations

import json
import math
from itertools import combinations
from math import comb
from pathlib import Path

import pytest
from conftest import CORPORA

from luacoder.cli import main as cli
from luacoder.evaluation import multipl_e as m
from luacoder.files import RowError
from luacoder.lua.sandbox import LuaJob, run_many

HUMANEVAL_LUA = CORPORA / "multipl-e-humaneval-lua" / "prompts" / "humaneval-lua-reworded.jsonl"
needs_corpus = pytest.mark.skipif(
    not HUMANEVAL_LUA.is_file(), reason=f"the MultiPL-E copy is not at {HUMANEVAL_LUA} (../shared/corpora)"
)


def lua(*codes: str, allow=("luaunit", "exit")):
    return run_many([LuaJob(code, timeout=5, allow=allow) for code in codes])


# ---------------------------------------------------------------------------------------------------------------
# The luaunit module


def test_assert_equals_has_luaunits_semantics():
    cases = {
        # deep equality, any nesting; integer and float keys and values compare with ==
        "lu.assertEquals({1, {2, {x = 'a'}}}, {1, {2, {x = 'a'}}})": True,
        "lu.assertEquals({3, 5, 7}, {3, 5, 7.0})": True,
        "lu.assertEquals(2, 2.0)": True,
        "lu.assertEquals({[1.0] = 'a'}, {'a'})": True,
        "lu.assertEquals({}, {})": True,
        # cycles in the same place match
        "local a = {1}; a.me = a; local b = {1}; b.me = b; lu.assertEquals(a, b)": True,
        # a key on one side only, a different value, a different type: failures
        "lu.assertEquals({3, 5, 7, extra = 1}, {3, 5, 7})": False,
        "lu.assertEquals({3, 5}, {3, 5, 7})": False,
        "lu.assertEquals({{1}}, {{2}})": False,
        "lu.assertEquals('1', 1)": False,
        "lu.assertEquals(nil, false)": False,
        "lu.assertEquals({'a', nil, 'c'}, {'a', false, 'c'})": False,
        # metatables do not count, as in luaunit
        "lu.assertEquals(setmetatable({1}, {__index = function() return 0 end}), {1})": True,
    }
    codes = [f"local lu = require('luaunit')\nlocal ok, e = pcall(function() {c} end)\nprint(ok, e)" for c in cases]
    for (case, expected), result in zip(cases.items(), lua(*codes), strict=True):
        assert result.ok, (case, result.error)
        assert result.stdout.startswith("true" if expected else "false"), (case, result.stdout)
        if not expected:
            assert "LuaUnit test FAILURE: expected" in result.stdout, (case, result.stdout)


def test_failure_message_points_at_the_assertion_and_shows_both_values():
    (result,) = lua(
        "lu = require('luaunit')\nfunction test_one()\n  lu.assertEquals({3}, {3, 5, 7})\nend\n"
        "os.exit(lu.LuaUnit.run())"
    )
    assert (result.ok, result.reason, result.exit_code) == (False, "exit", 1)
    assert "input:3: expected: {3, 5, 7}\nactual: {3}" in result.stdout
    assert "Ran 1 tests" in result.stdout and "0 successes, 1 failures, 0 errors" in result.stdout
    assert result.stdout.rstrip().endswith("FAILED")


def test_run_counts_failures_and_errors_of_every_test_function_and_table():
    (result,) = lua(
        "lu = require('luaunit')\n"
        "function testPasses() lu.assertTrue(true) end\n"
        "function test_fails() lu.assertNil(1) end\n"
        "function test_errors() local t = nil; return t.x end\n"
        "function helper() error('not a test') end\n"
        "TestSuite = {setUp = function(self) self.n = 2 end}\n"
        "function TestSuite:test_uses_setup() lu.assertEquals(self.n, 2) end\n"
        "function TestSuite:test_skipped() lu.skip('later') end\n"
        "local status = lu.LuaUnit.run()\nprint('status', status)\nos.exit(status)"
    )
    assert result.exit_code == 2
    assert "status\t2" in result.stdout
    assert "2 successes, 1 failures, 1 errors, 1 skipped" in result.stdout
    assert "attempt to index a nil value" in result.stdout


def test_all_tests_pass_ends_the_program_with_status_zero():
    (result,) = lua(
        "lu = require('luaunit')\nfunction test_x() lu.assertEquals({1}, {1}) end\nos.exit(lu.LuaUnit.run())"
    )
    assert (result.ok, result.exit_code) == (True, 0)
    assert result.stdout.rstrip().endswith("OK")


def test_the_luaunit_allowance_opens_nothing_else():
    luaunit = ("luaunit", "exit")
    cases = [  # (code, allowances, what the error says; None: it runs)
        *[(f"local lu = require('luaunit')\n{n}('x')", luaunit, "not allowed") for n in ("io.open", "os.execute")],
        *[(f"{n}('x')", luaunit, "not allowed") for n in ("os.remove", "dofile", "loadfile")],
        ("require('socket')", luaunit, "offers only 'luaunit'"),
        ("return package.loaded", luaunit, "attempt to index a nil value (global 'package')"),
        # Without the allowance there is no luaunit at all.
        ("require('luaunit')", (), "require is not allowed"),
        # With "modules" too, it is found through package.preload.
        ("local lu = require('luaunit')\nassert(package.loaded.luaunit == lu)", ("luaunit", "modules"), None),
    ]
    results = run_many([LuaJob(code, timeout=5, allow=allow) for code, allow, _ in cases])
    for (code, _, message), result in zip(cases, results, strict=True):
        if message is None:
            assert result.ok, (code, result.error)
        else:
            assert not result.ok and message in result.error, (code, result.error)


# ---------------------------------------------------------------------------------------------------------------
# The harness against the reference verdicts

# name -> [(completion as a model would write it after the prompt, passes under MultiPL-E's harness, status)]
SOLUTIONS = {
    "HumanEval_100_make_a_pile": [
        (
            "    local t = {}\n    for i = 0, n - 1 do\n        t[#t + 1] = n + 2 * i\n    end\n    return t\nend",
            True,
            "OK",
        ),
        # the table is one short: luaunit's deep compare fails it
        (
            "    local t = {}\n    for i = 1, n - 1 do\n        t[#t + 1] = n + 2 * i\n    end\n    return t\nend",
            False,
            "Exception",
        ),
        # right values, one extra key: still not equal for luaunit
        (
            "    local t = {n = n}\n    for i = 0, n - 1 do\n        t[#t + 1] = n + 2 * i\n    end\n"
            "    return t\nend",
            False,
            "Exception",
        ),
    ],
    "HumanEval_0_has_close_elements": [
        (
            "    for i = 1, #numbers do\n        for j = i + 1, #numbers do\n"
            "            if math.abs(numbers[i] - numbers[j]) < threshold then\n                return true\n"
            "            end\n        end\n    end\n    return false\nend",
            True,
            "OK",
        ),
        ("    return false\nend", False, "Exception"),
        # a runtime error: the candidate indexes a number
        ("    return numbers.x.y\nend", False, "Exception"),
    ],
    "HumanEval_2_truncate_number": [
        ("    return number % 1.0\nend", True, "OK"),
        ("    return math.floor(number)\nend", False, "Exception"),
        # an endless loop: the sandbox's limit, MultiPL-E's "Timeout"
        ("    while true do end\nend", False, "Timeout"),
        # exiting with a success from inside the test: luaunit makes os.exit an error while tests run
        ("    os.exit(0)\nend", False, "Exception"),
    ],
    "HumanEval_27_flip_case": [
        (
            "    return (string:gsub('%a', function(c)\n        if c:match('%l') then return c:upper() end\n"
            "        return c:lower()\n    end))\nend",
            True,
            "OK",
        ),
        # gsub's second result (the count) makes assertEquals see the string only, as in real Lua: passes
        (
            "    return string:gsub('%a', function(c) return c:match('%l') and c:upper() or c:lower() end)\nend",
            True,
            "OK",
        ),
        ("    return string:upper()\nend", False, "Exception"),
        # a syntax error: an unclosed parenthesis
        ("    return (string:upper()\nend", False, "SyntaxError"),
    ],
    "HumanEval_104_unique_digits": [
        (
            "    local out = {}\n    for _, v in ipairs(x) do\n        if not tostring(v):find('[02468]') then\n"
            "            table.insert(out, v)\n        end\n    end\n    table.sort(out)\n    return out\nend",
            True,
            "OK",
        ),
        # not sorted
        (
            "    local out = {}\n    for _, v in ipairs(x) do\n        if not tostring(v):find('[02468]') then\n"
            "            table.insert(out, v)\n        end\n    end\n    return out\nend",
            False,
            "Exception",
        ),
    ],
    "HumanEval_112_reverse_delete": [
        (
            "    local kept = s:gsub('.', function(ch)\n        if c:find(ch, 1, true) then return '' end\n    end)\n"
            "    return {kept, kept == kept:reverse()}\nend",
            True,
            "OK",
        ),
        # the check as a string instead of a boolean: a different type inside the table
        (
            "    local kept = s:gsub('[' .. c .. ']', '')\n    return {kept, tostring(kept == kept:reverse())}\nend",
            False,
            "Exception",
        ),
    ],
}


@pytest.fixture(scope="module")
def problems():
    if not HUMANEVAL_LUA.is_file():
        pytest.skip(f"the MultiPL-E copy is not at {HUMANEVAL_LUA} (../shared/corpora)")
    return m.load_problems(HUMANEVAL_LUA)


def test_the_shared_copy_loads_as_161_problems(problems):
    assert len(problems) == 161
    assert problems[0].name == "HumanEval_0_has_close_elements"
    assert all(p.stop_tokens == m.STOP_TOKENS for p in problems)
    assert all(p.tests.rstrip().endswith("os.exit(lu.LuaUnit.run())") for p in problems)


@pytest.fixture(scope="module")
def reference_outcomes(problems):
    completions = {name: [c for c, _, _ in cases] for name, cases in SOLUTIONS.items()}
    return m.run_completions(problems, completions, m.Limits(timeout=3.0, instructions=20_000_000))


def test_solutions_pass_and_fail_as_multipl_es_harness_says(reference_outcomes):
    got = {}
    for o in reference_outcomes:
        got.setdefault(o.name, []).append((o.passed, o.status))
    assert got == {name: [(ok, status) for _, ok, status in cases] for name, cases in SOLUTIONS.items()}
    by_key = {(o.name, o.sample): o for o in reference_outcomes}
    table = by_key["HumanEval_100_make_a_pile", 1]
    assert table.exit_code == 1 and "program:22: expected: {3, 5, 7}\nactual: {5, 7}" in table.output
    assert by_key["HumanEval_0_has_close_elements", 2].reason == "exit"
    assert "attempt to index a nil value" in by_key["HumanEval_0_has_close_elements", 2].output
    assert by_key["HumanEval_2_truncate_number", 2].reason in ("timeout", "instructions")
    assert "still a running instance of LuaUnit" in by_key["HumanEval_2_truncate_number", 3].output
    assert by_key["HumanEval_27_flip_case", 3].reason == "syntax"
    assert "expected" in by_key["HumanEval_27_flip_case", 3].error  # Lua's own message: "')' expected ..."


def test_a_completion_is_cut_at_the_first_stop_token(problems):
    (problem,) = [p for p in problems if p.name == "HumanEval_2_truncate_number"]
    body = "    return number % 1.0\nend"
    # What a model writes on after the function (a new function, a comment, a blank line) is not part of it.
    for tail in ("\nlocal function extra()", "\nfunction extra(", "\n-- tests", "\n\nprint(broken"):
        completion, source = m.answer_program(problem, body + tail, "code")
        assert completion == body
        assert source == problem.prompt + body + "\n" + problem.tests
    outcomes = m.run_completions(problems, {problem.name: [body + "\n\nthis is not Lua"]})
    assert outcomes[0].passed


def test_a_chat_answer_is_the_whole_function_or_its_body(problems):
    (problem,) = [p for p in problems if p.name == "HumanEval_2_truncate_number"]
    whole = "Here:\n```lua\nlocal function truncate_number(number)\n  return number % 1.0\nend\n```\nDone."
    body = "```lua\n    return number - math.floor(number)\nend\n```"
    prose = "The decimal part is number minus its floor."
    outcomes = m.run_completions(problems, {problem.name: [whole, body, prose]}, report_type="markdown")
    assert [o.passed for o in outcomes] == [True, True, False]
    assert outcomes[2].status == "SyntaxError"  # the prompt alone does not close its function
    assert m.chat_request(problem).endswith(f"```lua\n{problem.prompt.rstrip()}\n```")


# ---------------------------------------------------------------------------------------------------------------
# pass@k


def brute_pass_at_k(outcomes: list[bool], k: int) -> float:
    """The share of k-subsets of the samples with at least one pass: what the estimator estimates without bias."""
    subsets = list(combinations(outcomes, k))
    return sum(any(s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n, c, k", [(5, 0, 1), (5, 2, 1), (5, 2, 3), (6, 1, 5), (6, 5, 2), (4, 4, 4), (7, 3, 4)])
def test_pass_at_k_is_the_unbiased_estimator(n, c, k):
    samples = [True] * c + [False] * (n - c)
    assert m.pass_at_k(n, c, k) == pytest.approx(brute_pass_at_k(samples, k))
    assert m.pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k))


def test_pass_at_k_needs_k_samples():
    assert m.pass_at_k(200, 3, 100) == pytest.approx(1 - comb(197, 100) / comb(200, 100))
    assert math.isfinite(m.pass_at_k(200, 0, 100))
    with pytest.raises(ValueError, match="at least 10 samples"):
        m.pass_at_k(5, 1, 10)


def test_summary_means_pass_at_k_over_problems_with_ks_the_samples_allow():
    def outcome(name, sample, passed):
        return m.Outcome(name, sample, "", "OK" if passed else "Exception")

    runs = [outcome("a", i, i < 3) for i in range(10)] + [outcome("b", i, False) for i in range(10)]
    scores, rows = m.summarize(runs)
    assert scores.pass_at == {1: pytest.approx(0.15), 10: pytest.approx(0.5)}
    assert (scores.problems, scores.samples, scores.solved, scores.passed, scores.completions) == (2, 10, 1, 3, 20)
    assert scores.statuses == {"Exception": 17, "OK": 3}
    assert [(r["name"], r["n"], r["passed"], r["pass@10"]) for r in rows] == [("a", 10, 3, 1.0), ("b", 10, 0, 0.0)]


# ---------------------------------------------------------------------------------------------------------------
# Problems from elsewhere, and the command


def test_bad_problem_files_and_hub_ids_fail_clearly(tmp_path, monkeypatch):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"name": "a", "prompt": "x", "tests": "y"}\n{"name": "a", "prompt": "x", "tests": "y"}\n')
    with pytest.raises(RowError, match="row 2: problem 'a' appears twice"):
        m.load_problems(bad)
    bad.write_text('{"name": "a", "prompt": "x"}\n')
    with pytest.raises(RowError, match=r"bad.jsonl:1: missing field\(s\) \['tests'\]"):
        m.load_problems(bad)
    with pytest.raises(RowError, match="no such MultiPL-E file"):
        m.load_problems(tmp_path / "missing.jsonl")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(RowError, match="cannot load the hub dataset 'nuprl/MultiPL-E' \\(config 'humaneval-lua'\\)"):
        m.load_problems("nuprl/MultiPL-E")


@needs_corpus
def test_score_command_prints_pass_at_k_and_writes_outcomes(tmp_path, capsys):
    rows = []
    for name, cases in SOLUTIONS.items():
        rows += [{"name": name, "completion": c} for c, _, _ in cases[:2]]
    completions = tmp_path / "completions.jsonl"
    completions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "outcomes.jsonl"
    code = cli(
        ["multipl-e", "score", "--problems", str(HUMANEVAL_LUA), "--completions", str(completions), "-o", str(out)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    # Two samples per problem, the first right, the second wrong (except flip_case, where both pass).
    expected_pass_1 = (5 * 0.5 + 1.0) / 6
    assert f"pass@1 {100 * expected_pass_1:.2f} on 6 problems (2 sample(s) each; 6 solved, 7/12" in printed
    assert "155 of the 161 problems have no completion and are not counted" in printed
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["name"] for r in written] == list(SOLUTIONS)
    pile = written[0]
    assert (pile["n"], pile["passed"], pile["pass@1"]) == (2, 1, 0.5)
    assert [o["status"] for o in pile["outcomes"]] == ["OK", "Exception"]
    assert pile["outcomes"][1]["reason"] == "exit" and "actual: {5, 7}" in pile["outcomes"][1]["output"]

    completions.write_text('{"name": "HumanEval_999_nothing", "completion": "end"}\n')
    assert cli(["multipl-e", "score", "--problems", str(HUMANEVAL_LUA), "--completions", str(completions)]) == 2
    assert "unknown problem(s): HumanEval_999_nothing" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------------
# eval.py: code mode asks in Lua; MultiPL-E beside the API-match columns

OWN_PROBLEMS = [
    {
        "name": "inc",
        "prompt": "-- Add one.\n-- >>> inc(1)\n-- 2\nlocal function inc(x)\n",
        "tests": "lu = require('luaunit')\n\nfunction test_humaneval()\nlocal candidate = inc\n"
        "    lu.assertEquals(candidate(1), 2)\n    lu.assertEquals(candidate(-1), 0)\nend\n\n"
        "os.exit(lu.LuaUnit.run())",
    },
    {
        "name": "dec",
        "prompt": "-- Subtract one.\nlocal function dec(x)\n",
        "tests": "lu = require('luaunit')\n\nfunction test_humaneval()\nlocal candidate = dec\n"
        "    lu.assertEquals(candidate(1), 0)\nend\n\nos.exit(lu.LuaUnit.run())",
    },
]


def eval_folder(tmp_path, tokenizer, answer: str, report_type: str, extra: str = "") -> Path:
    """A one-checkpoint run whose model answers `answer` to anything, two API prompts, the two problems above."""
    import pandas as pd
    from conftest import BUNDLED_DOCS
    from test_eval import scripted_checkpoint

    from luacoder.apidocs.markdown import read_markdown_docs
    from luacoder.apidocs.schema import save_api

    scripted_checkpoint(tokenizer, tmp_path / "run" / "checkpoint-1", answer, 1)
    save_api(read_markdown_docs([BUNDLED_DOCS], name="lua54"), tmp_path / "api.json")
    pd.DataFrame(
        [("Please write a short Lua example that formats a number.", "string.format"), ("Print hello.", "")],
        columns=["prompt", "expected_apis"],
    ).to_csv(tmp_path / "prompts.csv", index=False)
    (tmp_path / "problems.jsonl").write_text("".join(json.dumps(p) + "\n" for p in OWN_PROBLEMS))
    (tmp_path / "config.yaml").write_text(
        "base_folder: run\napi_path: api.json\ntest_data_path: prompts.csv\noutput_dir: out\n"
        f"report_type: {report_type}\nbatch_size: 2\nmax_new_tokens: 4\ndevice: cpu\ndtype: float32\n{extra}"
    )
    return tmp_path


@pytest.mark.slow
def test_code_mode_asks_in_lua_and_grades_the_prompt_only_where_it_is_lua(tmp_path, tokenizer, monkeypatch):
    from test_eval import read_outputs, run_in_process

    root = eval_folder(tmp_path, tokenizer, 'print(string.format("%d", 3))\n\nlocal after = 1', "code")
    assert run_in_process(root, monkeypatch) == 0
    results, samples = read_outputs(root / "out")
    # Before: the English question + the completion was one program, "1:1: unexpected 'Please write ...'".
    assert [s["grade"]["syntax_valid"] for s in samples] == [True, True]
    first = samples[0]
    assert first["answer"] == 'print(string.format("%d", 3))'  # cut at the blank line (MultiPL-E's stops)
    assert first["grade"]["code"] == (
        '-- Please write a short Lua example that formats a number.\nprint(string.format("%d", 3))'
    )
    assert first["grade"]["expected_found"] == ["string.format"]
    assert results.loc[0, "syntax_valid_rate"] == 1.0 and results.loc[0, "expected_api_recall"] == 1.0

    # A template that leaves the question in English: the prompt is not Lua, so the completion alone is graded.
    assert run_in_process(root, monkeypatch, "--code_template={question}\n", "--output_dir=out2") == 0
    _, samples = read_outputs(root / "out2")
    assert [s["grade"]["code"] for s in samples] == ['print(string.format("%d", 3))'] * 2
    assert all(s["grade"]["syntax_valid"] for s in samples)
    assert run_in_process(root, monkeypatch, "--code_template=-- asked", "--output_dir=out3") == 2


@pytest.mark.slow
def test_eval_scores_multipl_e_pass_at_k_beside_api_match_and_reruns_from_the_cache(tmp_path, tokenizer, monkeypatch):
    from test_eval import read_outputs, run_in_process

    # A code checkpoint that always writes `return x + 1`: right for inc, wrong for dec.
    root = eval_folder(
        tmp_path, tokenizer, "    return x + 1\nend\n\nprint('more')", "code", "multipl_e: problems.jsonl\n"
    )
    assert run_in_process(root, monkeypatch) == 0
    results, samples = read_outputs(root / "out")
    assert list(results["prompt_set"]) == ["prompts", "multipl_e"]  # MultiPL-E is a prompt set of its own
    row = results.iloc[1]
    assert (row["pass@1"], row["multipl_e_problems"], row["multipl_e_solved"]) == (0.5, 2, 1)
    # Its completions are graded like any answer: the prompt and the completion parse together.
    graded = [s for s in samples if s["prompt_set"] == "multipl_e"]
    assert [(s["problem"], s["grade"]["syntax_valid"]) for s in graded] == [("inc", True), ("dec", True)]
    assert row["syntax_valid_rate"] == 1.0 and row["answers"] == 2
    assert row["multipl_e_statuses"] == "Exception 1, OK 1"
    outcomes = [json.loads(line) for line in (root / "out" / "multipl_e.jsonl").read_text().splitlines()]
    assert [(o["checkpoint"], o["name"], o["passed"]) for o in outcomes] == [
        ("checkpoint-1", "inc", 1),
        ("checkpoint-1", "dec", 0),
    ]
    failed = outcomes[1]["outcomes"][0]
    assert failed["completion"] == "    return x + 1\nend" and failed["reason"] == "exit"
    assert "expected: 0, actual: 2" in failed["output"]
    report = (root / "out" / "report.md").read_text()
    assert (
        "| pass@1 |" in report and "| 0.500 (1/2) |" in report and "multipl_e: `problems.jsonl (2 problems" in report
    )

    # A rerun generates nothing: the completions come from the cache, the runs too.
    def no_model(*args, **kwargs):
        raise AssertionError("a cached rerun loads no model")

    monkeypatch.setattr("luacoder.evaluation.backends.load_backend", no_model)
    monkeypatch.setattr("luacoder.lua.sandbox.iter_run_many", no_model)
    assert run_in_process(root, monkeypatch) == 0
    results, _ = read_outputs(root / "out")
    assert (results["generated_now"] == 0).all() and results.loc[1, "pass@1"] == 0.5
    monkeypatch.undo()

    # Two samples a problem (sampled): pass@1 and pass@2.
    assert (
        run_in_process(root, monkeypatch, "--multipl_e_samples=2", "--multipl_e_k=[1, 2, 10]", "--output_dir=out2")
        == 0
    )
    results, _ = read_outputs(root / "out2")
    assert (results.loc[1, "pass@1"], results.loc[1, "pass@2"]) == (0.5, 0.5) and "pass@10" not in results
    assert results.loc[1, "multipl_e_samples"] == 2 and results.loc[1, "multipl_e_completions"] == 4


@pytest.mark.slow
def test_a_chat_checkpoint_answers_the_function_in_a_lua_block(tmp_path, tokenizer, monkeypatch):
    from test_eval import read_outputs, run_in_process

    answer = "Here it is:\n```lua\nlocal function inc(x)\n  return x + 1\nend\n```"
    root = eval_folder(tmp_path, tokenizer, answer, "markdown", "multipl_e: problems.jsonl\n")
    assert run_in_process(root, monkeypatch) == 0
    results, samples = read_outputs(root / "out")
    row = results.set_index("prompt_set").loc["multipl_e"]
    assert row["pass@1"] == 0.5
    # Asked as a chat question: hallucination and syntax rates with no expected APIs.
    assert (row["hallucination_rate"], row["syntax_valid_rate"], row["expected_apis"]) == (0.0, 1.0, 0)
    assert [s["prompt"] for s in samples if s["prompt_set"] == "multipl_e"] == [
        m.chat_request(p) for p in m.load_problems(root / "problems.jsonl")
    ]
    outcomes = [json.loads(line) for line in (root / "out" / "multipl_e.jsonl").read_text().splitlines()]
    assert [o["outcomes"][0]["status"] for o in outcomes] == ["OK", "SyntaxError"]  # dec's function is never closed


# ---------------------------------------------------------------------------------------------------------------
# Decontamination: the data builders keep MultiPL-E's prompts out of every training row


@needs_corpus
def test_the_builders_decontaminate_against_the_benchmark(tmp_path):
    from conftest import BUNDLED_DOCS

    from luacoder.apidocs.markdown import read_markdown_docs
    from luacoder.data.build import Row, decontaminate, eval_prompts_for
    from luacoder.data.config import DataConfig
    from luacoder.data.ledger import Ledger

    api = read_markdown_docs([BUNDLED_DOCS], name="lua54")
    plain = eval_prompts_for(api, DataConfig())
    config = DataConfig(decontam_benchmarks=[str(HUMANEVAL_LUA)])
    prompts = eval_prompts_for(api, config)
    problems = m.load_problems(HUMANEVAL_LUA)
    # The generated eval prompts first (they alone become eval/prompts.csv), then every benchmark prompt.
    assert [p.prompt for p in prompts] == [p.prompt for p in plain] + [p.prompt for p in problems]

    pile = next(p for p in problems if p.name == "HumanEval_100_make_a_pile")
    texts = {
        "a.lua": 'local s = string.format("%d items", 3)\nprint(s)',
        "b.lua": pile.prompt + "    return {}\nend\n",  # a training row holding the benchmark prompt
    }
    rows = [Row({"content": text}, "lua file", origin, origin, text) for origin, text in texts.items()]
    ledger = Ledger("pretrain")
    kept = decontaminate(rows, ledger, prompts, 10, "text")
    assert [r.origin for r in kept] == ["a.lua"]
    assert decontaminate(rows, Ledger("pretrain"), plain, 10, "text") == rows


def test_generation_stops_at_stop_text_the_model_writes_not_at_the_prompts_end(tokenizer):
    import torch
    from transformers import StopStringCriteria

    from luacoder.evaluation.shrinking_batch import wrote_stop_text

    prompt = tokenizer("-- Add one.\nlocal function inc(x)\n")["input_ids"]

    def new(text: str) -> list[int]:
        return tokenizer(text)["input_ids"]

    stops = list(m.STOP_TOKENS)
    # A body that starts with a comment: "\n--" spans the prompt's last newline and the first new token.
    texts = [
        "--",
        "-- add\n    return x + 1\nend",
        "-- add\n    return x + 1\nend\n\n",
        "    return x + 1\nend\nlocal",
    ]
    assert wrote_stop_text(tokenizer, [new(t) for t in texts], stops) == [False, False, True, True]
    # transformers' stop_strings see the prompt too: they would end this completion after its first token.
    assert StopStringCriteria(tokenizer, stops)(torch.tensor([prompt + new("--")]), None).item()
