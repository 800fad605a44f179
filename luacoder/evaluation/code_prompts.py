"""How eval asks a code checkpoint (report_type "code") a question, and which program it then grades.

A code model continues a Lua file, so a question is put to it in Lua, as the original toolkit's code playground
did: by default the question as `--` comment lines, then a newline (`DEFAULT_TEMPLATE`). The completion ends at the
first stop sequence (MultiPL-E's by default: a new top-level `local`, `function` or comment, or a blank line).

The graded program is prompt + completion only where the prompt is Lua itself: a comment, or the start of a
program such as `local function f(t)` (`is_lua_prefix`); a prompt in plain English would make every answer
"syntax invalid", so then the completion alone is graded.
"""

from __future__ import annotations

from functools import cache

from luacoder.evaluation.multipl_e import STOP_TOKENS

DEFAULT_TEMPLATE = "{comment}\n"
DEFAULT_STOP = list(STOP_TOKENS)
PLACEHOLDERS = ("{comment}", "{question}")


def check_template(template: str) -> None:
    if not any(p in template for p in PLACEHOLDERS):
        raise ValueError(f"code_template {template!r} has neither {{comment}} nor {{question}}: the question is lost")


def as_comment(question: str) -> str:
    """The question as Lua line comments: `-- ` before each line."""
    return "\n".join(f"-- {line}".rstrip() for line in question.strip("\n").split("\n"))


def code_prompt(question: str, template: str = DEFAULT_TEMPLATE) -> str:
    """The text a code checkpoint continues: {comment} is the question as `--` lines, {question} its own text."""
    return template.replace("{comment}", as_comment(question)).replace("{question}", question)


@cache
def _lua_load():
    from lupa import lua54

    # Compiling only: `load` turns text into a function without running it, so nothing of the prompt executes.
    return lua54.LuaRuntime(register_eval=False, register_builtins=False, unpack_returned_tuples=True).eval("load")


def is_lua_prefix(text: str) -> bool:
    """The text is Lua, or the start of a Lua program: it compiles, or fails only for want of more (Lua's own
    test, as its interactive interpreter uses: the error is at `<eof>`)."""
    loaded = _lua_load()(text.encode("utf-8"), b"=prompt", b"t")
    if not isinstance(loaded, tuple):  # the compiled function alone
        return True
    _, error = loaded
    message = error.decode("utf-8", errors="replace") if isinstance(error, bytes) else str(error)
    return message.endswith("<eof>")


def graded_prefix(prompt_text: str) -> str:
    """What eval parses in front of a code completion: the prompt where it is Lua, else nothing."""
    return prompt_text if is_lua_prefix(prompt_text) else ""
