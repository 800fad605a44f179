"""Other conversation layouts, converted for import into the chat dataset (the chat row itself, `to_messages`, is
`luacoder.dialogue`): for imports, `convert_row` also reads Code Alpaca's
instruction/input/output and OpenAssistant-style `### Human:` / `### Assistant:` text. Every row is validated: known
roles, text content, at least one user turn followed by an assistant answer.
"""

from __future__ import annotations

import re
from typing import Any

from luacoder.dialogue import ChatRowError, to_messages

# ---------------------------------------------------------------------------------------------------------------
# Other conversation layouts, converted for import into the chat dataset

ROW_FORMATS = ("messages", "prompt_completion", "alpaca", "oasst")
_OASST_ROLES = {"human": "user", "user": "user", "assistant": "assistant", "system": "system"}
# Turns run on in one line in openassistant-guanaco ("### Human: hi### Assistant: hello"), so a marker is found
# anywhere; only the known speakers count, so that a Markdown heading in an answer ("### Example:") is text.
_OASST_MARKER = re.compile(r"###\s*(human|assistant|system|user)\s*:", re.IGNORECASE)
_ANY_MARKER = re.compile(r"^\s*###\s*([A-Za-z]+)\s*:")


def detect_format(row: dict[str, Any]) -> str | None:
    """The layout of a row by its columns, or None when no known layout fits."""
    if "messages" in row:
        return "messages"
    if "prompt" in row and "completion" in row:
        return "prompt_completion"
    if "instruction" in row and "output" in row:
        return "alpaca"
    if "text" in row:
        return "oasst"
    return None


def convert_row(row: dict[str, Any], fmt: str, where: str, system_prompt: str | None = None) -> list[dict[str, str]]:
    """A row in any known layout (`fmt`, or "auto" to detect it) as validated messages."""
    if not isinstance(row, dict):
        raise ChatRowError(f"{where}: expected an object, got {type(row).__name__}")
    # Parquet and hub datasets give every row every column, None where the row has no value.
    row = {k: v for k, v in row.items() if v is not None}
    if fmt == "auto":
        detected = detect_format(row)
        if detected is None:
            raise ChatRowError(
                f"{where}: missing columns: expected 'messages', 'prompt' and 'completion', 'instruction' and"
                f" 'output', or 'text'; the row has {sorted(row)}"
            )
        fmt = detected
    required = {
        "messages": ("messages",),
        "prompt_completion": ("prompt", "completion"),
        "alpaca": ("instruction", "output"),
        "oasst": ("text",),
    }[fmt]
    missing = [c for c in required if c not in row]
    if missing:
        raise ChatRowError(f"{where}: missing column(s) {missing} for the {fmt} layout; the row has {sorted(row)}")
    if fmt == "alpaca":
        row = {"messages": alpaca_messages(row, where)}
    elif fmt == "oasst":
        row = {"messages": oasst_messages(row["text"], where)}
    elif fmt == "prompt_completion":
        row = {"prompt": row["prompt"], "completion": row["completion"]}
    else:
        row = {"messages": row["messages"]}
    return to_messages(row, where, system_prompt)


def alpaca_messages(row: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """Code Alpaca's instruction, optional input and output as one user turn and one answer."""
    instruction, extra, output = row.get("instruction"), row.get("input") or "", row.get("output")
    for key, value in (("instruction", instruction), ("input", extra), ("output", output)):
        if not isinstance(value, str):
            raise ChatRowError(f"{where}: '{key}' must be text, got {type(value).__name__}")
    user = f"{instruction.strip()}\n\n{extra.strip()}" if extra.strip() else instruction
    return [{"role": "user", "content": user}, {"role": "assistant", "content": output}]


def oasst_messages(text: Any, where: str) -> list[dict[str, Any]]:
    """OpenAssistant-style text (`### Human: ... ### Assistant: ...`, as in openassistant-guanaco) as messages."""
    if not isinstance(text, str):
        raise ChatRowError(f"{where}: 'text' must be text, got {type(text).__name__}")
    markers = list(_OASST_MARKER.finditer(text))
    head = text[: markers[0].start()] if markers else text
    if head.strip():
        other = _ANY_MARKER.match(head)
        if other:
            raise ChatRowError(f"{where}: unknown speaker '### {other.group(1)}:'; expected Human or Assistant")
        if not markers:
            raise ChatRowError(f"{where}: no '### Human:' / '### Assistant:' turns in the text")
        raise ChatRowError(f"{where}: text before the first '### Human:' marker")
    messages = []
    for i, marker in enumerate(markers):
        speaker = marker.group(1).lower()
        end = markers[i + 1].start() if i + 1 < len(markers) else len(text)
        messages.append({"role": _OASST_ROLES[speaker], "content": text[marker.end() : end].strip()})
    return messages
