"""Open book: BM25 retrieval of documented entries, the prompt with their cards, the retriever's recall."""

from __future__ import annotations

import random
import time

import pytest
from conftest import BUNDLED_DOCS

from luacoder.apidocs import read_docs
from luacoder.apidocs.schema import ApiEntry, ApiSet, Param, Return
from luacoder.evaluation.prompts import EvalPrompt
from luacoder.evaluation.retrieval import CARDS_HEADER, Analyzer, ApiRetriever, open_book_prompt, retrieval_recall

QUESTIONS = [
    "How do I repeat a string several times?",
    "read a whole file into a string",
    "Sort a list of numbers in descending order",
    "get the current date and time",
    "Using string.gsub, write a short example.",
    "zzz qqq",  # no word of the docs
]


@pytest.fixture(scope="module")
def api():
    return read_docs([BUNDLED_DOCS]).api


@pytest.fixture(scope="module")
def retriever(api):
    return ApiRetriever(api)


def entry(name: str, description: str = "Does a thing.", **kw) -> ApiEntry:
    return ApiEntry(name, "function", name.rsplit(".", 1)[0], f"{name}()", description=description, **kw)


def test_retrieval_is_deterministic_for_a_fixed_index(api, retriever):
    shuffled = list(api)
    random.Random(3).shuffle(shuffled)
    other = ApiRetriever(ApiSet("shuffled", shuffled))
    for question in QUESTIONS:
        first = [e.name for e in retriever.search(question, 8)]
        assert first == [e.name for e in retriever.search(question, 8)]
        assert first == [e.name for e in other.search(question, 8)]
    assert retriever.search("zzz qqq", 5) == [] and retriever.search("string", 0) == []


def test_equal_scores_are_ordered_by_name():
    same = [entry(name, "Opens the gate.") for name in ("gate.zeta", "gate.alpha", "gate.mid")]
    assert [e.name for e in ApiRetriever(same).search("open the gate", 3)] == ["gate.alpha", "gate.mid", "gate.zeta"]


def test_names_are_found_by_their_words():
    api = [
        entry("uv.tcp_bind", params=[Param("addr", "string", description="the local address")]),
        entry("display.newRect"),
        entry("string.gsub"),
        entry("HTTPServer.listen"),
    ]
    retriever = ApiRetriever(api)
    assert retriever.search("bind a socket", 1)[0].name == "uv.tcp_bind"
    assert retriever.search("which address", 1)[0].name == "uv.tcp_bind"  # parameter descriptions count
    assert retriever.search("draw a rect", 1)[0].name == "display.newRect"
    assert retriever.search("gsub", 1)[0].name == "string.gsub"
    assert retriever.search("http server", 1)[0].name == "HTTPServer.listen"
    assert Analyzer()("string.gsub newRect tcp_bind splitting") == [
        "string.gsub",
        "string",
        "gsub",
        "new",
        "rect",
        "tcp",
        "bind",
        "split",
    ]


def test_natural_questions_find_their_entries(retriever):
    expected = {
        "How do I repeat a string several times?": "string.rep",
        "read a whole file into a string": "file:read",
        "Sort a list of numbers in descending order": "table.sort",
        "get the current date and time": "os.date",
        "join a list of strings with commas": "table.concat",
        "round a number down": "math.floor",
    }
    for question, name in expected.items():
        assert name in [e.name for e in retriever.search(question, 5)], question


def test_the_bundled_docs_index_in_well_under_a_second(api):
    start = time.perf_counter()
    ApiRetriever(api)
    assert time.perf_counter() - start < 0.5


def test_the_open_book_prompt_puts_cards_before_the_question(api):
    rep, read = api.get("string.rep"), api.get("file:read")
    prompt = open_book_prompt("Repeat ab three times.", [rep, read])
    assert prompt == (
        f"{CARDS_HEADER}\n"
        "- string.rep(s, n [, sep]) -> string: Returns a string made of `n` copies of `s`, with `sep` placed between"
        " neighbouring copies.\n"
        "- file:read(...) -> string|number|nil: Reads from the handle according to the given formats.\n"
        "\n"
        "Repeat ab three times."
    )
    assert open_book_prompt("Repeat ab three times.", []) == "Repeat ab three times."
    field = ApiEntry("math.pi", "field", "math", "math.pi", description="The float closest to pi. More.")
    returns = entry("a.b", "Makes one.", returns=[Return("integer"), Return("string")])
    assert open_book_prompt("q", [field, returns]).splitlines()[1:3] == [
        "- math.pi: The float closest to pi.",
        "- a.b() -> integer, string: Makes one.",
    ]


def test_recall_counts_expected_entries_in_the_top_k():
    api = [entry("m.alpha", "Opens the gate."), entry("m.beta", "Closes the door."), entry("m.gamma", "Feeds cats.")]
    retriever = ApiRetriever(api)
    prompts = [
        EvalPrompt("open the gate and feed the cats", ["m.alpha", "m.gamma"]),  # both found at k=2
        EvalPrompt("close the door", ["m.beta", "m.gamma"]),  # only m.beta found
        EvalPrompt("no expectation", []),  # counts for nothing
    ]
    assert retrieval_recall(retriever, prompts, k=2) == 3 / 4
    assert retrieval_recall(retriever, prompts, k=1) == 2 / 4
    assert retrieval_recall(retriever, [EvalPrompt("q", [])]) is None
