"""Lua source understanding: call extraction with tree-sitter-lua, Lua code in Markdown, and a sandbox (lupa)."""

from luacoder.lua.calls import Call, CallReport, extract_calls, is_valid_lua
from luacoder.lua.markdown_code import LuaBlock, extract_lua_blocks, extract_lua_code
from luacoder.lua.sandbox import LuaJob, RunResult, run_lua, run_many

__all__ = [
    "Call",
    "CallReport",
    "LuaBlock",
    "LuaJob",
    "RunResult",
    "extract_calls",
    "extract_lua_blocks",
    "extract_lua_code",
    "is_valid_lua",
    "run_lua",
    "run_many",
]
