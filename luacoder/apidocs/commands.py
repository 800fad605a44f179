"""`luacoder docs PATH... -o api.json`: API docs (Markdown in any known layout, or JSON) to a validated api.json."""

from __future__ import annotations

import argparse
import collections
import logging
from pathlib import Path

from luacoder.errors import report


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "docs",
        help="read API docs (Markdown or JSON) into api.json, listing what was not extracted",
        description="Read API docs into a validated api.json. Markdown docs are read with a layout (a shipped one,"
        " picked by itself unless --layout names it, or a YAML description of your convention); JSON docs in"
        " the api.json or the older LuaCoder format are read as they are. Everything that did not become an"
        " entry is written, with its file, line and reason, to the skipped report next to api.json.",
    )
    p.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="Markdown/JSON files or folders of them")
    p.add_argument("-o", "--output", type=Path, help="the api.json to write")
    p.add_argument(
        "--layout",
        metavar="NAME|FILE.yaml",
        help="a shipped layout (see --list_layouts) or a layout YAML file; default: picked per path by score",
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
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no layout log lines")
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
    if not args.paths or args.output is None:
        return report("luacoder docs", "give at least one PATH and -o api.json")
    if args.output.is_dir():
        return report(
            "luacoder docs",
            f"-o {args.output} is a folder; name the file to write, e.g. -o {args.output / 'api.json'}",
        )
    if not args.quiet:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    # An ApiError (docs that cannot be read) is reported by luacoder.cli.
    result = read_docs(args.paths, layout=args.layout, name=args.name, progress=not args.quiet)
    save_api(result.api, args.output)
    skipped = args.skipped or skipped_path(args.output)
    # Written even when empty, so that a report from an earlier run never sits beside a new api.json.
    write_jsonl(skipped, (row.to_dict() for row in result.skipped))

    by_layout = collections.Counter(result.layouts.values())
    by_what = collections.Counter(row.what.split(" ", 1)[0] for row in result.skipped)
    kinds = collections.Counter(entry.kind for entry in result.api)
    print(f"files read: {result.files} ({', '.join(f'{n} {c}' for n, c in sorted(by_layout.items()))})")
    print(
        f"entries:    {len(result.api)} ({', '.join(f'{k} {c}' for k, c in sorted(kinds.items()))}) -> {args.output}"
    )
    detail = f" ({', '.join(f'{w} {c}' for w, c in sorted(by_what.items()))})" if by_what else ""
    print(f"skipped:    {len(result.skipped)}{detail} -> {skipped}")
    return 0
