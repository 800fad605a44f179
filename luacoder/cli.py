"""The `luacoder` command line. Each subcommand is a thin wrapper over library code that notebooks call too."""

from __future__ import annotations

import argparse
import importlib
import sys

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
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
