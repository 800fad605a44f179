"""The synthesis aimed at the API against a scripted teacher: every filter on purpose-made responses, the funnel in
the card equal to those counts, the drawing of entries, the teachers, and the rows reaching the chat dataset.

The scripted server writes, for each instruction, one response per case of CASES in turn (one request in flight, so
the n-th response to an instruction is the n-th case); each case is built for the entries the item drew, read from
the cards in the request. So the outcome of every response is known in advance.
"""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
from conftest import BUNDLED_DOCS
from scripted_server import ScriptedServer

from luacoder.apidocs.markdown import read_markdown_docs
from luacoder.apidocs.schema import ApiEntry, ApiSet, Param, Return
from luacoder.data.config import load_data_config
from luacoder.files import read_jsonl
from luacoder.selfinstruct.aim import coverage_of, draw_items, read_entry_report, sizes_of
from luacoder.selfinstruct.api_filter import STAGES, defined_names, used_names
from luacoder.selfinstruct.client import ServerSettings
from luacoder.selfinstruct.synthesis import synthesize
from luacoder.selfinstruct.teachers import ModelTeacher, ServerTeacher, make_teacher, teacher_from_config

# What a call of each entry looks like in a response (the host entry `game.score` runs against its stub).
CALLS = {
    "string.rep": "string.rep(s, 2)",
    "string.upper": "string.upper(s)",
    "string.reverse": "string.reverse(s)",
    "game.score": "tostring(game.score(3))",
}
# case -> (stage, reason) of its rejection; None: kept
CASES = {
    "passes": None,
    "undocumented": ("api_valid", "undocumented_call"),
    "arity": ("api_valid", "wrong_arity"),
    "misses_drawn": ("api_valid", "misses_drawn_entries"),
    "ignores_code": ("passed", "tests_ignore_code"),
    "tests_fail": ("passed", "tests_failed"),
    "no_assertion_runs": ("passed", "tests_ran_none"),
    "crashes": ("ran", "failed_error"),
    "stub_refuses": ("ran", "failed_api"),
    "no_tests": ("parsed", "no_tests_section"),
    "truncated": ("parsed", "truncated"),
    "second_pass": ("kept", "same_instruction"),
}


def api_for_test() -> ApiSet:
    strings = read_markdown_docs([BUNDLED_DOCS / "string.md"], name="part")
    entries = [e for e in strings if e.name in CALLS]
    entries.append(
        ApiEntry(
            name="game.score",
            kind="function",
            module="game",
            signature="game.score(points)",
            params=[Param("points", "integer")],
            returns=[Return("integer", "total")],
            description="Adds `points` to the player's score and returns the new total.",
        )
    )
    return ApiSet("synthesis-test", entries)


def response(case: str, entries: list[str]) -> tuple:
    calls = ", ".join(CALLS[e] for e in entries)
    code = f"local function combine(s)\n  return {{{calls}}}\nend"
    tests = f'local out = combine("ab")\nassert(#out == {len(entries)})\nassert(type(out[1]) == "string")'
    if case == "undocumented":
        code = code.replace("  return", '  local parts = string.split(s, ",")\n  return')
    elif case == "arity":
        code = code.replace("  return", "  local n = string.rep(s)\n  return")
    elif case == "misses_drawn":
        code = "local function combine(s)\n  return {#s}\nend"
        tests = 'assert(#combine("ab") == 1)'
    elif case == "ignores_code":
        tests = "assert(1 + 1 == 2)"
    elif case == "tests_fail":
        tests = tests.replace(f"#out == {len(entries)}", "#out == 99")
    elif case == "no_assertion_runs":
        tests = f"if false then\n{tests}\nend\nlocal _ = combine"
    elif case == "crashes":
        code += '\nerror("boom")'
    elif case == "stub_refuses":
        code += '\nlocal _ = game.score("lots")'
    if case == "truncated":
        return ("length", "Explain")
    text = f"Build the values in a table.\n\n```lua\n{code}\n```\n\n[Tests]\n```lua\n{tests}\n```\n"
    if case == "no_tests":
        text = text.replace("[Tests]\n", "")
    return ("ok", text)


def drawn_entries(query: str) -> list[str]:
    return re.findall(r"^- `([\w.]+)\(", query, flags=re.M)


def key_of(query: str) -> tuple[str, str]:
    if query.startswith("### API"):
        return ("E->I", "|".join(drawn_entries(query)))
    return ("EI->R", query.split("\n\n", 1)[0])


def script(key, attempt: int, query: str):
    mode, what = key
    if mode == "E->I":
        names = drawn_entries(query)
        return ("ok", f"Task {attempt} with {' and '.join(names)}: return their results for s in a table.")
    return response(list(CASES)[attempt], drawn_entries(query))


@pytest.fixture
def server():
    server = ScriptedServer(script, key_of)
    yield server
    server.close()


def teacher_of(server: ScriptedServer) -> ServerTeacher:
    return ServerTeacher(ServerSettings(model="scripted", base_url=server.url, api_style="chat", concurrency=1))


