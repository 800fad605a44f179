"""The Lua code in a Markdown answer: ```lua fences, and unlabelled fences whose content parses as Lua."""

from __future__ import annotations

from dataclasses import dataclass

from markdown_it import MarkdownIt

from luacoder.lua.calls import is_valid_lua

_MD = MarkdownIt("commonmark")
LUA_LABELS = ("lua", "luau", "lua54")
MARKDOWN_SUFFIXES = (".md", ".markdown")


@dataclass
class LuaBlock:
    code: str
    line: int  # 1-based line of the Markdown text on which the code starts


def extract_lua_blocks(text: str) -> list[LuaBlock]:
    """Each Lua code block of a Markdown text, in order, with the line it starts on.

    A fence labelled `lua` (the first word of its info string, any case: ```` ```lua ````, ```` ```Lua x ````) is
    always taken; an unlabelled fence or an indented code block is taken when it parses as Lua without an error.
    Fences labelled with another language are left out.
    """
    blocks = []
    for token in _MD.parse(text):
        if token.type not in ("fence", "code_block"):
            continue
        words = token.info.split() if token.type == "fence" else []
        label = words[0].lower().strip("{}.") if words else ""
        code = token.content
        if label in LUA_LABELS or (not label and code.strip() and is_valid_lua(code)):
            first = token.map[0] + (2 if token.type == "fence" else 1) if token.map else 1
            blocks.append(LuaBlock(code, first))
    return blocks


def extract_lua_code(text: str) -> list[str]:
    """The code of each Lua block of a Markdown text (see `extract_lua_blocks`)."""
    return [block.code for block in extract_lua_blocks(text)]
