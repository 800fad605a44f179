"""GRPO rewards (luacoder.rl.rewards): TRL reward functions that return the grader's own scores."""

from __future__ import annotations

import pytest
from conftest import BUNDLED_DOCS

from luacoder.apidocs.markdown import read_markdown_docs
from luacoder.grading import (
    ApiIndex,
    api_match_score,
    correct_call_score,
    expected_recall_score,
    grade_answer,
    syntax_score,
)
from luacoder.rl.data import load_prompt_dataset
from luacoder.rl.rewards import SCORES, RewardArguments, reward_functions


@pytest.fixture(scope="module")
def index():
    return ApiIndex(read_markdown_docs([BUNDLED_DOCS], name="lua54"))


def _answer(code: str) -> list[dict]:
    """A completion as GRPOTrainer passes it for conversational prompts."""
    return [{"role": "assistant", "content": f"Here you go:\n\n```lua\n{code}\n```"}]


COMPLETIONS = [
    _answer('print(string.rep("ab", 3))'),  # documented, right arity
    _answer('print(string.repeat("ab", 3))'),  # a hallucinated name
    _answer('print(string.rep("ab"))'),  # documented, too few arguments
    _answer("local x = 1 +"),  # does not parse
    [{"role": "assistant", "content": "I cannot help with that."}],  # no code at all
    _answer('error("boom")'),  # runs, then fails
]
EXPECTED = [["string.rep"], ["string.rep"], ["string.rep"], ["string.rep"], ["string.rep"], []]


def _rewards(index, names, **kwargs) -> dict[str, list]:
    funcs = reward_functions(index, names, **kwargs)
    assert [f.__name__ for f in funcs] == list(names)  # TRL logs rewards/<name>/mean
    prompts = [None] * len(COMPLETIONS)
    return {f.__name__: f(prompts=prompts, completions=COMPLETIONS, expected_apis=EXPECTED) for f in funcs}


def test_rewards_are_the_graders_scores(index):
    got = _rewards(index, ["api_match", "correct_call", "expected_recall", "syntax"])
    grades = [grade_answer(c[0]["content"], index, e) for c, e in zip(COMPLETIONS, EXPECTED, strict=True)]
    for name, score in [
        ("api_match", api_match_score),
        ("correct_call", correct_call_score),
        ("expected_recall", expected_recall_score),
        ("syntax", syntax_score),
    ]:
        graded = [score(g) for g in grades]
        if name in ("api_match", "correct_call"):  # an answer without API calls is worth no_api_reward (0.0)
            graded = [0.0 if s is None else s for s in graded]
        assert got[name] == graded, name
    # The numbers themselves, so that a grader change shows here.
    assert got["api_match"] == [1.0, 0.5, 1.0, 0.0, 0.0, 1.0]
    assert got["correct_call"] == [1.0, 0.5, 0.5, 0.0, 0.0, 1.0]
    assert got["expected_recall"] == [1.0, 0.0, 1.0, 0.0, 0.0, None]  # None: the prompt expects no API
    assert got["syntax"] == [1.0, 1.0, 1.0, 0.0, 0.0, 1.0]


def test_no_api_reward_is_an_explicit_choice(index):
    got = _rewards(index, ["api_match"], no_api_reward=-1.0)
    assert got["api_match"] == [1.0, 0.5, 1.0, -1.0, -1.0, 1.0]


def test_the_execution_reward_runs_each_answer_in_the_sandbox(index):
    got = _rewards(index, ["execution", "syntax"])
    # string.repeat is nil and string.rep("ab") lacks its count: both fail when run, like error("boom").
    assert got["execution"] == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]


def test_reward_settings_are_checked():
    assert set(SCORES) == {"api_match", "correct_call", "expected_recall", "syntax", "execution"}
    with pytest.raises(ValueError, match="unknown reward_funcs \\['api_macth'\\]"):
        RewardArguments(reward_funcs=["api_macth"])
    with pytest.raises(ValueError, match="report_type"):
        RewardArguments(report_type="html")


def test_prompts_come_from_an_eval_csv_or_from_chat_rows(index, tmp_path):
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
