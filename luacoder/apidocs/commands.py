"""`luacoder docs PATH... -o api.json`: API docs in any format to a validated api.json, explaining files read short."""

from __future__ import annotations

import argparse
import collections
import logging
from pathlib import Path

from luacoder.cli import add_output_file
from luacoder.errors import report

FEW_ENTRIES = 3  # a file that gives fewer entries than this is explained: the lines that looked like signatures
EXPLAINED_LINES = 8
EXPLAINED_FILES = 10


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "docs",
        help="read API docs (Markdown, HTML, reStructuredText, text, LuaCATS, LDoc, JSON/YAML/XML/Lua-table API"
        " descriptions) into api.json",
        description="Read API docs into a validated api.json with no configuration: each file is read by its"
        " format, and its signatures are found by where they sit and how they are marked. For a file that gives"
        " few entries, the lines that looked like signatures are printed with the reason each was left out; a"
        " layout (--layout, a YAML override of a few lines) says where entries are when the reader cannot guess."
        " Everything that did not become an entry is written, with its file, line and reason, to the skipped"
        " report next to api.json.",
    )
    p.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="docs files or folders of them")
    add_output_file(p, "the api.json to write", old=["--output"])
    p.add_argument(
        "--layout",
        metavar="NAME|FILE.yaml",
        help="an override: a layout YAML file, or a shipped example (see --list_layouts); default: none",
    )
    p.add_argument("--name", help="the API set's name (default: the first path's name)")
    p.add_argument(
        "--skipped",
        type=Path,
        metavar="FILE",
        help="where to write the skipped report, one JSON row per thing not extracted (default: next to the"
        " output, api.skipped.jsonl for api.json)",
    )
    p.add_argument("--list_layouts", action="store_true", help="print the shipped layouts and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no log lines and no explanations")
    p.set_defaults(func=docs_command)


def skipped_path(output: Path) -> Path:
    """`out/api.json` -> `out/api.skipped.jsonl`."""
    return output.with_name(f"{output.stem}.skipped.jsonl")


def docs_command(args: argparse.Namespace) -> int:
    from luacoder.apidocs.docs import read_docs
    from luacoder.apidocs.layout import load_layout, shipped_layout_names
    from luacoder.apidocs.schema import save_api
    from luacoder.files import write_jsonl

    if args.list_layouts:
        for name in shipped_layout_names():
            print(f"{name:10} {load_layout(name).description}")
        return 0
    if not args.paths or args.output_file is None:
        return report("luacoder docs", "give at least one PATH and -o api.json")
    if args.output_file.is_dir():
        return report(
            "luacoder docs",
            f"-o {args.output_file} is a folder; name the file to write, e.g. -o {args.output_file / 'api.json'}",
        )
    if not args.quiet:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    # An ApiError (docs that cannot be read) is reported by luacoder.cli.
    result = read_docs(args.paths, layout=args.layout, name=args.name, progress=not args.quiet)
    save_api(result.api, args.output_file)
    skipped = args.skipped or skipped_path(args.output_file)
    # Written even when empty, so that a report from an earlier run never sits beside a new api.json.
    write_jsonl(skipped, (row.to_dict() for row in result.skipped))

    by_layout = collections.Counter(result.layouts.values())
    by_what = collections.Counter(row.what.split(" ", 1)[0] for row in result.skipped)
    kinds = collections.Counter(entry.kind for entry in result.api)
    print(f"files read: {result.files} ({', '.join(f'{n} {c}' for n, c in sorted(by_layout.items()))})")
    by_kind = ", ".join(f"{k} {c}" for k, c in sorted(kinds.items()))
    print(f"entries:    {len(result.api)} ({by_kind}) -> {args.output_file}")
    detail = f" ({', '.join(f'{w} {c}' for w, c in sorted(by_what.items()))})" if by_what else ""
    print(f"skipped:    {len(result.skipped)}{detail} -> {skipped}")
    if not args.quiet:
        explain(result)
    return 0


def explain(result) -> None:
    """For each file read short (fewer than FEW_ENTRIES entries, and more lines left out than read), the lines that
    looked like signatures and why each was left out; the first EXPLAINED_FILES such files."""
    short = [
        (file, rejected)
        for file, rejected in result.rejected.items()
        if result.entries_per_file.get(file, 0) < FEW_ENTRIES and len(rejected) > result.entries_per_file.get(file, 0)
    ]
    for file, rejected in short[:EXPLAINED_FILES]:
        found = result.entries_per_file.get(file, 0)
        print(f"\n{file}: {found} entries; {len(rejected)} line(s) looked like signatures:")
        for row in rejected[:EXPLAINED_LINES]:
            print(f"  {row}")
        if len(rejected) > EXPLAINED_LINES:
            print(f"  ... and {len(rejected) - EXPLAINED_LINES} more")
        print("  if some are entries, a layout says where they are (luacoder/apidocs/layout.py), e.g.")
        print("    name: mine\n    entries: [{heading: 4}]   # or {kind: paragraph}, {class: sig}, {directive: 'x:*'}")
    if len(short) > EXPLAINED_FILES:
        print(f"\n... and {len(short) - EXPLAINED_FILES} more files read short (DocsResult.rejected lists them all)")
