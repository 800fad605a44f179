"""The chat dataset: checked answers, varied questions, imports with rejects, decontamination, splits, prompts.csv."""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import BUNDLED_DOCS

from luacoder.apidocs.markdown import read_markdown_docs
from luacoder.data.chat import build_chat
from luacoder.data.config import load_data_config
from luacoder.data.filters import ApiChecker, Decontaminator
from luacoder.data.pretrain import build_pretrain
from luacoder.data.sources import convert_row
from luacoder.dialogue import ChatRowError
from luacoder.evaluation.prompts import read_eval_prompts
from luacoder.files import read_jsonl
from luacoder.grading.api_index import ApiIndex
from luacoder.lua.markdown_code import extract_lua_code

GOOD = {"messages": [{"role": "user", "content": "Say hi in Lua"}, {"role": "assistant", "content": "print('hi')"}]}


@pytest.fixture(scope="module")
def api():
    return read_markdown_docs([BUNDLED_DOCS / "string.md", BUNDLED_DOCS / "io.md"], name="lua54-part")


@pytest.fixture(scope="module")
def imports(tmp_path_factory):
    root = tmp_path_factory.mktemp("imports")
    lines = [
        json.dumps(GOOD),
        json.dumps({"messages": [{"role": "robot", "content": "beep"}, {"role": "assistant", "content": "boop"}]}),
        json.dumps({"messages": []}),
        '{"messages": [',
        json.dumps({"question": "no known columns"}),
        json.dumps({"prompt": "Reverse a string", "completion": "```lua\nprint(('abc'):reverse())\n```"}),
        json.dumps(GOOD),  # an exact duplicate of the first row
    ]
    (root / "chats.jsonl").write_bytes(("\n".join(lines) + "\n").encode() + b'{"messages": "caf\xe9"}\n')
    alpaca = [
        {"instruction": "Upper-case a word", "input": "lua", "output": "```lua\nprint(string.upper('lua'))\n```"},
        {"instruction": "Trim a string", "input": "", "output": "```lua\nprint(string.trim('  x '))\n```"},
    ]
    (root / "alpaca.jsonl").write_text("".join(json.dumps(r) + "\n" for r in alpaca))
    oasst = [
        {"text": "### Human: What is Lua?### Assistant: A small scripting language.### Human: Thanks"},
        {"text": "### Human: Hello### Assistant: Hi!### Human: Bye### Assistant: Bye!"},
        {"text": "### Narrator: Once upon a time### Assistant: ..."},
    ]
    (root / "oasst.jsonl").write_text("".join(json.dumps(r) + "\n" for r in oasst))
    table = pa.Table.from_pylist([GOOD, {"messages": [{"role": "user", "content": "Only a question"}]}])
    pq.write_table(table, root / "chats.parquet")
    return root


@pytest.fixture(scope="module")
def built(api, imports, tmp_path_factory):
    out = tmp_path_factory.mktemp("chat")
    config = load_data_config(
        None,
        {
            "output_dir": str(out),
            "chat": {
                "dialogues_per_entry": 6,
                "combined_per_entry": 1,
                "eval_prompts": 12,
                "imports": [
                    {"path": str(imports / "chats.jsonl")},
                    {"path": str(imports / "alpaca.jsonl"), "format": "alpaca", "check_calls": True},
                    {"path": str(imports / "oasst.jsonl"), "format": "oasst"},
                    {"path": str(imports / "chats.parquet"), "format": "messages"},
                ],
            },
        },
    )
    return build_chat(api, config), config


def generated(result):
    for split, rows in result.splits.items():
        for row in rows:
            if row["source"].startswith("generated"):
                yield split, row


def test_every_generated_answer_is_one_checked_lua_block(built, api):
    result, _ = built
    checker = ApiChecker(api)
    answers = 0
    for _split, row in generated(result):
        roles = [m["role"] for m in row["messages"]]
        assert roles in (["user", "assistant"], ["user", "assistant", "user", "assistant"])
        for message in row["messages"][1::2]:
            blocks = extract_lua_code(message["content"])
            assert len(blocks) == 1, message["content"]
            assert checker.problems(blocks[0]) == [], (blocks[0], checker.problems(blocks[0]))
            answers += 1
    assert answers > len(list(generated(result)))  # some rows are multi-turn


def test_questions_vary(built):
    result, _ = built
    questions = [row["messages"][0]["content"] for _s, row in generated(result)]
    # Replace the entry names and code so that what is left is the wording
    skeletons = Counter(re.sub(r"`?[\w.:]+[.:]\w+`?|```.*?```", "X", q, flags=re.S) for q in questions)
    assert len(skeletons) >= 60
    assert skeletons.most_common(1)[0][1] / len(questions) < 0.05
    intents = Counter(row["source"] for _s, row in generated(result))
    assert {
        "generated: how_name",
        "generated: how_task",
        "generated: returns",
        "generated: params",
        "generated: fix",
        "generated: optional",
        "generated: method",
        "generated: field",
        "generated: combine",
    } <= set(intents)


