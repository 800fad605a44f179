"""`luacoder lua calls FILE` and `luacoder lua run FILE [--api_path api.json]`: the call extractor and the sandbox
(with an API's stubs) on the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

USAGE_ERROR = 2


def register(sub: argparse._SubParsersAction) -> None:
    lua = sub.add_parser("lua", help="Lua source tools: list the calls in a file, run a file in the sandbox")
    lua_sub = lua.add_subparsers(dest="lua_command", required=True)

    p = lua_sub.add_parser("calls", help="print every function call as JSON, one object per line")
    p.add_argument("file", type=Path, help="a .lua file, or a Markdown file (.md, .markdown) with Lua code blocks")
    p.set_defaults(func=calls_command)

    p = lua_sub.add_parser("run", help="run a Lua file (or the Lua blocks of a Markdown file) in the sandbox")
    p.add_argument("file", type=Path, help="a .lua file, or a Markdown file (.md, .markdown) with Lua code blocks")
    p.add_argument("--timeout", type=float, default=5.0, metavar="S", help="wall-clock limit in seconds (5)")
    p.add_argument("--memory_mb", type=float, default=64, metavar="M", help="memory limit of the Lua state (64)")
    p.add_argument("--instructions", type=int, default=100_000_000, help="instruction budget (100000000)")
    p.add_argument(
        "--allow",
        action="append",
        default=[],
        choices=["files", "modules", "debug", "exit", "luaunit"],
        help="an allowance: in-memory files, require/package, the safe debug library, os.exit; repeatable",
    )
    p.add_argument(
        "--api_path", type=Path, help="api.json (or JSON docs): run with its API stubs; the result gains api_error"
    )
    p.set_defaults(func=run_command)


def _usage_error(message: str) -> int:
    print(f"luacoder lua: {message}", file=sys.stderr)
    return USAGE_ERROR


def _read(path: Path) -> tuple[list[tuple[str, int]], str | None]:
    """[(code, first line in the file)] of a .lua or Markdown file, or an error message."""
    from luacoder.lua.markdown_code import MARKDOWN_SUFFIXES, extract_lua_blocks

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], f"{path}: no such file"
    except IsADirectoryError:
        return [], f"{path}: is a folder, not a file"
    except UnicodeDecodeError as exc:
        return [], f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})"
    except OSError as exc:
        return [], f"{path}: cannot read ({exc.strerror})"
    if path.suffix.lower() in MARKDOWN_SUFFIXES:
        blocks = [(b.code, b.line) for b in extract_lua_blocks(text)]
        if not blocks:
            return [], f"{path}: no Lua code blocks (```lua fences or unlabelled fences that parse as Lua)"
        return blocks, None
    return [(text, 1)], None


def calls_command(args: argparse.Namespace, grader=None) -> int:
    """Print the calls of the file. `grader(code)`, given by `luacoder grade` (luacoder.grading.commands), returns
    the calls report and the fields each call's row gains: the grader sits above this layer, so it is passed in."""
    from luacoder.lua.calls import extract_calls

    blocks, error = _read(args.file)
    if error:
        return _usage_error(error)
    for code, first in blocks:
        report, grade_fields = (extract_calls(code), None) if grader is None else grader(code)
        for issue in report.errors:
            print(
                f"{args.file}:{issue.line + first - 1}:{issue.column}: syntax error: {issue.message}", file=sys.stderr
            )
        for call in report.calls:
            row = {
                "name": call.name,
                "resolved": call.resolved,
                "line": call.line + first - 1,
                "column": call.column,
                "args": call.args,
                "open_ended": call.open_ended,
                "method": call.is_method,
                "local": call.local,
            }
            if grade_fields is not None:
                row.update(grade_fields(call))
            if not report.syntax_ok:
                row["syntax_ok"] = False
            print(json.dumps(row))
    return 0


def run_command(args: argparse.Namespace) -> int:
    from luacoder.apidocs.json_docs import read_json_docs
    from luacoder.apidocs.schema import ApiError
    from luacoder.lua.sandbox import run_lua
    from luacoder.lua.stubs import api_error_of, stub_prelude

    if args.timeout <= 0 or args.memory_mb <= 0 or args.instructions <= 0:
        return _usage_error("--timeout, --memory_mb and --instructions must be positive")
    blocks, error = _read(args.file)
    if error:
        return _usage_error(error)
    blocks = [(code if code.endswith("\n") else code + "\n", first) for code, first in blocks]
    code = "".join(code for code, _ in blocks)
    try:
        prelude = stub_prelude(read_json_docs(args.api_path)) if args.api_path else ""
    except ApiError as exc:
        return _usage_error(str(exc))
    result = run_lua(
        code,
        timeout=args.timeout,
        memory_mb=args.memory_mb,
        instructions=args.instructions,
        allow=args.allow,
        prelude=prelude,
    )
    if result.error and result.error.startswith("input:"):
        result.error = _file_position(result.error, args.file, blocks)
    shown = result.to_dict() | ({"api_error": api_error_of(result)} if prelude else {})
    print(json.dumps(shown, indent=2))
    return 0 if result.ok else 1


def _file_position(error: str, path: Path, blocks: list[tuple[str, int]]) -> str:
    """`input:7: msg` (a line of the joined blocks) -> `FILE:LINE: msg` (the line in the file)."""
    _input, _, rest = error.partition(":")
    line, sep, message = rest.partition(":")
    if not (sep and line.isdigit()):
        return error
    joined_line, start = int(line), 1
    for code, first in blocks:
        n = code.count("\n")
        if joined_line < start + n:
            return f"{path}:{first + joined_line - start}:{message}"
        start += n
    return f"{path}:{message}"
