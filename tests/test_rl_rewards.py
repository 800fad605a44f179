"""GRPO rewards (luacoder.rl.rewards): TRL reward functions that return eval's own numbers for each answer."""

from __future__ import annotations

import pytest
from conftest import BUNDLED_DOCS

from luacoder.apidocs import save_api
from luacoder.apidocs.markdown import read_markdown_docs
from luacoder.grading import aggregate, grade_answer
from luacoder.grading.api_index import load_index
from luacoder.grading.execution import execute_grades
from luacoder.rl.data import load_prompt_dataset
from luacoder.rl.rewards import SCORES, RewardArguments, reward_functions


@pytest.fixture(scope="module")
def api_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("api") / "api.json"
    save_api(read_markdown_docs([BUNDLED_DOCS], name="lua54"), path)
    return path


@pytest.fixture(scope="module")
def index(api_path):
    return load_index(api_path)  # what eval.py grades against: the api.json over the Lua standard library


def _answer(code: str, words: str = "Here you go:") -> list[dict]:
    """A completion as GRPOTrainer passes it for conversational prompts."""
    return [{"role": "assistant", "content": f"{words}\n\n```lua\n{code}\n```"}]


# Answers of the kinds the real-model demo's checkpoints write, each with the APIs its prompt expects.
ANSWERS = [
    (  # documented calls only
        _answer(
            'local parts = {}\nfor word in string.gmatch("a,b,c", "[^,]+") do\n  table.insert(parts, word)\nend\n'
            'print(table.concat(parts, " "))',
            "Split with `string.gmatch`, then join:",
        ),
        ["string.gmatch", "table.concat"],
    ),
    (_answer('local parts = string.split("a,b,c", ",")\nprint(#parts)'), ["string.gmatch"]),  # an invented member
    (_answer('local s = trim("  hi  ")\nprint(s)'), ["string.gsub"]),  # an invented global helper
    (_answer('print(string.rep("ab"))'), ["string.rep"]),  # too few arguments
    (_answer("local t = {1, 2\nprint(t[1])"), ["print"]),  # does not parse
    (  # an invented io member, an invented global and a documented call together
        _answer("local n = io.integer()\nprint(len({n}))"),
        ["io.read", "print"],
    ),
    (_answer('local f = io.open("data.txt")\nprint(f:readAll())'), ["io.open"]),  # an invented file method
    (_answer("print(time.time())"), ["os.time"]),  # another language's module
    ([{"role": "assistant", "content": "I cannot help with that."}], ["string.format"]),  # no code at all
    (_answer('error("boom")'), []),  # runs, then fails; its prompt expects nothing
]
COMPLETIONS = [a for a, _ in ANSWERS]
EXPECTED = [e for _, e in ANSWERS]


def _rewards(index, **settings) -> dict[str, list]:
    args = RewardArguments(reward_funcs=list(SCORES), **settings)
    funcs = reward_functions(index, args)
    assert [f.__name__ for f in funcs] == list(SCORES)  # TRL logs rewards/<name>/mean
    prompts = [None] * len(COMPLETIONS)
    return {f.__name__: f(prompts=prompts, completions=COMPLETIONS, expected_apis=EXPECTED) for f in funcs}


def _eval_grades(index, execute: bool = True):
    """The grades as eval.py makes them (grade_answer, then the sandbox with its default limits)."""
    grades = [grade_answer(c[0]["content"], index, e, "markdown") for c, e in zip(COMPLETIONS, EXPECTED, strict=True)]
    if execute:
        execute_grades(grades, None, 5.0, 64.0)
    return grades


def _weighted(values, weights) -> float:
    pairs = [(v, w) for v, w in zip(values, weights, strict=True) if w]
    return sum(v * w for v, w in pairs) / sum(w for _, w in pairs)