def test_split_by_entry_is_disjoint(built):
    result, _ = built
    groups = result.details["groups"]
    test_entries = set(result.details["test_entries"])
    assert test_entries and set(groups["test"]) & test_entries == test_entries
    generated_train = {
        g for g, row in zip(groups["train"], result.splits["train"], strict=True) if "import" not in row["source"]
    }
    assert generated_train.isdisjoint(test_entries)
    assert set(groups["train"]).isdisjoint(groups["test"])
    # a combination or a task chain only pairs entries of one split: no train row's code calls a held-out entry
    for row in result.splits["train"]:
        if row["source"] in ("generated: combine", "generated: task_chain"):
            code = extract_lua_code(row["messages"][1]["content"])[0]
            assert not any(re.search(rf"\b{re.escape(name)}\(", code) for name in test_entries), code


def test_eval_prompts_are_documented_and_decontaminated(built, api):
    result, config = built
    prompts = read_eval_prompts(config.out / "eval" / "prompts.csv", ApiIndex(api))
    assert len(prompts) == 12
    assert all(p.expected_apis and all(api.get(n) for n in p.expected_apis) for p in prompts)
    checker = Decontaminator([p.prompt for p in prompts], n=config.chat.decontam_ngram)
    for rows in result.splits.values():
        for row in rows:
            for m in row["messages"]:
                if m["role"] == "user":
                    assert checker.match(m["content"]) is None, m["content"]
    removed = result.ledger.removed["decontamination"].total()
    assert removed > 0  # the how-to questions share the docs' wording with the task prompts


def test_imports_are_converted_or_rejected_with_reasons(built, imports):
    result, _ = built
    ledger = result.ledger
    reasons = Counter(
        (r["source"], r["filter"], r["reason"]) for r in ledger.rejects if r["source"].startswith("import")
    )
    assert reasons == Counter(
        {
            ("import:chats.jsonl", "format", "unknown role"): 1,
            ("import:chats.jsonl", "format", "empty conversation"): 1,
            ("import:chats.jsonl", "format", "malformed JSON"): 1,
            ("import:chats.jsonl", "format", "missing column"): 1,
            ("import:chats.jsonl", "format", "not valid UTF-8"): 1,
            ("import:chats.jsonl", "exact duplicate", "exact duplicate"): 1,
            ("import:alpaca.jsonl", "call check", "fails the API call check"): 1,
            ("import:oasst.jsonl", "format", "unknown speaker"): 1,
            ("import:chats.parquet", "format", "a conversation needs"): 1,
            ("import:chats.parquet", "exact duplicate", "exact duplicate"): 1,
        }
    )
    assert ledger.read["import:chats.jsonl"] == 8
    assert ledger.read["import:oasst.jsonl"] == 3
    kept = [r for rows in result.splits.values() for r in rows if r["source"].startswith("import")]
    assert sorted(r["source"] for r in kept) == [
        "import:alpaca.jsonl",
        "import:chats.jsonl",
        "import:chats.jsonl",
        "import:oasst.jsonl",
        "import:oasst.jsonl",
    ]
    alpaca = next(r for r in kept if r["source"] == "import:alpaca.jsonl")
    assert alpaca["messages"][0] == {"role": "user", "content": "Upper-case a word\n\nlua"}
    oasst = [r["messages"] for r in kept if r["source"] == "import:oasst.jsonl"]
    assert [m["role"] for m in oasst[0]] == ["user", "assistant", "user"]  # a trailing question is kept
    assert oasst[1][-1] == {"role": "assistant", "content": "Bye!"}


def test_card_counts_add_up(built):
    result, _ = built
    card = (result.out_dir / "README.md").read_text()
    read, removed, kept, test, train = map(
        int, re.search(r"read (\d+) = removed (\d+) \+ kept (\d+) \(test (\d+) \+ train (\d+)\)", card).groups()
    )
    rejects = read_jsonl(result.out_dir / "rejects.jsonl")
    assert (removed, test, train) == (len(rejects), len(result.splits["test"]), len(result.splits["train"]))
    assert read == removed + kept == result.ledger.total_read
    assert len(read_jsonl(result.out_dir / "train.jsonl", required=("messages",))) == train
    assert "By API entry" in card and "## Answer code" in card