def synthesis_config(tmp_path, **extra):
    values = {
        "output_dir": str(tmp_path),
        "synthesis.items": 4,
        "synthesis.samples": len(CASES),
        "synthesis.num_fewshots": 1,
        "synthesis.sizes": [0.5, 0.5, 0],
        "chat.eval_prompts": 4,
        **extra,
    }
    return load_data_config(None, values)


def test_every_filter_on_purpose_made_responses_and_the_funnel_in_the_card(server, tmp_path):
    api = api_for_test()
    config = synthesis_config(tmp_path)
    summary = synthesize(api, config, teacher_of(server), coverage_rows=[])
    out = tmp_path / "synth"
    kept, rejects = read_jsonl(out / "kept.jsonl"), read_jsonl(out / "rejects.jsonl")
    # every response's outcome is its case's
    outcome = {r["id"]: (r["stage"], r["reason"]) for r in rejects} | {r["id"]: None for r in kept}
    assert len(outcome) == 4 * len(CASES)
    for unit_id, got in outcome.items():
        case = list(CASES)[int(unit_id.rsplit("/", 1)[1])]
        assert got == CASES[case], (unit_id, case, got, next((r["detail"] for r in rejects if r["id"] == unit_id), ""))
    # the funnel: responses that passed each stage, counted from the cases
    expected, left = {"generated": 4 * len(CASES)}, 4 * len(CASES)
    for stage in STAGES[1:]:
        left -= 4 * sum(1 for v in CASES.values() if v is not None and v[0] == stage)
        expected[stage] = left
    assert summary["funnel"] == expected and expected["kept"] == 4
    card = (out / "README.md").read_text()
    for stage in STAGES:
        assert re.search(rf"\| {stage} \| {expected[stage]} \|", card), stage
    assert f"generated {expected['generated']} = kept 4 + rejected {expected['generated'] - 4}" in card
    assert json.loads((out / "funnel.json").read_text())["funnel"] == expected
    # the kept rows are chat rows that call the drawn entries, with their tests
    chat = read_jsonl(out / "chat.jsonl")
    assert len(chat) == 4 and {r["source"] for r in chat} == {"synthesized"}
    for row in chat:
        assert row["messages"][0]["content"].startswith("Task 0 with")
        assert all(CALLS[e].split("(")[0] in row["messages"][1]["content"] for e in row["entries"])
        assert "assert(#out ==" in row["messages"][1]["content"]
    assert summary["entries_kept"] == len({e for r in chat for e in r["entries"]})


def test_a_second_run_continues_and_asks_nothing_again(server, tmp_path):
    api = api_for_test()
    config = synthesis_config(tmp_path, **{"synthesis.items": 2})
    first = synthesize(api, config, teacher_of(server), coverage_rows=[])
    asked = len(server.log)
    assert asked == 2 + 2 * len(CASES) + 2 * 0  # instructions, then responses (a truncation is final, not retried)
    again = synthesize(api, config, teacher_of(server), coverage_rows=[], resume=True)
    assert len(server.log) == asked and again["funnel"] == first["funnel"]
    from luacoder.selfinstruct.run_log import OutputExists

    with pytest.raises(OutputExists):
        synthesize(api, config, teacher_of(server), coverage_rows=[])


def test_an_eval_prompt_shared_by_an_instruction_is_contamination(tmp_path):
    def contaminated(key, attempt, query):
        if key[0] == "E->I":
            return ("ok", "Please write a short Lua example that can repeat a string: return the table for s.")
        return response("passes", drawn_entries(query))

    server = ScriptedServer(contaminated, key_of)
    try:
        natural = tmp_path / "natural.txt"  # another eval set (decontam_prompts), one prompt a line
        natural.write_text("Please write a short Lua example that can repeat a string\n")
        config = synthesis_config(
            tmp_path, **{"synthesis.samples": 1, "synthesis.items": 2, "decontam_prompts": [str(natural)]}
        )
        teacher = ServerTeacher(ServerSettings(model="scripted", base_url=server.url, api_style="chat"))
        summary = synthesize(api_for_test(), config, teacher, coverage_rows=[])
    finally:
        server.close()
    assert summary["funnel"]["passed"] == 2 and summary["funnel"]["kept"] == 0
    assert summary["reasons"]["kept"] == {"contaminated": 2}


