"""Chat rows: `{"messages": [{"role", "content"}, ...]}`, the schema of StarChat and the original LuaCoder.

Prompt/completion rows (Code Alpaca style) are converted to it. Every row is validated: known roles, text content,
at least one user turn followed by an assistant answer.
"""

from __future__ import annotations

from typing import Any

from luacoder.train.chat_template import ROLES


class ChatRowError(ValueError):
    """A chat row cannot be used; the message says which row and why."""


def to_messages(row: dict[str, Any], where: str, system_prompt: str | None = None) -> list[dict[str, str]]:
    """The row's conversation as messages, with `system_prompt` first when the row has no system turn."""
    if "messages" in row:
        messages = row["messages"]
    elif "prompt" in row and "completion" in row:
        messages = [{"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": row["completion"]}]
    else:
        raise ChatRowError(f"{where}: expected 'messages' or 'prompt' and 'completion', got {sorted(row)}")
    if not isinstance(messages, list) or not messages:
        raise ChatRowError(f"{where}: empty conversation")
    clean = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            role = message.get("role") if isinstance(message, dict) else message
            raise ChatRowError(f"{where}: message {i} has unknown role {role!r}; expected one of {', '.join(ROLES)}")
        if not isinstance(message.get("content"), str) or not message["content"].strip():
            raise ChatRowError(f"{where}: message {i} ({message['role']}) has no text content")
        if message["role"] == "system" and i != 0:
            raise ChatRowError(f"{where}: message {i} is a system message; only the first message may be one")
        clean.append({"role": message["role"], "content": message["content"]})
    if system_prompt and clean[0]["role"] != "system":
        clean.insert(0, {"role": "system", "content": system_prompt})
    turns = [m["role"] for m in clean if m["role"] != "system"]
    if "user" not in turns or "assistant" not in turns:
        raise ChatRowError(f"{where}: a conversation needs a user turn and an assistant answer, got {turns}")
    return clean