def test_convert_row_layouts():
    assert convert_row({"prompt": "a", "completion": "b"}, "auto", "row 1") == [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
    ]
    with pytest.raises(ChatRowError, match=r"row 2: missing column\(s\) \['output'\] for the alpaca layout"):
        convert_row({"instruction": "x"}, "alpaca", "row 2")
    with pytest.raises(ChatRowError, match="row 3: text before the first '### Human:' marker"):
        convert_row({"text": "hello ### Human: hi ### Assistant: yo"}, "oasst", "row 3")
    with pytest.raises(ChatRowError, match="row 4: message 1 has unknown role 'bot'"):
        convert_row({"messages": [GOOD["messages"][0], {"role": "bot", "content": "x"}]}, "messages", "row 4")


@pytest.mark.slow
def test_same_seed_same_files_and_the_dialogue_split(api, tmp_path, built):
    result, config = built
    config_again = load_data_config(None, {**_plain(config), "output_dir": str(tmp_path / "a")})
    again = build_chat(api, config_again)
    for name in ("train.jsonl", "test.jsonl"):
        generated_rows = lambda p: [r for r in read_jsonl(p) if r["source"].startswith("generated")]  # noqa: E731
        assert generated_rows(again.out_dir / name) == generated_rows(result.out_dir / name)
    by_dialogue = build_chat(
        api, load_data_config(None, {**_plain(config), "output_dir": str(tmp_path / "b"), "chat.split_by": "dialogue"})
    )
    groups = by_dialogue.details["groups"]
    assert set(groups["train"]).isdisjoint(groups["test"]) and groups["test"]
    assert all("#" in g for g in groups["test"])  # dialogue ids: entry#intent


