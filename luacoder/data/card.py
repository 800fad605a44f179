"""Dataset cards (`README.md` beside `train.jsonl`): sources, rows and tokens, filters and what each removed, seed."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from luacoder.data.ledger import Ledger


class TokenCounter:
    """Tokens per text: with a tokenizer (a folder or hub id) when one is given, else white-space separated words."""

    def __init__(self, tokenizer: str | None = None):
        self.tokenizer = None
        self.method = "white-space separated tokens (no tokenizer configured)"
        if tokenizer:
            from transformers import AutoTokenizer  # heavy, and only needed here

            self.tokenizer = AutoTokenizer.from_pretrained(tokenizer)
            self.method = f"tokens of the tokenizer `{tokenizer}`"

    def count(self, text: str) -> int:
        if self.tokenizer is None:
            return len(text.split())
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def count_messages(self, messages: list[dict[str, str]]) -> int:
        """A conversation as training formats it (the tokenizer's chat template), or its contents joined."""
        if self.tokenizer is not None and getattr(self.tokenizer, "chat_template", None):
            return len(self.tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"])
        return sum(self.count(m["content"]) for m in messages)


def markdown_table(rows: Iterable[dict[str, Any]]) -> str:
    rows = list(rows)
    if not rows:
        return "(none)\n"
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join(" --- " for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def counts_section(ledger: Ledger) -> str:
    """The ledger's table, its removal reasons, and the sum that must hold."""
    ledger.check()
    splits = " + ".join(f"{s} {ledger.total_kept(s)}" for s in sorted(ledger.kept))
    parts = [
        "## Counts\n",
        "Rows read per source, removed by each filter (in the order they run), kept per split:\n",
        markdown_table(ledger.table()),
        f"\nread {ledger.total_read} = removed {ledger.total_removed} + kept {ledger.total_kept()} ({splits}).\n",
        "\n### Why rows were removed\n",
        markdown_table(ledger.reasons()),
        "\nEvery removed row is in `rejects.jsonl` with its source, filter and reason.\n",
    ]
    return "\n".join(parts)
