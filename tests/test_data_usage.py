"""Usages and stubs written from signatures, task phrases, and the call check every answer must pass."""

from __future__ import annotations

import pytest
from conftest import BUNDLED_DOCS

from luacoder.apidocs.markdown import read_markdown_docs
from luacoder.data.dialogues import DialogueWriter
from luacoder.data.filters import ApiChecker
from luacoder.data.phrasing import summary, task_phrase
from luacoder.data.usage import VARIANTS, UsageWriter, documented_literal, luacats_annotations, stubs


@pytest.fixture(scope="module")
def api():
    return read_markdown_docs([BUNDLED_DOCS], name="lua54")


@pytest.fixture(scope="module")
def writer(api):
    return UsageWriter(api)


@pytest.fixture(scope="module")
def checker(api):
    return ApiChecker(api)


def test_every_usage_calls_its_entry_with_a_documented_arity(api, writer, checker):
    written = 0
    for entry in api:
        if entry.kind not in ("function", "method"):
            continue
        for variant in VARIANTS:
            code = writer.usage(entry, variant)
            if code is None:
                continue
            written += 1
            assert checker.problems(code) == [], (entry.name, variant, code)
            assert entry.name in checker.api_calls(code), (entry.name, variant, code)
    callable_entries = sum(1 for e in api if e.kind in ("function", "method"))
    assert written >= callable_entries + 60  # every entry at least once, many twice or more


def test_usage_forms(api, writer):
    assert (
        writer.usage(api.get("string.rep"), "required") == 'local result = string.rep("hello world", 3)\nprint(result)'
    )
    assert (
        writer.usage(api.get("string.rep"), "method")
        == 'local s = "hello world"\nlocal result = s:rep(3)\nprint(result)'
    )
    assert writer.usage(api.get("string.rep"), "optional") == (
        'local result = string.rep("hello world", 3, ", ")\nprint(result)'
    )
    # a method's receiver comes from the entry that documents returning its type
    assert writer.usage(api.get("file:read"), "required") == (
        'local file = io.open("data.txt")\nlocal result = file:read()\nprint(result)'
    )
    assert writer.usage(api.get("file:read"), "method") is None
    # a documented literal beats a guess: setvbuf's mode lists "no", "full", "line"
    assert writer.usage(api.get("file:setvbuf"), "required").splitlines()[1] == 'local result = file:setvbuf("no")'
    assert writer.usage(api.get("math.pi"), "required") == "print(math.pi)"
    assert writer.usage(api.get("__index"), "required") is None
    assert writer.usage(api.get("string.gmatch"), "required") == (
        'for item in string.gmatch("hello world", "%a+") do\n  print(item)\nend'
    )


def test_combined_usage_passes_the_first_result_on(api, writer, checker):
    code = writer.combined(api.get("string.upper"), api.get("string.rep"))
    assert code == (
        'local result = string.upper("hello world")\nlocal result2 = string.rep(result, 3)\nprint(result2)'
    )
    assert checker.api_calls(code) == ["print", "string.rep", "string.upper"]


def test_stub_is_luacats_over_a_call(api, writer):
    text = stubs(api.get("string.find"), writer)[0]  # the first documented form
    lines = text.splitlines()
    assert lines[0] == "---string.find(s, pattern [, init [, plain]])"
    assert lines[1] == "---@param s string the string to search."
    assert lines[3].startswith("---@param init? integer ")
    assert lines[4].startswith("---@param plain? boolean ")
    assert lines[5].startswith("---@return integer|nil ")
    assert lines[7].startswith("---@return string|integer ... ")
    assert lines[8] == 'local n, n2, rest = string.find("hello world", "%a+")'
    assert luacats_annotations(api.get("string.byte")) == [
        "---@param s string the string to read.",
        "---@param i? integer first byte position; default `1`.",
        "---@param j? integer last byte position; default `i`.",
        "---@return integer ... the code of each byte in the range, in order.",
    ]
    assert documented_literal(api.get("file:seek").params[0]) == '"set"'


def test_task_phrases_and_summaries(api):
    assert task_phrase(api.get("string.rep")) == "get a string made of `n` copies of `s`"
    assert task_phrase(api.get("io.open")) == "open a file and get a new handle for it"
    assert task_phrase(api.get("os.rename")) == "rename the file or directory `oldname` to `newname`"
    assert task_phrase(api.get("io.input")) == "set or query the default input file"
    assert task_phrase(api.get("collectgarbage")) is None  # "The single entry point ..." is not a verb phrase
    assert task_phrase(api.get("__index")) is None
    assert summary(api.get("math.pi")) == "The float closest to the ratio of a circle's circumference to its diameter."


def test_call_check_messages(checker):
    assert checker.problems('print(string.rep("ab"))') == ["1: string.rep takes 2-3 arguments, got 1"]
    assert checker.problems("local s = 'x'\nprint(s:rep(2))") == []
    assert checker.problems("print(string.trim(' x '))")[0].startswith("1: string.trim is not documented")
    assert checker.problems("print(")[0].startswith("syntax error at")
    assert checker.problems("") == ["no code"]


def test_broken_calls_fail_the_check_and_name_the_problem(api, writer, checker):
    dw = DialogueWriter(writer, {})
    bad, what = dw.broken_call(api.get("string.rep"))
    assert what == "missing" and bad == 'string.rep("hello world")'
    assert checker.problems(bad)
    bad, what = dw.broken_call(api.get("math.sqrt"))
    assert bad in ("math.sqrt()", 'math.sqrt(0.5, "extra")')
    assert checker.problems(bad)
    assert dw.broken_call(api.get("print")) is None  # nothing is wrong with any number of arguments
