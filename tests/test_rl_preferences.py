"""Preference pairs (luacoder.data.preferences): each rejected answer has exactly the intended API mistake."""

from __future__ import annotations

import json
import random

import pytest
from conftest import BUNDLED_DOCS
from trl.data_utils import is_conversational

from luacoder.apidocs.markdown import read_markdown_docs
from luacoder.data.preferences import CORRUPTIONS, build_preferences, corrupt_code, save_preference_splits
from luacoder.dialogue import ChatRowError
from luacoder.grading import ApiIndex, grade_answer
from luacoder.rl.data import load_preference_dataset


@pytest.fixture(scope="module")
def api():
    return read_markdown_docs([BUNDLED_DOCS], name="lua54")


@pytest.fixture(scope="module")
def index(api):
    return ApiIndex(api)


def _row(answer: str, question: str = "Repeat ab three times.") -> dict:
    return {
        "messages": [
            {"role": "system", "content": "You write Lua."},
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
    }


GOOD = 'Use `string.rep`:\n\n```lua\nlocal s = string.rep("ab", 3)\nprint(s)\n```\n\nIt prints ababab.'


def _assert_exact_mistake(pair: dict, index: ApiIndex) -> None:
    """Graded like eval: the chosen answer is clean, the rejected one has exactly the mistake its kind names."""
    chosen = grade_answer(pair["chosen"][0]["content"], index)
    rejected = grade_answer(pair["rejected"][0]["content"], index)
    assert chosen.syntax_valid and chosen.api_calls and not chosen.hallucinated and not chosen.arity_errors
    assert rejected.syntax_valid and rejected.api_calls == chosen.api_calls
    if pair["corruption"] == "wrong_arity":
        assert rejected.hallucinated == 0 and rejected.arity_errors == 1
    else:
        assert rejected.arity_errors == 0 and rejected.hallucinated == 1
        before, after = pair["detail"].split(" -> ")
        assert rejected.hallucinated_names == [after]
        old_module, old_name = before.rsplit(".", 1)
        new_module, new_name = after.rsplit(".", 1)
        if pair["corruption"] == "wrong_module":  # the same function under another documented module
            assert new_name == old_name and new_module != old_module and new_module in index.roots
        else:  # a name no documented module has
            assert new_module == old_module and not any(n.endswith(f".{new_name}") for n in index.callables)


def test_each_corruption_of_a_hand_made_answer(index):
    pairs, report = build_preferences([_row(GOOD)], index, seed=0, per_row=3)
    assert report.pairs == 3 and sorted(p["corruption"] for p in pairs) == sorted(CORRUPTIONS)
    for pair in pairs:
        assert pair["prompt"] == _row(GOOD)["messages"][:2]
        assert pair["chosen"] == [{"role": "assistant", "content": GOOD}]
        rejected = pair["rejected"][0]["content"]
        # Only the code changed: the prose around it is the chosen answer's.
        assert rejected.startswith("Use `string.rep`:\n\n```lua\n") and rejected.endswith("```\n\nIt prints ababab.")
        assert rejected != GOOD
        assert is_conversational(pair)
        _assert_exact_mistake(pair, index)
    arity = next(p for p in pairs if p["corruption"] == "wrong_arity")
    assert arity["rejected"][0]["content"] in (  # string.rep takes 2-3 arguments
        GOOD.replace('string.rep("ab", 3)', 'string.rep("ab")'),
        GOOD.replace('string.rep("ab", 3)', 'string.rep("ab", 3, 3, 3)'),
    )


def test_rows_that_cannot_be_corrupted_are_counted_with_the_reason(index):
    rows = [
        _row("No code here, just words."),
        _row("```lua\nlocal x = 1 + 2\n```"),  # no API call
        _row('```lua\nprint(string.trim(" a "))\n```'),  # the answer itself hallucinates
        _row('```lua\nprint(string.rep("a"))\n```'),  # ... or passes a wrong argument count
        _row('```lua\nprint("hello", 1)\n```'),  # print takes any number of arguments and is no module's
        {"text": "not a chat row"},
        {"messages": [{"role": "assistant", "content": GOOD}]},
        _row(GOOD),
    ]
    pairs, report = build_preferences(rows, index, seed=0)
    assert report.rows == 8 and report.pairs == len(pairs) == 1
    assert report.skipped == {
        "no assistant answer with a Lua code block": 1,
        "the answer makes no API call": 1,
        "the answer itself misuses the API": 2,
        "no call can be corrupted (hallucinated_name, wrong_module, wrong_arity)": 1,
        "not a {'messages': [...]} row": 1,
        "the answer does not follow a user turn": 1,
    }
    assert "1 pairs from 8 chat rows" in report.summary()


@pytest.mark.slow
def test_pairs_from_the_bundled_docs_examples_are_exact_and_seeded(api, index):
    rows = [_row(f"```lua\n{e.examples[0]}\n```", f"Show me {e.name}.") for e in api if e.examples]
    pairs, report = build_preferences(rows, index, seed=0)
    assert report.pairs >= 0.9 * len(rows) and set(report.by_kind) == set(CORRUPTIONS)
    for pair in pairs:
        _assert_exact_mistake(pair, index)
    again, _ = build_preferences(rows, index, seed=0)
    other, _ = build_preferences(rows, index, seed=1)
    assert again == pairs and other != pairs


def test_corrupt_code_leaves_a_call_through_an_alias_alone(index):
    # Renaming `fmt` would not change what it calls; only the arity can be corrupted.
    code = 'local fmt = string.format\nprint(fmt("%d", 1))\n'
    for seed in range(5):
        assert corrupt_code(code, index, "hallucinated_name", random.Random(seed)) is None
        assert corrupt_code(code, index, "wrong_module", random.Random(seed)) is None
    wrong = corrupt_code(code, index, "wrong_arity", random.Random(0))
    assert wrong is not None and grade_answer(wrong.code, index, report_type="code").arity_errors == 1


def test_splits_are_saved_atomically_and_read_back_as_a_trl_dataset(index, tmp_path):
    pairs, _ = build_preferences([_row(GOOD)], index, seed=0, per_row=3)
    paths = save_preference_splits(tmp_path / "prefs", train=pairs[:2], test=pairs[2:])
    assert sorted(p.name for p in (tmp_path / "prefs").iterdir()) == ["test.jsonl", "train.jsonl"]
    dataset = load_preference_dataset(paths["train"])
    assert dataset.column_names == ["prompt", "chosen", "rejected"] and len(dataset) == 2
    assert dataset[0]["chosen"] == pairs[0]["chosen"]

    broken = dict(pairs[0], rejected=pairs[0]["chosen"])
    paths["test"].write_text(json.dumps(broken) + "\n")
    with pytest.raises(ChatRowError, match="row 1: 'chosen' and 'rejected' are the same answer"):
        load_preference_dataset(paths["test"])
    paths["test"].write_text(json.dumps(dict(pairs[0], prompt=pairs[0]["chosen"])) + "\n")
    with pytest.raises(ChatRowError, match="ending with a user turn"):
        load_preference_dataset(paths["test"])
