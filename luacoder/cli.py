"""The `luacoder` command line. Each subcommand is a thin wrapper over library code that notebooks call too."""

from __future__ import annotations

import argparse
import importlib
import sys

from luacoder.errors import UserError, report

# Each module has `register(subparsers)`; heavy imports happen inside the command, so `--help` stays fast and
# the data environment (no torch) can run the data commands.
COMMAND_MODULES = [
    "luacoder.train.commands",
    "luacoder.train.gguf_import",
    "luacoder.lua.commands",
    "luacoder.grading.commands",
    "luacoder.selfinstruct.commands",
    "luacoder.apidocs.commands",
    "luacoder.data.commands",
    "luacoder.evaluation.commands",
    "luacoder.rl.commands",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="luacoder", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a command; a user's mistake (luacoder.errors) is one message and exit status 2, like argparse's own."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as exc:
        return report(f"luacoder {args.command}", exc)


if __name__ == "__main__":
    sys.exit(main())
