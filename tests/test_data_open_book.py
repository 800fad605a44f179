"""The chat builder's open-book rows (chat.open_book): retrieved cards before the question, holding the entries the
answer uses (or, for the rest, distractors only); the rest of each row is the closed-book row."""

from __future__ import annotations

import pytest
from conftest import BUNDLED_DOCS

from luacoder.apidocs.markdown import read_markdown_docs
from luacoder.config import ConfigError
from luacoder.data.chat import ORACLE_ROWS, build_chat, used_entries
from luacoder.data.config import load_data_config
from luacoder.data.filters import ApiChecker
from luacoder.evaluation.retrieval import CARDS_HEADER, card


@pytest.fixture(scope="module")
def api():
    return read_markdown_docs([BUNDLED_DOCS / "string.md", BUNDLED_DOCS / "table.md"], name="lua54-part")


def build(api, tmp_path_factory, **open_book):
    config = load_data_config(
        None,
        {
            "output_dir": str(tmp_path_factory.mktemp("chat")),
            "chat": {
                "dialogues_per_entry": 3,
                "combined_per_entry": 1,
                "execute": False,
                "eval_prompts": 6,
                "open_book": open_book,
            },
        },
    )
    return build_chat(api, config)


@pytest.fixture(scope="module")
def closed(api, tmp_path_factory):
    return build(api, tmp_path_factory)


def rows(result):
    return [r for split in ("train", "test") for r in result.splits[split]]


def split_cards(content: str) -> tuple[list[str], str]:
    """The card lines and the question of a user turn."""
    if not content.startswith(CARDS_HEADER + "\n"):
        return [], content
    head, question = content.split("\n\n", 1)
    return head.splitlines()[1:], question


@pytest.mark.parametrize("oracle", [1.0, 0.0])
def test_open_book_rows_hold_the_cards_of_the_entries_their_answers_use(api, tmp_path_factory, closed, oracle):
    result = build(api, tmp_path_factory, share=1.0, k=4, oracle=oracle)
    checker = ApiChecker(api)
    shown_used = 0
    for row, plain in zip(rows(result), rows(closed), strict=True):
        messages = row["messages"]
        cards, question = split_cards(messages[0]["content"])
        # The row is the closed-book row with cards before its first question.
        assert [{**messages[0], "content": question}, *messages[1:]] == plain["messages"]
        assert all(not m["content"].startswith(CARDS_HEADER) for m in messages[1:])
        used = [card(e) for e in used_entries(messages, api, checker)]
        assert used  # every generated answer uses its entry
        assert 1 <= len(cards) <= max(4, len(used)) and len(set(cards)) == len(cards)
        if oracle:
            assert set(used) <= set(cards), question
            shown_used += 1
        else:
            assert not set(used) & set(cards), question
    assert result.details["open_book"] == {"rows with cards": len(rows(result)), ORACLE_ROWS: shown_used}
    readme = (result.out_dir / "README.md").read_text()
    assert f"**open book**: {len(rows(result))} generated rows" in readme


def test_a_share_of_rows_get_cards_and_the_rest_stay_closed_book(api, tmp_path_factory, closed):
    result = build(api, tmp_path_factory, share=0.5, oracle=0.5)
    carded = [r for r in rows(result) if split_cards(r["messages"][0]["content"])[0]]
    counts = result.details["open_book"]
    assert counts["rows with cards"] == len(carded) and 0.35 < len(carded) / len(rows(result)) < 0.65
    assert 0.3 < counts[ORACLE_ROWS] / len(carded) < 0.7
    assert not closed.details["open_book"] and "open book" not in (closed.out_dir / "README.md").read_text()
    assert not any(r["messages"][0]["content"].startswith(CARDS_HEADER) for r in rows(closed))
    again = build(api, tmp_path_factory, share=0.5, oracle=0.5)
    assert rows(again) == rows(result)  # the same seed, the same cards


def test_open_book_settings_are_checked():
    config = load_data_config(None, ["--chat.open_book.share=0.25", "--chat.open_book.k=3"])
    assert (config.chat.open_book.share, config.chat.open_book.k, config.chat.open_book.oracle) == (0.25, 3, 0.8)
    assert config.to_dict()["chat"]["open_book"] == {"share": 0.25, "k": 3, "oracle": 0.8}
    with pytest.raises(ConfigError, match=r"chat.open_book.share must be in \[0, 1\], got 2.0"):
        load_data_config(None, ["--chat.open_book.share=2"])
    with pytest.raises(ConfigError, match="unknown key 'chat.open_book.shares'"):
        load_data_config(None, {"chat": {"open_book": {"shares": 0.5}}})
    with pytest.raises(ConfigError, match="chat.open_book.k must be at least 1"):
        load_data_config(None, {"chat": {"open_book": {"k": 0}}})