def _snapshot(root):
    """Every file one chat build writes, by path under the output folder."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted([*(root / "chat").iterdir(), root / "eval" / "prompts.csv"])
    }


def test_a_build_killed_while_writing_leaves_the_previous_dataset_whole(api, tmp_path, monkeypatch):
    from luacoder.data import ledger as ledger_module

    config = load_data_config(None, {**_plain_small(), "output_dir": str(tmp_path)})
    build_chat(api, config)
    before = _snapshot(tmp_path)
    assert {"chat/train.jsonl", "chat/rejects.jsonl", "chat/README.md", "eval/prompts.csv"} <= set(before)

    def killed(self, path):
        raise KeyboardInterrupt  # as a Ctrl-C after train.jsonl and test.jsonl are written

    monkeypatch.setattr(ledger_module.Ledger, "write_rejects", killed)
    again = load_data_config(None, {**_plain_small(), "output_dir": str(tmp_path), "seed": 7})
    with pytest.raises(KeyboardInterrupt):
        build_chat(api, again)
    # The eval prompts too: new prompts beside the old chat rows would share rows with them.
    assert _snapshot(tmp_path) == before
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".luacoder-staging")]  # no stray temporary
    monkeypatch.undo()
    build_chat(api, again)
    after = _snapshot(tmp_path)
    assert set(after) == set(before) and after["chat/train.jsonl"] != before["chat/train.jsonl"]
    assert after["eval/prompts.csv"] != before["eval/prompts.csv"]


def test_a_build_killed_while_swapping_its_outputs_in_is_finished_by_the_next_build(api, tmp_path, monkeypatch):
    build_chat(api, load_data_config(None, {**_plain_small(), "output_dir": str(tmp_path)}))
    before = _snapshot(tmp_path)
    new = load_data_config(None, {**_plain_small(), "output_dir": str(tmp_path / "reference"), "seed": 7})
    build_chat(api, new)
    expected = _snapshot(tmp_path / "reference")
    assert expected["eval/prompts.csv"] != before["eval/prompts.csv"]

    # Killed between moving the old chat/ aside and moving the new one in: chat/ is missing for a moment.
    real_replace, folders = os.replace, []

    def replace(src, dst):
        if Path(src).is_dir():
            folders.append(src)
            if len(folders) == 2:
                raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        build_chat(api, load_data_config(None, {**_plain_small(), "output_dir": str(tmp_path), "seed": 7}))
    monkeypatch.undo()
    assert not (tmp_path / "chat").exists()
    # The next build into the folder, of the other dataset, finds the interrupted one and finishes it.
    build_pretrain(api, load_data_config(None, {"output_dir": str(tmp_path), "pretrain.execute": False}))
    assert _snapshot(tmp_path) == {name: data for name, data in expected.items()}
    assert (tmp_path / "pretrain" / "train.jsonl").is_file()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".luacoder-staging")]


def _plain_small():
    return {
        "chat.dialogues_per_entry": 2,
        "chat.combined_per_entry": 0,
        "chat.task_dialogues_per_entry": 1,
        "chat.near_miss_dialogues": 10,
        "chat.eval_prompts": 4,
    }


def test_rows_over_the_length_limit_are_rejected_and_an_import_with_no_usable_row_warns(api, tmp_path, caplog):
    long = {"messages": [{"role": "user", "content": "Explain"}, {"role": "assistant", "content": "x" * 40_000}]}
    (tmp_path / "long.jsonl").write_text(json.dumps(GOOD) + "\n" + json.dumps(long) + "\n")
    (tmp_path / "bad.jsonl").write_text('{"messages": [\n' + json.dumps({"question": "no known columns"}) + "\n")
    imports = [{"path": str(tmp_path / "long.jsonl")}, {"path": str(tmp_path / "bad.jsonl")}]
    settings = {**_plain_small(), "output_dir": str(tmp_path / "out"), "chat.imports": imports}
    with caplog.at_level(logging.WARNING):
        result = build_chat(api, load_data_config(None, settings))
    rejects = read_jsonl(result.out_dir / "rejects.jsonl")
    too_long = [r for r in rejects if r["filter"] == "length"]
    assert [(r["reason"], r["detail"]) for r in too_long] == [
        ("longer than chat.max_row_chars=32000", "40007 characters")
    ]
    assert all(len(line) < 10_000 for line in (result.out_dir / "train.jsonl").read_text().splitlines())
    warned = [r.getMessage() for r in caplog.records if "no row of the import" in r.getMessage()]
    assert len(warned) == 1 and "bad.jsonl" in warned[0] and "2 read" in warned[0]
    # The limit is the config's: at 200 characters generated rows with long answers go too.
    tight = build_chat(api, load_data_config(None, {**settings, "chat.max_row_chars": 200}))
    assert sum(r["filter"] == "length" for r in read_jsonl(tight.out_dir / "rejects.jsonl")) > len(too_long)


def _plain(config):
    return {"chat.dialogues_per_entry": 6, "chat.combined_per_entry": 1, "chat.eval_prompts": 12, "seed": config.seed}


def test_token_counts_use_the_configured_tokenizer(tokenizer_dir, tokenizer):
    from luacoder.data.card import TokenCounter

    counter = TokenCounter(str(tokenizer_dir))
    messages = GOOD["messages"]
    assert counter.count("print(string.rep('ab', 3))") == len(tokenizer("print(string.rep('ab', 3))")["input_ids"])
    rendered = tokenizer.apply_chat_template(messages, tokenize=False)
    assert counter.count_messages(messages) == len(tokenizer(rendered, add_special_tokens=False)["input_ids"])
    assert "tokenizer" in counter.method
    words = TokenCounter(None)
    assert words.count_messages(messages) == 5 and "white-space" in words.method


def test_a_hub_import_goes_through_datasets(tmp_path):
    from luacoder.data.sources import read_import

    # `datasets.load_dataset` takes a hub id or a local dataset folder the same way; a folder keeps this offline.
    folder = tmp_path / "chats"
    folder.mkdir()
    (folder / "train.jsonl").write_text(
        json.dumps(GOOD) + "\n" + json.dumps({"prompt": "p", "completion": "c"}) + "\n"
    )
    config = load_data_config(None, {"output_dir": str(tmp_path), "chat.imports": [{"hub": str(folder)}]})
    items = list(read_import(config.chat.imports[0], config))
    # datasets gives both rows both layouts' columns, None where a row has none: each is read in its own layout
    assert [i.error for i in items] == [None, None]
    assert items[0].messages == GOOD["messages"] and items[0].where.endswith("[train] row 0")
    assert items[1].messages == [{"role": "user", "content": "p"}, {"role": "assistant", "content": "c"}]


def test_the_shipped_natural_questions_are_never_training_data(api):
    from luacoder.data.build import Row, decontaminate, eval_prompts_for
    from luacoder.data.config import DataConfig
    from luacoder.data.ledger import Ledger
    from luacoder.evaluation.prompts import NATURAL_LUA54, read_prompts

    natural = read_prompts(NATURAL_LUA54)
    assert len(natural) >= 60
    # Whatever docs the data is built from (here a part of the manual), the shipped sets are decontaminated against.
    prompts = eval_prompts_for(api, DataConfig())
    assert [p.prompt for p in prompts][-len(natural) :] == natural
    asked = {
        "near": "Hi! " + natural[3].lower() + " Thanks.",  # a natural question inside a longer user turn
        "far": "What does string.rep return when n is zero?",
    }
    rows = [Row({"messages": []}, "generated", k, k, text, {"user": text}) for k, text in asked.items()]
    kept = decontaminate(rows, Ledger("chat"), prompts, 6, "user")
    assert [r.origin for r in kept] == ["far"]