@pytest.mark.parametrize("count_undefined_globals", [True, False])
def test_each_reward_is_what_evals_aggregation_reports_for_the_answer(index, count_undefined_globals):
    got = _rewards(index, count_undefined_globals=count_undefined_globals)
    grades = _eval_grades(index)
    single = [aggregate([g], count_undefined_globals=count_undefined_globals) for g in grades]
    # Each answer: the reward is eval's rate of a checkpoint that gave only this answer (where eval has one).
    for i, s in enumerate(single):
        assert got["hallucination_free"][i] == 1.0 - s.hallucination_rate
        assert got["arity"][i] == (None if s.arity_error_rate is None else 1.0 - s.arity_error_rate)
        assert got["api_match"][i] == (s.api_match_accuracy if s.api_calls else 0.0)  # no_api_reward
        assert got["expected_recall"][i] == s.expected_api_recall
        assert got["syntax"][i] == (s.syntax_valid_rate if s.answers_with_code else 0.0)  # no code: 0.0
        assert got["execution"][i] == (s.execution_rate if s.answers_with_code else 0.0)
    # The whole set: eval's checkpoint rates are these rewards averaged over each rate's own denominator.
    total = aggregate(grades, count_undefined_globals=count_undefined_globals)
    n = len(grades)
    assert total.hallucination_rate == pytest.approx(1 - sum(got["hallucination_free"]) / n)
    assert total.arity_error_rate == pytest.approx(
        1 - _weighted([r or 0 for r in got["arity"]], [s.matched for s in single])
    )
    assert total.api_match_accuracy == pytest.approx(_weighted(got["api_match"], [s.api_calls for s in single]))
    assert total.expected_api_recall == pytest.approx(
        _weighted([r or 0 for r in got["expected_recall"]], [s.expected_apis for s in single])
    )
    with_code = [s.answers_with_code for s in single]
    assert total.syntax_valid_rate == pytest.approx(_weighted(got["syntax"], with_code))
    assert total.execution_rate == pytest.approx(_weighted(got["execution"], with_code))

    # The numbers themselves, so that a grader change shows here.
    if count_undefined_globals:
        assert got["hallucination_free"] == [1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0]
        assert total.hallucination_rate == 0.5
    else:  # an invented global (trim, time.time) alone no longer counts; invented members still do
        assert got["hallucination_free"] == [1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0]
        assert total.hallucination_rate == 0.3
    assert got["arity"] == [1.0, 1.0, 1.0, 0.5, 1.0, 1.0, 1.0, 1.0, None, 1.0]  # None: no documented call
    assert got["api_match"] == [1.0, 0.5, 1.0, 1.0, 1.0, 0.5, 2 / 3, 1.0, 0.0, 1.0]
    assert got["expected_recall"] == [1.0, 0.0, 0.0, 1.0, 1.0, 0.5, 1.0, 0.0, 0.0, None]
    assert got["syntax"] == [1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0]
    # string.split, trim, io.integer, time are nil, io.open finds no file, string.rep lacks its count: all fail.
    assert got["execution"] == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]


def test_correct_call_and_no_api_reward_are_explicit_choices(index):
    got = _rewards(index, no_api_reward=-1.0)
    assert got["api_match"][-2:] == [-1.0, 1.0]  # the answer without code makes no API call
    assert got["correct_call"] == [1.0, 0.5, 1.0, 0.5, 1.0, 0.5, 2 / 3, 1.0, -1.0, 1.0]


def test_the_sandbox_settings_reach_the_execution_reward(index):
    slow = [_answer("local i = 0\nwhile true do i = i + 1 end")]
    args = RewardArguments(reward_funcs=["execution"], execute_timeout=0.5)
    (execution,) = reward_functions(index, args)
    assert execution(completions=slow, expected_apis=[[]]) == [0.0]
    # Further sandbox options reach execute_grades as they are (the API stubs will be one of them).
    (execution,) = reward_functions(index, args, sandbox_options={"workers": 1})
    assert execution(completions=COMPLETIONS[:1], expected_apis=EXPECTED[:1]) == [1.0]


def test_reward_settings_are_checked():
    assert set(SCORES) == {
        "hallucination_free", "arity", "api_match", "correct_call", "expected_recall", "syntax", "execution",
    }  # fmt: skip
    with pytest.raises(ValueError, match="unknown reward_funcs \\['api_macth'\\]"):
        RewardArguments(reward_funcs=["api_macth"])
    with pytest.raises(ValueError, match="report_type"):
        RewardArguments(report_type="html")


def test_reward_ranges_are_checked_by_the_config_parser(tmp_path):
    from luacoder.config import ConfigError, parse_config

    config = tmp_path / "grpo.yaml"
    config.write_text("reward_funcs: [execution]\n")
    (args,) = parse_config([RewardArguments], [str(config), "--execute_timeout=1.5"])
    assert args.execute_timeout == 1.5
    with pytest.raises(ConfigError, match="'execute_timeout' \\(from the command line\\): must be above 0, got 0.0"):
        parse_config([RewardArguments], [str(config), "--execute_timeout=0"])


def test_prompts_come_from_eval_csvs_and_chat_rows_in_one_dataset(index, tmp_path):
    csv = tmp_path / "prompts.csv"
    csv.write_text('prompt,expected_apis\n"Repeat ab three times.",string.rep\nSay hi.,\n')
    dataset = load_prompt_dataset(csv, index, system_prompt="You write Lua.")
    assert dataset["prompt"][0] == [
        {"role": "system", "content": "You write Lua."},
        {"role": "user", "content": "Repeat ab three times."},
    ]
    assert dataset["expected_apis"] == [["string.rep"], []]

    rows = tmp_path / "chat.jsonl"
    rows.write_text(
        '{"messages": [{"role": "user", "content": "Join a table"}, {"role": "assistant", "content":'
        ' "```lua\\nprint(table.concat({1, 2}, \\",\\"))\\n```"}]}\n'
    )
    dataset = load_prompt_dataset(rows, index)
    assert dataset["prompt"] == [[{"role": "user", "content": "Join a table"}]]
    assert dataset["expected_apis"] == [["print", "table.concat"]]  # what the reference answer calls correctly
    both = load_prompt_dataset([rows, csv], index)  # GRPO's train_file may list files of both kinds
    assert both["expected_apis"] == [["print", "table.concat"], ["string.rep"], []]
