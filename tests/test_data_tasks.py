"""Chat data that teaches tasks: task dialogues (goals in varied words, programs that combine entries, answers in
varied shapes, all checked), near misses (invented names answered with what the API has), and rows a teacher wrote
(synthesized, replay) mixed in with their weights."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
from conftest import BUNDLED_DOCS

from luacoder.apidocs.markdown import read_markdown_docs
from luacoder.apidocs.schema import ApiEntry, ApiSet, Param, Return
from luacoder.data.chat import build_chat
from luacoder.data.config import load_data_config
from luacoder.data.execution import ExecutionFilter
from luacoder.data.filters import ApiChecker
from luacoder.data.near_miss import NearMissFinder
from luacoder.data.tasks import example_tasks, fill_phrase, goal_from_comment
from luacoder.files import read_jsonl
from luacoder.lua.calls import extract_calls
from luacoder.lua.markdown_code import extract_lua_code


@pytest.fixture(scope="module")
def api():
    files = ["string.md", "table.md", "math.md"]
    return read_markdown_docs([BUNDLED_DOCS / f for f in files], name="lua54-part")


@pytest.fixture(scope="module")
def built(api, tmp_path_factory):
    out = tmp_path_factory.mktemp("chat-tasks")
    config = load_data_config(
        None,
        {
            "output_dir": str(out),
            "chat.dialogues_per_entry": 1,
            "chat.combined_per_entry": 0,
            "chat.task_dialogues_per_entry": 6,
            "chat.near_miss_dialogues": 80,
            "chat.eval_prompts": 12,
        },
    )
    return build_chat(api, config), config


def rows_of(result, prefix: str):
    return [row for rows in result.splits.values() for row in rows if row["source"].startswith(prefix)]


def skeleton(text: str) -> str:
    """A question without its values and names: what is left is its wording."""
    text = re.sub(r'"[^"]*"|`[^`]*`|\b\d+(\.\d+)?\b', "X", text)
    return re.sub(r"\b[a-z_]+\.[a-z_]+\b", "X", text.lower())


def test_task_questions_state_goals_in_varied_words(built):
    result, _ = built
    tasks = rows_of(result, "generated: task_")
    assert {r["source"] for r in tasks} == {f"generated: task_{k}" for k in ("call", "function", "chain", "example")}
    questions = [r["messages"][0]["content"] for r in tasks]
    openings = Counter(" ".join(skeleton(q).split()[:3]) for q in questions)
    assert len(openings) >= 40
    assert openings.most_common(1)[0][1] / len(questions) < 0.08
    # goals, not entry names: no task question names a documented entry
    names = {e for row in tasks for e in re.findall(r"`([\w.:]+)`", row["messages"][1]["content"])}
    assert not any(re.search(rf"(?<![\w.]){re.escape(n)}\(", q) for q in questions for n in names if "." in n)


def test_task_answers_vary_combine_entries_and_pass_every_check(built, api):
    result, config = built
    checker = ApiChecker(api)
    tasks = rows_of(result, "generated: task_")
    shapes, codes = Counter(), []
    for row in tasks:
        for answer in row["messages"][1::2]:
            blocks = extract_lua_code(answer["content"])
            assert len(blocks) == 1, answer["content"]
            assert checker.problems(blocks[0]) == []
            codes.append(blocks[0])
        first = row["messages"][1]["content"]
        shapes["code first" if first.startswith("```") else skeleton(first.split("\n")[0])[:25]] += 1
    assert len(shapes) >= 12 and shapes.most_common(1)[0][1] / len(tasks) < 0.4
    # chains call two documented entries, the second on the first one's result
    for row in rows_of(result, "generated: task_chain"):
        code = extract_lua_code(row["messages"][1]["content"])[0]
        assert len(set(checker.api_calls(code))) >= 2, code
    # functions define the function they are about and call it
    for row in rows_of(result, "generated: task_function"):
        code = extract_lua_code(row["messages"][1]["content"])[0]
        name = re.match(r"local function (\w+)\(", code).group(1)
        assert re.search(rf"^local result = {name}\(|^{name}\(", code, flags=re.M), code
    runner = ExecutionFilter(config.sandbox, api)
    assert not [v for v in runner.run(sorted(set(codes))) if not v.keep]
    # a stated output is what the code prints
    stated = [r["messages"][1]["content"] for r in tasks if "```text" in r["messages"][1]["content"]]
    assert stated
    printed = runner.run([extract_lua_code(answer)[0] for answer in stated])
    for answer, verdict in zip(stated, printed, strict=True):
        assert verdict.stdout.strip("\n") == answer.split("```text\n", 1)[1].split("\n```", 1)[0]


def test_near_misses_name_a_documented_alternative_and_never_call_the_invented_name(api, built):
    result, config = built
    checker = ApiChecker(api)
    finder = NearMissFinder(api, checker.index, {e.name for e in api})
    misses = {m.fake: m for m in finder.misses()}
    assert misses["string.toUpper"].real == ["string.upper"] and misses["table.join"].real == ["table.concat"]
    assert misses["string.split"].helper and misses["math.round"].helper and "table.contains" in misses
    assert not any(checker.index.known(fake) or checker.index.canonical(fake) for fake in misses)
    rows = rows_of(result, "generated: near_miss_")
    assert len(rows) >= 50 and {r["source"] for r in rows} >= {
        "generated: near_miss_synonym",
        "generated: near_miss_common",
    }
    for row in rows:
        question, answer = row["messages"][0]["content"], row["messages"][1]["content"]
        fake = next(f for f in sorted(misses, key=len, reverse=True) if f in question)
        code = extract_lua_code(answer)[0]
        assert checker.problems(code) == []
        assert fake not in {c.resolved for c in extract_calls(code).calls}
        assert answer.index(f"`{fake}`") < answer.index("```lua")  # said not to exist before the code
        miss = misses[fake]
        if not miss.helper:
            assert miss.real[0] in answer and miss.real[0] in checker.api_calls(code), (fake, answer)


def test_near_misses_of_a_host_api_follow_its_names():
    entries = [
        ApiEntry("display.newRect", "function", "display", "display.newRect(x, y, w, h)",
                 params=[Param(n, "number") for n in "xywh"], returns=[Return("ShapeObject")],
                 description="Creates a rectangle."),
        ApiEntry("display.newText", "function", "display", "display.newText(text, x, y)",
                 params=[Param("text", "string"), Param("x", "number"), Param("y", "number")],
                 returns=[Return("TextObject")], description="Creates a text object."),
        ApiEntry("ShapeObject:removeSelf", "method", "ShapeObject", "object:removeSelf()", owner="ShapeObject",
                 description="Removes the object from the display."),
    ]  # fmt: skip
    api = ApiSet("host", entries)
    checker = ApiChecker(api)
    fakes = {m.fake: m for m in NearMissFinder(api, checker.index, {e.name for e in entries}).misses()}
    assert {"display.new_rect", "display.createRect", "display.makeText", "ShapeObject:deleteSelf"} <= set(fakes)
    assert fakes["display.new_rect"].how == "style" and fakes["display.createRect"].real == ["display.newRect"]
    assert "display.newRect" not in fakes and not any(checker.index.known(f) for f in fakes)


def test_goals_come_from_comments_and_phrases_with_their_values():
    assert goal_from_comment("angle between two 2D vectors from their dot product") is not None
    for explains in (
        "it returns the file, so calls can be chained",
        "prints an empty line",
        "now the list is sorted",
        "x",
    ):
        assert goal_from_comment(explains) is None
    assert fill_phrase("get a string made of `n` copies of `s`", {"n": "3", "s": '"ab"'}) == (
        'get a string made of 3 copies of "ab"'
    )
    assert fill_phrase("sort `list[1]` through `list[#list]`", {"list": "{1, 2}"}) is None
    assert fill_phrase("get `s` reversed", {}, {"s": "the result"}) == "get the result reversed"
    assert fill_phrase("tell whether the coroutine `co` can yield", {}, {"co": "that"}) == (
        "tell whether the coroutine can yield"
    )
    entry = ApiEntry(
        "m.f", "function", "m", "m.f()",
        examples=[
            "-- Count the words of a sentence\nlocal n = 0\n\n-- it prints 0\nprint(n)",
            "print(1)\n\n-- add up the bytes of a message\nlocal sum = 0\nprint(sum)\n\nprint(2)",
        ],
    )  # fmt: skip
    assert [(t.goal, t.code) for t in example_tasks(entry)] == [
        ("count the words of a sentence", "local n = 0\n\n-- it prints 0\nprint(n)"),  # a title: the whole example
        ("add up the bytes of a message", "local sum = 0\nprint(sum)"),  # a paragraph's comment: that paragraph
    ]


def test_synthesized_and_replay_rows_join_with_their_weights_and_the_call_check(api, tmp_path):
    answer = "```lua\nprint(string.rep('ab', 2))\n```"
    synth = [
        {
            "messages": [
                {"role": "user", "content": f"Task {i}: repeat ab twice"},
                {"role": "assistant", "content": answer},
            ]
        }
        for i in range(20)
    ]
    synth.append(
        {
            "messages": [
                {"role": "user", "content": "Split"},
                {"role": "assistant", "content": "```lua\nstring.split('a')\n```"},
            ]
        }
    )
    replay = [
        {"messages": [{"role": "user", "content": f"Question {i}?"}, {"role": "assistant", "content": f"Answer {i}."}]}
        for i in range(10)
    ]
    for name, rows in (("synth.jsonl", synth), ("replay.jsonl", replay)):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    settings = {
        "output_dir": str(tmp_path / "out"),
        "chat.dialogues_per_entry": 1,
        "chat.combined_per_entry": 0,
        "chat.task_dialogues_per_entry": 0,
        "chat.near_miss_dialogues": 0,
        "chat.eval_prompts": 4,
        "chat.test_fraction": 0.0,
        "chat.synthesized": str(tmp_path / "synth.jsonl"),
        "chat.synthesized_weight": 0.5,
        "chat.replay": str(tmp_path / "replay.jsonl"),
        "chat.replay_weight": 3,
    }
    result = build_chat(api, load_data_config(None, settings))
    train = result.splits["train"]
    sources = Counter(r["source"] for r in train)
    rejects = read_jsonl(result.out_dir / "rejects.jsonl")
    called = [r for r in rejects if r["source"] == "synthesized" and r["filter"] == "call check"]
    drawn_out = [r for r in rejects if r["source"] == "synthesized" and r["filter"] == "weight"]
    assert len(called) == 1 and 0 < len(drawn_out) < 20 and sources["synthesized"] == 20 - len(drawn_out)
    assert sources["replay"] == 30 and result.details["copies"] == {"replay": 20}
    assert result.ledger.kept["train"]["replay"] == 10  # the ledger counts each row once
    card = (result.out_dir / "README.md").read_text()
    assert "**replay weight**: 20 extra copies" in card
