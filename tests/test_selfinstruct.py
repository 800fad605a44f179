"""Self-instruct against a scripted OpenAI-compatible server: exact counts of kept items, of each reject reason and
of retries; kill and continue; fingerprints; the few-shot files; the execution filter.

The scripted server answers each request from a script keyed by the item the request is about (a `case.NAME` in
the query) and the attempt number, so the outcome of every item is known in advance whatever the concurrency. The
real server (`transformers serve` with a tiny model) is exercised in test_selfinstruct_serve.py.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import REPO
from scripted_server import Action, ScriptedServer

from luacoder.apidocs.schema import ApiEntry, ApiSet, save_api
from luacoder.cli import main
from luacoder.files import RowError
from luacoder.selfinstruct.client import ServerConfigError, ServerSettings
from luacoder.selfinstruct.prompts import MODES, PromptFileError, default_prompt_file, load_prompt_file
from luacoder.selfinstruct.response_filter import FilterConfig, filter_rows, run_filter, split_response
from luacoder.selfinstruct.run_log import FingerprintMismatch, OutputExists, RunLog, read_log
from luacoder.selfinstruct.runner import ServerUnavailable
from luacoder.selfinstruct.stages import GenerationConfig, normalize_mode, run_stage, stage_paths
from luacoder.selfinstruct.teachers import ServerTeacher

# The script


def case_key(query: str) -> tuple[str, str]:
    """(mode, case name) of a self-instruct request."""
    mode = next(m for m, (_, name, _) in MODES.items() if f"### {name}\n" in query)
    found = re.search(r"case\.(\w+)", query)
    return mode, found.group(1) if found else "?"


PASSING = """Count the runs of letters with `string.gmatch`.

```lua
local function count_words(s)
  local n = 0
  for _ in s:gmatch("%a+") do
    n = n + 1
  end
  return n
end
```

[Tests]
```lua
assert(count_words("a b c") == 3)
assert(count_words("") == 0)
```

