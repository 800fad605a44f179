"""The demo's chat conversations, for the benchmarks: what `luacoder build-chat --config data/config.yaml` builds
from the bundled Lua 5.4 docs (the data builders' dialogues, filtered, deduplicated and split), made in a temporary
folder so that no benchmark depends on what happens to be under outputs/."""

from __future__ import annotations

import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUNDLED_DOCS = REPO / "data" / "docs" / "lua54"


def demo_conversations(execute: bool = False) -> list[dict]:
    """The train split's {"messages": [...]} rows (about 2,400). `execute` runs the answers' code in the sandbox
    as the demo does (slower; the dialogues are the same ones minus those whose code fails)."""
    from luacoder.apidocs.markdown import read_markdown_docs
    from luacoder.data.chat import build_chat
    from luacoder.data.config import load_data_config

    api = read_markdown_docs([BUNDLED_DOCS], name="lua54")
    with tempfile.TemporaryDirectory(prefix="demo-chat-") as tmp:
        config = load_data_config(REPO / "data" / "config.yaml", [f"--output_dir={tmp}", f"--chat.execute={execute}"])
        rows = build_chat(api, config, tmp).splits["train"]
    return [{"messages": row["messages"]} for row in rows]