def test_draws_favour_uncovered_and_missed_entries_and_grow_into_combinations(tmp_path):
    api = read_markdown_docs([BUNDLED_DOCS / "string.md", BUNDLED_DOCS / "table.md"], name="part")
    assert sizes_of(10, [0.5, 0.3, 0.2]) == [1] * 5 + [2] * 3 + [3] * 2
    items = draw_items(api, Counter(), None, 40, seed=1)
    assert items == draw_items(api, Counter(), None, 40, seed=1)  # seeded
    assert [len(i["entries"]) for i in items] == [1] * 20 + [2] * 12 + [3] * 8
    assert all(len(set(i["entries"])) == len(i["entries"]) for i in items)
    assert all(i["cards"].count("\n- `") == len(i["entries"]) - 1 for i in items)
    # an entry covered by many rows is drawn less; one the checkpoint missed, more
    callable_names = sorted(e.name for e in api if e.kind in ("function", "method"))
    covered = Counter(dict.fromkeys(callable_names, 0) | {"string.format": 1000})
    report = tmp_path / "entries.csv"
    report.write_text(
        "entry,expected,called_correctly,hallucinated_instead,never_used\ntable.concat,10,0,6,4\n"
        "string.format,10,10,0,0\n"
    )
    weights = read_entry_report(report)
    assert weights["table.concat"].misses == 10
    many = draw_items(api, covered, weights, 300, sizes=[1], seed=2)
    counts = Counter(i["entries"][0] for i in many)
    others = [c for n, c in counts.items() if n != "table.concat"]
    assert counts.most_common(1)[0][0] == "table.concat" and counts["table.concat"] > 3 * sum(others) / len(others)
    assert counts["string.format"] <= 1  # covered by 1000 rows already
    (tmp_path / "bad.csv").write_text("entry,expected\nx,1\n")
    with pytest.raises(Exception, match="missing column"):
        read_entry_report(tmp_path / "bad.csv")


def test_coverage_counts_correct_calls_of_chat_answers():
    api = api_for_test()
    from luacoder.data.filters import ApiChecker

    rows = [
        {
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "```lua\nprint(string.rep('a', 2))\n```"},
            ]
        },
        {
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "```lua\nstring.rep('a')\nstring.upper('x')\n```"},
            ]
        },
    ]
    assert coverage_of(rows, ApiChecker(api)) == Counter({"string.rep": 1, "string.upper": 1})


def test_names_the_tests_must_use():
    code = "local M = {}\nfunction M.add(a, b) return a + b end\nlocal function twice(x) return 2 * x end\ncount = 0"
    assert defined_names(code) == {"M", "twice", "count"}
    assert {"M", "add"} <= used_names("assert(M.add(1, 2) == 3)")


def test_make_teacher_reads_a_url_self_or_a_folder(tiny_model_dir, tmp_path):
    server = ScriptedServer(lambda *a: ("ok", "x"), lambda q: q)
    try:
        teacher = make_teacher(server.url)
        assert isinstance(teacher, ServerTeacher) and teacher.settings.model == "scripted"
    finally:
        server.close()
    folder = tiny_model_dir("starcoder2")
    own = make_teacher("self", base_model=folder, backend="hf")
    assert isinstance(own, ModelTeacher) and own.path == str(folder.resolve())
    assert make_teacher(str(folder), backend="hf").describe() == {"kind": "model", "model": own.path, "backend": "hf"}
    with pytest.raises(ValueError, match="needs the base model"):
        make_teacher("self")
    # from the data config: the base model teaches itself unless a teacher is named
    config = load_data_config(None, {"synthesis.base_model": str(folder)})
    assert teacher_from_config(config, backend="hf").describe()["model"] == own.path
    with pytest.raises(ValueError, match="no teacher"):
        teacher_from_config(load_data_config(None, {}))
    with pytest.raises(ValueError, match="not a model folder"):
        make_teacher(str(tmp_path))


def test_replay_asks_the_model_in_this_process_and_writes_chat_rows(tokenizer, tmp_path):
    from test_selfinstruct_serve import save_short_answer_model

    from luacoder.data.replay import build_replay

    folder = tmp_path / "model"
    save_short_answer_model(tokenizer, folder)  # answers with a few words, then stops
    questions = tmp_path / "questions.txt"
    questions.write_text("# general questions\nWhat is a closure?\n\nWhy is the sky blue?\nWhat is JSON?\n")
    settings = {
        "output_dir": str(tmp_path / "out"),
        "replay.questions": str(questions),
        "replay.max_new_tokens": 24,
        "replay.temperature": 1.0,
    }
    config = load_data_config(None, settings)
    teacher = make_teacher("self", base_model=folder, backend="hf", batch_size=2)
    summary = build_replay(config, teacher)
    rows = read_jsonl(tmp_path / "out" / "replay" / "rows.jsonl")
    left_out = read_jsonl(tmp_path / "out" / "replay" / "answers.rejected.jsonl") if summary["rejected"] else []
    asked = ["What is a closure?", "Why is the sky blue?", "What is JSON?"]
    assert summary["questions"] == 3 and summary["complete"] and len(rows) == summary["rows"] >= 1
    assert sorted([r["messages"][0]["content"] for r in rows] + [r["question"] for r in left_out]) == sorted(asked)
    assert summary["rejected"] == dict(Counter(r["reason"] for r in left_out))
    assert set(summary["rejected"]) <= {"unparseable"}  # an answer that is only EOS is empty
    for row in rows:  # the words the short-answer model writes, in question order
        assert row["source"] == "replay" and re.fullmatch(
            r"(string|table|,|value|5|\s)+", row["messages"][1]["content"]
        )
    skipped = {r["question"] for r in left_out}
    assert [r["messages"][0]["content"] for r in rows] == [q for q in asked if q not in skipped]
    # seeded per question: the same answers again, in batches of another size
    build_replay(config, make_teacher("self", base_model=folder, backend="hf", batch_size=3), tmp_path / "b")
    assert read_jsonl(tmp_path / "b" / "rows.jsonl") == rows