Some chatter after the tests that is not part of the answer.
"""
RESPONSES = {
    "failing": PASSING.replace("== 3", "== 4"),
    "syntax": PASSING.replace("local function count_words(s)", "local function count_words(s"),
    "notests": PASSING.replace("[Tests]\n", ""),
    "todo": PASSING.replace("  local n = 0", "  local n = 0 -- TODO: count digits too"),
}
# Outcomes of S->C by case (C->I and I->R answer every case at once).
S_TO_C = {
    "flaky": [("status", 500)],  # then ok: kept after one retry
    "slow": [("sleep", 1.5)],  # longer than the client's timeout: kept after one retry
    "badjson": [("badjson",)] * 9,  # rejected: malformed, after all retries
    "html": [("html",)] * 9,  # rejected: malformed
    "empty": [("empty",)] * 9,  # rejected: empty_choices
    "truncated": [("length", "pattern matching, tab")],  # rejected: truncated, no retry
    "nonsense": [("ok", "\n\n")],  # rejected: unparseable
    "badrequest": [("status", 400)],  # rejected for now (retryable), kept on --continue
}
CASES = ["ok", *S_TO_C, "failing", "syntax", "notests", "todo", "dup"]


def script(key: tuple[str, str], attempt: int, query: str) -> Action:
    mode, key = key
    if mode == "S->C":
        planned = S_TO_C.get(key, [])
        return planned[attempt] if attempt < len(planned) else ("ok", "pattern matching with string.gmatch, tables")
    if mode == "C->I":
        same_as = "ok" if key == "dup" else key  # a duplicate instruction
        return ("ok", f"Write a Lua function count_words(s) for case.{same_as} that counts the words of s.")
    return ("ok", RESPONSES.get(key, PASSING))


def case_api(names: list[str]) -> ApiSet:
    return ApiSet(
        "cases",
        [
            ApiEntry(
                name=f"case.{n}", kind="function", module="case", signature=f"case.{n}()", examples=[f"case.{n}()"]
            )
            for n in names
        ],
    )


@pytest.fixture
def scripted():
    server = ScriptedServer(script, case_key)
    yield server
    server.close()


def settings_for(server: ScriptedServer, **overrides) -> ServerTeacher:
    values = dict(model="scripted", base_url=server.url, timeout=0.5, max_retries=2, backoff=0.01, concurrency=4)
    values.update(overrides)
    return ServerTeacher(ServerSettings(**values))


FAST = GenerationConfig(num_fewshots=1, max_tokens=64)

# ---------------------------------------------------------------------------------------------------------------
# End to end, with exact counts


@pytest.mark.slow
def test_every_mode_end_to_end_with_exact_counts(scripted, tmp_path):
    out = tmp_path / "out"
    server = settings_for(scripted)
    first = run_stage("S->C", out, server, FAST, api=case_api(CASES))
    assert first["units"] == len(CASES) == 14
    assert first["kept"] == 8
    assert first["rejected"] == {"empty_choices": 1, "malformed": 2, "truncated": 1, "unparseable": 1}
    assert first["retry_later"] == {"bad_request": 1}
    assert first["complete"] is False
    # flaky and slow: one retry each; badjson, html, empty: max_retries each.
    assert first["this_run"]["retries"] == 1 + 1 + 3 * 2
    assert scripted.hits[("S->C", "badjson")] == 3 and scripted.hits[("S->C", "truncated")] == 1

    kept_path, rejected_path, summary_path = stage_paths(out, "S->C")
    kept, rejected = read_log(kept_path), read_log(rejected_path)
    assert {r["fingerprint"] for r in kept + rejected} == {first["fingerprint"]}
    assert json.loads(summary_path.read_text())["fingerprint"] == first["fingerprint"]
    flaky = next(r for r in kept if r["api"] == "case.flaky")
    assert flaky["attempts"] == 2 and flaky["concepts"] == ["pattern matching with string.gmatch", "tables"]
    truncated = next(r for r in rejected if r["api"] == "case.truncated")
    assert truncated["text"] == "pattern matching, tab" and truncated["retryable"] is False
    # Rows are in the input order, whatever order the answers came back in.
    expected = ["ok", "flaky", "slow", "failing", "syntax", "notests", "todo", "dup"]
    assert [r["api"] for r in kept] == [f"case.{n}" for n in expected]

    # --continue asks again only what the server never answered (the 400), and then the run is complete.
    asked_before = len(scripted.log)
    again = run_stage("S->C", out, server, FAST, api=case_api(CASES), resume=True)
    assert scripted.log[asked_before:] == [("S->C", "badrequest")]
    assert again["kept"] == 9 and again["retry_later"] == {} and again["complete"] is True
    assert again["this_run"]["skipped"] == 13 and again["this_run"]["kept"] == 1
    assert len(read_log(kept_path)) == 9 and len(read_log(rejected_path)) == 5  # the retryable row is gone

    for mode in ("C->I", "I->R"):
        summary = run_stage(mode, out, server, FAST)
        assert summary["units"] == summary["kept"] == 9 and summary["complete"]
    responses = read_log(stage_paths(out, "I->R")[0])
    assert responses[0]["concepts"] and responses[0]["instruction"] and responses[0]["property"]["api"] == "case.ok"

    result = run_filter(out)
    assert result["input"] == 9 and result["kept"] == 4
    assert result["rejected"] == {
        "duplicate_instruction": 1,
        "failed_error": 1,
        "failed_syntax": 1,
        "incomplete": 1,
        "no_tests_section": 1,
    }
    chat = [json.loads(line) for line in (out / "chat.jsonl").read_text().splitlines()]
    assert [row["id"] for row in chat] == ["case.ok#1", "case.flaky#1", "case.slow#1", "case.badrequest#1"]
    answer = chat[0]["messages"][1]["content"]
    assert chat[0]["messages"][0]["role"] == "user" and "count_words" in chat[0]["messages"][0]["content"]
    assert "[Tests]" not in answer and 'assert(count_words("a b c") == 3)' in answer and "chatter" not in answer

    # The chat rows load as deepspeed/chat's training data.
    from luacoder.train.datasets import load_chat_dataset

    assert len(load_chat_dataset(str(out / "chat.jsonl"))) == 4


@pytest.mark.slow
def test_chat_api_style_sends_the_examples_as_turns(scripted, tmp_path):
    server = settings_for(scripted, api_style="chat")
    summary = run_stage("S->C", tmp_path, server, GenerationConfig(num_fewshots=2), api=case_api(["ok", "flaky"]))
    assert summary["kept"] == 2 and summary["this_run"]["retries"] == 1
    assert summary["settings"]["api_style"] == "chat"


@pytest.mark.slow
def test_samples_get_their_own_ids_and_seeds_and_do_not_depend_on_concurrency(scripted, tmp_path):
    config = GenerationConfig(num_fewshots=2, samples=3, max_tokens=64)
    api = case_api(["ok", "dup"])
    one = run_stage("S->C", tmp_path / "one", settings_for(scripted, concurrency=1), config, api=api)
    many = run_stage("S->C", tmp_path / "many", settings_for(scripted, concurrency=6), config, api=api)
    rows_one = read_log(stage_paths(tmp_path / "one", "S->C")[0])
    rows_many = read_log(stage_paths(tmp_path / "many", "S->C")[0])
    assert [r["id"] for r in rows_one] == [
        "case.ok#1/0",
        "case.ok#1/1",
        "case.ok#1/2",
        "case.dup#1/0",
        "case.dup#1/1",
        "case.dup#1/2",
    ]
    assert rows_one == rows_many and one["fingerprint"] == many["fingerprint"]
    assert len({r["seed"] for r in rows_one}) == 6


def test_a_server_that_refuses_the_model_ends_the_run_with_its_message(tmp_path):
    server = ScriptedServer(lambda key, attempt, query: ("status", 404), case_key)
    try:
        with pytest.raises(ServerConfigError, match="refused model 'scripted' \\(404\\)"):
            run_stage("S->C", tmp_path, settings_for(server), FAST, api=case_api(["ok", "flaky"]))
    finally:
        server.close()


def test_an_unreachable_server_stops_the_run_and_continue_finishes_it(tmp_path):
    api = case_api([f"n{i}" for i in range(6)])
    dead = ServerTeacher(
        ServerSettings(model="scripted", base_url="http://127.0.0.1:9/v1", timeout=2, max_retries=1, backoff=0.01)
    )
    with pytest.raises(ServerUnavailable, match="3 requests in a row got no answer"):
        run_stage("S->C", tmp_path, dead, FAST, api=api, max_consecutive_failures=3)
    summary = json.loads(stage_paths(tmp_path, "S->C")[2].read_text())
    assert summary["complete"] is False and summary["kept"] == 0
    asked = sum(summary["retry_later"].values())
    assert asked >= 3 and asked + summary["not_asked"] == 6

    server = ScriptedServer(script, case_key)
    try:
        done = run_stage("S->C", tmp_path, settings_for(server), FAST, api=api, resume=True)
    finally:
        server.close()
    assert done["kept"] == 6 and done["complete"] and done["this_run"]["skipped"] == 0
    assert sorted(Counter(key for _, key in server.log).values()) == [1] * 6


def test_continue_refuses_other_settings_and_a_new_run_refuses_old_output(scripted, tmp_path):
    api = case_api(["ok"])
    run_stage("S->C", tmp_path, settings_for(scripted), FAST, api=api)
    with pytest.raises(OutputExists, match="pass --continue"):
        run_stage("S->C", tmp_path, settings_for(scripted), FAST, api=api)
    hotter = GenerationConfig(num_fewshots=1, max_tokens=64, temperature=1.0)
    with pytest.raises(FingerprintMismatch, match="fingerprint"):
        run_stage("S->C", tmp_path, settings_for(scripted), hotter, api=api, resume=True)
    edited = tmp_path / "s_to_c.txt"
    edited.write_text(default_prompt_file("S->C").read_text() + "\n")
    with pytest.raises(FingerprintMismatch):
        config = GenerationConfig(num_fewshots=1, max_tokens=64, prompt_file=str(edited))
        run_stage("S->C", tmp_path, settings_for(scripted), config, api=api, resume=True)
    # The same settings: nothing is asked again.
    asked = len(scripted.log)
    same = run_stage("S->C", tmp_path, settings_for(scripted), FAST, api=api, resume=True)
    assert same["this_run"]["skipped"] == 1 and same["complete"] and len(scripted.log) == asked


def test_limit_is_not_in_the_fingerprint_so_a_trial_run_can_be_extended(scripted, tmp_path):
    api = case_api(["ok", "flaky", "slow", "dup"])
    trial = run_stage("S->C", tmp_path, settings_for(scripted), GenerationConfig(num_fewshots=1, limit=2), api=api)
    assert trial["units"] == 2 and trial["kept"] == 2
    full = run_stage("S->C", tmp_path, settings_for(scripted), GenerationConfig(num_fewshots=1), api=api, resume=True)
    assert full["fingerprint"] == trial["fingerprint"]
    assert full["units"] == full["kept"] == 4 and full["this_run"]["skipped"] == 2


# ---------------------------------------------------------------------------------------------------------------
# Kill and continue


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        rc = main(list(argv))
    except SystemExit as exc:
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.slow
def test_a_killed_run_continues_without_repeating_or_losing_an_item(tmp_path, capsys):
    names = [f"n{i:02d}" for i in range(16)]

    def slow_script(key, attempt, query):
        time.sleep(0.25)
        return ("ok", f"concept of {key[1]}, tables")

    server = ScriptedServer(slow_script, case_key)
    api_path = tmp_path / "api.json"
    save_api(case_api(names), api_path)
    out = tmp_path / "out"
    argv = ["self-instruct", "--mode", "S->C", "--api_path", str(api_path), "-o", str(out), "--teacher_model", "m"]
    argv += ["--num_fewshots", "1", "--concurrency", "2", "--base_url", server.url]
    kept_path = stage_paths(out, "S->C")[0]
    env = {**os.environ, "OPENAI_API_KEY": "test"}
    try:
        process = subprocess.Popen([sys.executable, "-m", "luacoder.cli", *argv], env=env, cwd=REPO)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not kept_path.exists() or kept_path.read_text().count("\n") < 4):
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert kept_path.read_text().count("\n") >= 4, "the run did not get going"
        with open(kept_path, "a") as handle:  # what a kill in the middle of a write leaves
            handle.write('{"id": "n99#1", "api": "ca')
        rows_before = [json.loads(line) for line in kept_path.read_text().splitlines()[:-1]]
        done_before = {r["id"] for r in rows_before}
        assert len(done_before) < len(names)
        asked_before = len(server.log)

        rc, out_text, err = run_cli(capsys, *argv, "--continue")
    finally:
        server.close()
    assert rc == 0, err
    rows = read_log(kept_path)
    assert sorted(r["id"] for r in rows) == sorted(f"case.{n}#1" for n in names)  # none lost, none twice
    asked_again = [f"case.{name}#1" for _, name in server.log[asked_before:]]
    assert sorted(asked_again) == sorted({f"case.{n}#1" for n in names} - done_before)  # only what was missing
    summary = json.loads(stage_paths(out, "S->C")[2].read_text())
    assert summary["complete"] and summary["kept"] == 16 and summary["this_run"]["skipped"] == len(done_before)


# ---------------------------------------------------------------------------------------------------------------
# The run log


def test_run_log_drops_a_torn_last_line_and_keeps_the_rest(tmp_path):
    kept, rejected = tmp_path / "k.jsonl", tmp_path / "r.jsonl"
    with RunLog(kept, rejected, "fp", resume=False) as log:
        log.add({"id": "a", "x": 1}, kept=True)
        log.add({"id": "b", "reason": "timeout", "retryable": True}, kept=False)
        log.add({"id": "c", "reason": "truncated"}, kept=False)
    with open(kept, "ab") as handle:
        handle.write(b'{"id": "d", "x"')
    with RunLog(kept, rejected, "fp", resume=True) as log:
        assert log.done == {"a", "c"} and [r["id"] for r in log.rejected] == ["c"]
    assert kept.read_text() == '{"id": "a", "x": 1, "fingerprint": "fp"}\n'
    assert [json.loads(line)["id"] for line in rejected.read_text().splitlines()] == ["c"]


def test_run_log_refuses_a_malformed_middle_line_and_a_second_writer(tmp_path):
    kept, rejected = tmp_path / "k.jsonl", tmp_path / "r.jsonl"
    kept.write_text('{"id": "a", "fingerprint": "fp"}\nnot json\n{"id": "b", "fingerprint": "fp"}\n')
    with pytest.raises(RowError, match="k.jsonl:2: malformed JSON"):
        RunLog(kept, rejected, "fp", resume=True)
    kept.write_text("")
    with RunLog(kept, rejected, "fp", resume=True), pytest.raises(RuntimeError, match="another run is writing it"):
        RunLog(kept, rejected, "fp", resume=True)


# ---------------------------------------------------------------------------------------------------------------
# Few-shot prompt files


@pytest.mark.parametrize("mode", list(MODES))
def test_the_bundled_prompt_files_load_and_render(mode):
    import random

    prompt = load_prompt_file(default_prompt_file(mode), mode)
    assert len(prompt.examples) >= 4
    examples = prompt.pick(2, random.Random(0))
    text = prompt.completion_prompt("QUERY", examples)
    _, name_in, name_out = MODES[mode]
    assert text.startswith(prompt.system) and text.endswith(f"## Example 3\n### {name_in}\nQUERY\n\n### {name_out}\n")
    assert text.count("## Example") == 3
    messages = prompt.chat_messages("QUERY", examples)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]


def test_the_bundled_i_to_r_examples_pass_the_execution_filter():
    prompt = load_prompt_file(default_prompt_file("I->R"), "I->R")
    rows = [{"id": str(i), "instruction": e.input, "response": e.output} for i, e in enumerate(prompt.examples)]
    kept, rejected = filter_rows(rows, FilterConfig())
    assert rejected == [] and len(kept) == len(rows)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("### Example\n[Snippet]\nx\n[Concepts]\ny\n", "one '### System' section"),
        ("### System\nsys\n", "no '### Example' sections"),
        ("### System\nsys\n### Example\n[Concepts]\ny\n[Snippet]\nx\n", "[Snippet] then [Concepts]"),
        ("### System\nsys\n### Example\n[Snippet]\n\n[Concepts]\ny\n", "an empty [Snippet]"),
        ("### System\n\n### Example\n[Snippet]\nx\n[Concepts]\ny\n", "system text is empty"),
    ],
)
def test_a_broken_prompt_file_is_an_error_naming_the_file(tmp_path, text, message):
    path = tmp_path / "mine.txt"
    path.write_text(text)
    with pytest.raises(PromptFileError) as error:
        load_prompt_file(path, "S->C")
    assert str(path) in str(error.value) and message in str(error.value)


def test_modes_are_named_as_in_starcoder2_instruct_or_by_file_stem():
    assert normalize_mode("S->C") == normalize_mode("s_to_c") == "S->C"
    assert normalize_mode("i->r") == "I->R"
    with pytest.raises(ValueError, match="choose one of S->C, C->I, I->R"):
        normalize_mode("R->I")


# ---------------------------------------------------------------------------------------------------------------
# The execution filter


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        ("no tests here\n```lua\nprint(1)\n```", "no_tests_section"),
        ("x\n[Tests]\n```lua\nassert(true)\n```\n[Tests]\n```lua\nassert(true)\n```", "several_tests_sections"),
        ("just words\n[Tests]\n```lua\nassert(true)\n```", "no_code"),
        ("```lua\nlocal x = 1\n```\n[Tests]\nno code", "no_tests"),
        ("```lua\nlocal x = 1\n```\n[Tests]\n```lua\nprint(x)\n```", "tests_without_assert"),
    ],
)
def test_split_response_names_what_is_missing(response, reason):
    assert split_response(response)[0] == reason


def test_the_filter_runs_code_in_the_sandbox_and_counts_every_reason(tmp_path):
    def row(i, instruction, response):
        return {"id": f"r{i}", "instruction": instruction, "response": response}

    looping = PASSING.replace("  local n = 0", "  while true do end\n  local n = 0")
    escaping = PASSING.replace("  local n = 0", "  os.execute('touch /tmp/pwned')\n  local n = 0")
    rows = [
        row(0, "Count the words.", PASSING),
        row(1, "Count the words.", PASSING),  # the same instruction again
        row(2, "Count  the words.", PASSING),  # the same up to white space
        row(3, "Count the words of a string", looping),
        row(4, "Count words, then run a command", escaping),
        row(5, "Count words in a list of sentences and return the total number of words", PASSING),
        row(6, "Count words in a list of sentences and return the total number of the words", PASSING),
    ]
    kept, rejected = filter_rows(rows, FilterConfig(instructions=1_000_000, near_duplicate_threshold=0.5))
    assert [r["id"] for r in kept] == ["r0", "r5"]
    reasons = {r["id"]: r["reason"] for r in rejected}
    assert reasons == {
        "r1": "duplicate_instruction",
        "r2": "duplicate_instruction",
        "r3": "failed_instructions",
        "r4": "failed_error",
        "r6": "near_duplicate_instruction",
    }
    assert "not allowed" in next(r["detail"] for r in rejected if r["id"] == "r4")
    assert not Path("/tmp/pwned").exists()
    without_tests, _ = filter_rows(rows[:1], FilterConfig(keep_tests=False))
    assert "assert" not in without_tests[0]["response"] and "count_words" in without_tests[0]["response"]


def _add_response(code: str, tests: str = "assert(add(1, 2) == 3)\nassert(add(-1, 1) == 0)") -> dict:
    return {
        "id": "a",
        "instruction": "Add two numbers.",
        "response": f"```lua\n{code}\n```\n[Tests]\n```lua\n{tests}\n```",
    }


@pytest.mark.parametrize(
    ("code", "tests", "reason"),
    [
        # The answer replaces the assert (or error) its tests call: the tests still check with the real ones.
        ("assert = function() return true end\nfunction add(a, b) return a - b end", None, "failed_error"),
        ("local assert = function() end\nlocal function add(a, b) return a - b end", None, "failed_error"),
        ("_G.assert = print\nerror = print\nlocal function add(a, b) return a - b end", None, "failed_error"),
        # An answer that returns before its tests: no assertion ran.
        ("local function add(a, b) return a + b end\ndo return end", None, "tests_ran_none"),
        # Tests whose assertions sit in a function nobody calls.
        (
            "local function add(a, b) return a + b end",
            "local function check() assert(add(1, 2) == 3) end",
            "tests_ran_none",
        ),
        # Taking the tests' harness before the tests do breaks the run.
        ("local function add(a, b) return a + b end\nlocal h = (...)\nif h then h() end", None, "failed_error"),
        ("local function add(a, b) return a + b", None, "failed_syntax"),
    ],
    ids=["global-assert", "local-assert", "assert-and-error", "early-return", "uncalled", "stolen-harness", "syntax"],
)
def test_an_answer_cannot_fool_its_tests(code, tests, reason):
    row = _add_response(code, *([tests] if tests else []))
    kept, rejected = filter_rows([row], FilterConfig(instructions=1_000_000))
    assert not kept and rejected[0]["reason"] == reason, rejected


def test_an_honest_answer_passes_and_its_assert_calls_are_counted():
    code = "assert(type(1) == 'number')  -- the answer's own assert is fine\nlocal function add(a, b) return a + b end"
    kept, rejected = filter_rows([_add_response(code)], FilterConfig(instructions=1_000_000))
    assert not rejected and kept[0]["response"] == _add_response(code)["response"].replace("[Tests]\n", "\n")
    failing = _add_response(code, "assert(add(1, 2) == 3)\nassert(add(2, 2) == 5, 'two and two')")
    _, rejected = filter_rows([failing], FilterConfig(instructions=1_000_000))
    assert rejected[0]["reason"] == "failed_error" and "two and two" in rejected[0]["detail"], rejected


def test_the_filter_drops_rows_that_overlap_an_eval_prompt(tmp_path):
    rows = [
        {
            "id": "a",
            "instruction": "Write a function that counts the words of a string using gmatch.",
            "response": PASSING,
        },
        {"id": "b", "instruction": "Sort a list of players by score.", "response": PASSING},
    ]
    config = FilterConfig(
        eval_prompts=("Please write a function that counts the words of a string using gmatch",), ngram=6
    )
    kept, rejected = filter_rows(rows, config)
    assert [r["id"] for r in kept] == ["b"] and rejected[0]["reason"] == "contaminated"


def test_filter_command_writes_counts_that_add_up(tmp_path, capsys):
    rows = [
        {"id": f"x{i}", "instruction": f"Task number {i} about counting words", "response": r, "fingerprint": "f"}
        for i, r in enumerate([PASSING, RESPONSES["failing"], "nothing"])
    ]
    (tmp_path / "i_to_r.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    rc, out, err = run_cli(capsys, "self-instruct", "--mode", "filter", "-o", str(tmp_path), "--drop_tests")
    assert rc == 0, err
    summary = json.loads((tmp_path / "filter.summary.json").read_text())
    assert summary["input"] == 3 and summary["kept"] == 1
    assert summary["rejected"] == {"failed_error": 1, "no_tests_section": 1}
    assert summary["kept"] + sum(summary["rejected"].values()) == summary["input"]
    assert len((tmp_path / "chat.jsonl").read_text().splitlines()) == 1


def test_cli_errors_are_clear(tmp_path, capsys):
    rc, _, err = run_cli(capsys, "self-instruct", "--mode", "C->I", "-o", str(tmp_path), "--teacher_model", "m")
    assert rc == 2 and "s_to_c.jsonl: no such file; run the previous mode first" in err
    rc, _, err = run_cli(capsys, "self-instruct", "--mode", "S->C", "-o", str(tmp_path), "--teacher_model", "m")
    assert rc == 2 and "pass api.json (--api_path)" in err
    rc, _, err = run_cli(capsys, "self-instruct", "--mode", "S->C", "-o", str(tmp_path))
    assert rc == 2 and "--teacher_model is required" in err
