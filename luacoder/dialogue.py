"""The dialogue: chat rows, their roles and the template that formats them.

Chat rows are `{"messages": [{"role", "content"}, ...]}`, the schema of StarChat and the original LuaCoder;
prompt/completion rows are converted to it (`to_messages`), every row validated: known roles, text content, at
least one user turn followed by an assistant answer.

The template: `<|system|>`, `<|user|>`, `<|assistant|>` turns, each closed by `<|end|>`.

It is stored as the tokenizer's Jinja `chat_template`, so `apply_chat_template`, vLLM and other servers format
prompts exactly as training did. The assistant's content and its `<|end|>` sit inside `{% generation %}` so that
`return_assistant_tokens_mask=True` marks exactly the tokens that are trained.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from luacoder.errors import UserError

SYSTEM, USER, ASSISTANT, END = "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"
DIALOGUE_TOKENS = [SYSTEM, USER, ASSISTANT, END]
ROLES = ("system", "user", "assistant")

FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX, FIM_PAD = "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>"
FIM_TOKENS = [FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX, FIM_PAD]

EOS = "<|endoftext|>"

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('unknown role ' + message['role'] + ': expected system, user or assistant') }}"
    "{% endif %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|assistant|>\\n' }}{% generation %}{{ message['content'] + '<|end|>' }}{% endgeneration %}{{ '\\n' }}"
    "{% else %}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)


def chat_messages(
    prompt: str, system_prompt: str | None = None, history: Sequence[dict[str, str]] = ()
) -> list[dict[str, str]]:
    """The conversation for one turn: the system prompt (if any), earlier user/assistant turns, then `prompt`."""
    system = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return [*system, *history, {"role": "user", "content": prompt}]


class ChatRowError(UserError, ValueError):
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
