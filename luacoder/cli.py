"""The `luacoder` command line. Each subcommand is a thin wrapper over library code that notebooks call too.

Every command line of the project (these subcommands, the stage scripts, eval.py, judge.py, generate.py, the demo,
the benchmarks) keeps one convention, which tests/test_conventions.py checks on every parser:

- long options are snake_case and a concept has one spelling everywhere, the name its config key has
  (`--output_dir`, `--model_name_or_path`, `--max_new_tokens`, `--memory_mb`, as transformers.TrainingArguments);
- the place a command writes is `-o/--output_dir` when it writes a folder, `-o/--output_file` when one file;
- config overrides are `--key=value` (`--section.key=value` in the data config), as the stage scripts take them;
- an older spelling may stay as a hidden alias (`add_option(..., old=[...])`), read but not shown in --help.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

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
_ALIAS_KEYS = ("type", "nargs", "choices", "action", "const", "metavar")


def add_option(parser, *names: str, old: tuple[str, ...] | list[str] = (), **kwargs) -> argparse.Action:
    """`parser.add_argument(*names, **kwargs)`, and the option's `old` spellings as hidden aliases: read as the same
    option, left out of --help. A required option is required once, whichever spelling gives it."""
    if not old:
        return parser.add_argument(*names, **kwargs)
    container = parser.add_mutually_exclusive_group(required=True) if kwargs.pop("required", False) else parser
    action = container.add_argument(*names, **kwargs)
    alias = {key: value for key, value in kwargs.items() if key in _ALIAS_KEYS}
    container.add_argument(*old, dest=action.dest, help=argparse.SUPPRESS, default=argparse.SUPPRESS, **alias)
    return action


def add_output_dir(parser, help: str, *, required: bool = False, old=()) -> argparse.Action:
    """`-o/--output_dir`: the folder a command writes (TrainingArguments' output_dir, as every stage config)."""
    return add_option(parser, "-o", "--output_dir", type=Path, required=required, old=old, help=help)


def add_output_file(parser, help: str, *, required: bool = False, old=()) -> argparse.Action:
    """`-o/--output_file`: the one file a command writes."""
    return add_option(parser, "-o", "--output_file", type=Path, required=required, old=old, help=help)


def takes_overrides(parser: argparse.ArgumentParser, what: str) -> None:
    """The command reads every option it does not know, `--key=value`, as an override of `what` (into
    `args.overrides`, as luacoder.config.parse_overrides reads a stage script's). Call it after the last option."""
    parser.set_defaults(overrides=[])
    parser.allow_abbrev = False  # `--conf=1` is a key of its own, not --config
    parser.usage = parser.format_usage().removeprefix("usage: ").strip() + " [--key=value ...]"
    overrides = f"--key=value: an override of {what}; as many as needed."
    parser.epilog = f"{parser.epilog}\n\n{overrides}" if parser.epilog else overrides


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="luacoder", description=__doc__.split("\n", 1)[0], allow_abbrev=False)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def split_overrides(parser: argparse.ArgumentParser, argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    """Parse `argv`; what the parser does not know are the overrides (`--key=value`; an older `KEY=VALUE` reads as
    `--KEY=VALUE`). A parser that takes none (no `takes_overrides`) refuses them as argparse does."""
    args, rest = parser.parse_known_args(argv)
    if rest and not hasattr(args, "overrides"):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return args, [f"--{a}" if not a.startswith("-") and "=" in a else a for a in rest]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line of a `luacoder` command, overrides (for the commands that take them) in `args.overrides`."""
    args, overrides = split_overrides(build_parser(), argv)
    if hasattr(args, "overrides"):
        args.overrides = overrides
    return args


def main(argv: list[str] | None = None) -> int:
    """Run a command; a user's mistake (luacoder.errors) is one message and exit status 2, like argparse's own."""
    args = parse_args(argv)
    try:
        return args.func(args)
    except UserError as exc:
        return report(f"luacoder {args.command}", exc)


if __name__ == "__main__":
    sys.exit(main())
