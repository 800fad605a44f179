"""Every script a user runs, and the command-line parser each builds, read without running the script.

    python tests/entry_points.py parsers.json [SCRIPT...]   # {script: {"argparse": ...} or {"config": ...}}

Each script runs as `SCRIPT --help` would, up to the moment it parses its command line: there, the argparse parser
(or the dataclasses a stage script hands `luacoder.config.parse_config`) is recorded and the script stops. So what
is read is exactly what the script's `--help` shows, and nothing past the parsing runs (no model, no data).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import runpy
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The entry points besides `luacoder` (whose parser luacoder.cli.build_parser() gives).
SCRIPTS = [
    *sorted(str(p.relative_to(REPO)) for p in REPO.glob("deepspeed/*/*.py")),
    "eval/eval.py",
    "eval/judge.py",
    "runs/demo.py",
    *sorted(str(p.relative_to(REPO)) for p in REPO.glob("benchmarks/*.py") if p.name != "demo_data.py"),
]


class _Parsed(BaseException):
    """Raised where the script would parse its command line; carries what it would parse with."""

    def __init__(self, what: dict) -> None:
        self.what = what


def describe_parser(parser: argparse.ArgumentParser) -> dict:
    """The options (visible and hidden), positionals and subcommands of a parser, as JSON."""
    actions, subcommands = [], {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            subcommands = {name: describe_parser(sub) for name, sub in action.choices.items()}
            continue
        default = action.default
        actions.append(
            {
                "option_strings": list(action.option_strings),
                "dest": action.dest,
                "hidden": action.help == argparse.SUPPRESS,
                "nargs": action.nargs if isinstance(action.nargs, (int, str, type(None))) else str(action.nargs),
                "metavar": action.metavar if isinstance(action.metavar, (str, type(None))) else list(action.metavar),
                "default": default if isinstance(default, (int, float, str, bool, list, type(None))) else str(default),
                "required": action.required,
                "type": getattr(action.type, "__name__", None),  # int, float, Path, str; None: text
            }
        )
    return {
        "prog": parser.prog,
        "usage": parser.format_usage(),
        "help": parser.format_help(),
        "defaults": {k: v for k, v in parser._defaults.items() if isinstance(v, (int, float, str, bool, list))},
        "actions": actions,
        "subcommands": subcommands,
    }


def describe_config(dataclass_types: list[type]) -> dict:
    """The keys a stage script's YAML and `--key=value` take, and its --help text."""
    from luacoder.config import config_help

    keys = {}
    for cls in dataclass_types:
        for f in dataclasses.fields(cls):
            if f.init and f.name not in keys:
                default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
                if default is dataclasses.MISSING or not isinstance(default, (int, float, str, bool, type(None))):
                    default = str(default)
                keys[f.name] = {"default": getattr(default, "value", default), "class": cls.__name__}
    return {"keys": keys, "help": config_help(dataclass_types)}


def read_script(script: str) -> dict:
    """What `script --help` would be given to parse."""
    import luacoder.config

    def parse_args(self, *args, **kwargs):
        raise _Parsed({"argparse": describe_parser(self)})

    def parse_config(dataclass_types, argv=None):
        raise _Parsed({"config": describe_config(dataclass_types)})

    path = REPO / script
    saved = (argparse.ArgumentParser.parse_args, argparse.ArgumentParser.parse_known_args, sys.argv, sys.path[:])
    argparse.ArgumentParser.parse_args = parse_args
    argparse.ArgumentParser.parse_known_args = parse_args
    luacoder.config.parse_config, real_parse_config = parse_config, luacoder.config.parse_config
    sys.argv, sys.path = [str(path), "--help"], [str(path.parent), *sys.path]
    try:
        runpy.run_path(str(path), run_name="__main__")
    except _Parsed as parsed:
        return parsed.what
    finally:
        argparse.ArgumentParser.parse_args, argparse.ArgumentParser.parse_known_args, sys.argv, sys.path = saved
        luacoder.config.parse_config = real_parse_config
    raise RuntimeError(f"{script}: ended without parsing a command line")


def read_scripts(scripts: list[str]) -> dict[str, dict]:
    return {script: read_script(script) for script in scripts}


if __name__ == "__main__":
    # A file, not stdout: some scripts print before they parse.
    Path(sys.argv[1]).write_text(json.dumps(read_scripts(sys.argv[2:] or SCRIPTS)))
