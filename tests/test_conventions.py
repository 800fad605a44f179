"""One command-line convention on every entry point, and one definition of every shared default.

Every parser is walked: `luacoder` and each of its subcommands (luacoder.cli.build_parser), and each script a user
runs (tests/entry_points.py reads what their `--help` shows: argparse options, or a stage script's config keys).
"""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import os
import re
import subprocess
import sys

import pytest
from conftest import REPO
from entry_points import describe_parser

from luacoder import cli

SNAKE = re.compile(r"--[a-z][a-z0-9]*(_[a-z0-9]+)*")
KEY = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")

# The one place a command writes: a folder (-o/--output_dir, as TrainingArguments' output_dir) or one file
# (-o/--output_file). Each command that writes one, and which.
WRITES = {
    "luacoder new-tokenizer": "dir",
    "luacoder new-model": "dir",
    "luacoder fetch-model": "dir",
    "luacoder import-gguf": "dir",
    "luacoder self-instruct": "dir",
    "luacoder synthesize": "dir",
    "luacoder docs": "file",
    "luacoder build-pretrain": "dir",
    "luacoder build-chat": "dir",
    "luacoder replay": "dir",
    "luacoder synthetic-pairs": "dir",
    "luacoder multipl-e score": "file",
    "luacoder policy-pairs": "dir",
    "deepspeed/RL/merge_lora.py": "dir",
    "deepspeed/chat/generate.py": "file",
    "eval/judge.py": "dir",
    "runs/demo.py": "dir",
    "benchmarks/gpu_check.py": "file",
}
OUTPUT = {"dir": ["-o", "--output_dir"], "file": ["-o", "--output_file"]}
# Commands that read config overrides as --key=value (the stage scripts and eval.py do, through luacoder.config).
OVERRIDES = {
    "luacoder new-model",
    "luacoder synthesize",
    "luacoder build-pretrain",
    "luacoder build-chat",
    "luacoder replay",
    "runs/demo.py",
}
# Concepts with one spelling: the other spellings they once had may stay as hidden aliases, never shown.
CONCEPTS = {
    "the folder a command writes": ("--output_dir", {"--out", "--output", "--out_dir", "--output_folder"}),
    "the file a command writes": ("--output_file", {"--json", "--output_path"}),
    "a model to load, by name or folder": ("--model_name_or_path", {"--model", "--model_id", "--model_path"}),
    "the server's name for a model": ("--teacher_model or --judge_model", {"--model", "--served_model_name"}),
    "new tokens an answer may have": ("--max_new_tokens", {"--max_tokens"}),
    "the Lua state's memory limit": ("--memory_mb", {"--memory-mb", "--memory"}),
    "the prompts to answer (a file, files)": ("--prompt_file, --prompt_files", {"--prompts_file", "--prompts_files"}),
    "a prompt template": ("named by its role: --judge_prompt, --few_shot_prompt", {"--template", "--prompt_template"}),
    "processes per training stage": ("--nproc_per_node", {"--nproc"}),
    "how often a timing is repeated": ("--repeats", {"--repeat"}),
    "a config override": ("--key=value", {"--set", "--data_set"}),
}


def _walk(parser: argparse.ArgumentParser, name: str):
    """(command name, parser) of `parser` and every subcommand under it."""
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _walk(sub, f"{name} {sub_name}")


@pytest.fixture(scope="module")
def scripts(tmp_path_factory) -> dict[str, dict]:
    """{script: what its --help shows}, read in one process (tests/entry_points.py)."""
    out = tmp_path_factory.mktemp("entry_points") / "parsers.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    subprocess.run(
        [sys.executable, str(REPO / "tests" / "entry_points.py"), str(out)], cwd=REPO, env=env, check=True, timeout=600
    )
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def commands(scripts) -> dict[str, dict]:
    """{command: its parser described} for `luacoder ...` and every argparse script."""
    found = {name: describe_parser(parser) for name, parser in _walk(cli.build_parser(), "luacoder")}
    found.update((script, what["argparse"]) for script, what in scripts.items() if "argparse" in what)
    return found


def _visible(command: dict) -> list[dict]:
    return [a for a in command["actions"] if not a["hidden"]]


def _long(action: dict) -> list[str]:
    return [o for o in action["option_strings"] if o.startswith("--")]


def test_every_entry_point_is_walked(commands, scripts):
    stage_scripts = {s for s, what in scripts.items() if "config" in what}
    assert {"deepspeed/chat/train.py", "deepspeed/RL/grpo.py", "eval/eval.py"} <= stage_scripts
    assert len(stage_scripts) == 9  # eight training stages and eval.py
    assert set(WRITES) <= set(commands)
    assert sum(name.startswith("luacoder ") for name in commands) >= 19


def test_every_long_option_and_config_key_is_snake_case(commands, scripts):
    bad = [(name, o) for name, c in commands.items() for a in _visible(c) for o in _long(a) if not SNAKE.fullmatch(o)]
    assert bad == []
    keys = [(s, k) for s, what in scripts.items() if "config" in what for k in what["config"]["keys"]]
    assert len(keys) > 1000 and [(s, k) for s, k in keys if not KEY.fullmatch(k)] == []


def test_the_output_option_is_spelled_one_way(commands):
    for name, command in commands.items():
        outputs = [
            a["option_strings"]
            for a in _visible(command)
            if "-o" in a["option_strings"] or any(re.match(r"--(out|output|json)($|_)", o) for o in _long(a))
        ]
        expected = [OUTPUT[WRITES[name]]] if name in WRITES else []
        assert outputs == expected, name


def test_config_overrides_are_key_value_options_everywhere(commands, scripts):
    for name, command in commands.items():
        takes = "overrides" in command["defaults"]
        assert takes == (name in OVERRIDES), name
        shown = [a for a in _visible(command) if "=" in str(a["metavar"]) or a["dest"] == "overrides"]
        assert shown == [], name  # KEY=VALUE positionals and options are gone
        if takes:
            assert "[--key=value ...]" in command["usage"], name
    for script, what in scripts.items():
        if "config" in what:
            assert "config.yaml [--key=value ...]" in what["config"]["help"], script


def test_luacoder_reads_overrides_as_stage_scripts_do():
    args = cli.parse_args(["build-chat", "--config", "c.yaml", "--seed=1", "--chat.dialogues_per_entry", "8", "-q"])
    assert args.overrides == ["--seed=1", "--chat.dialogues_per_entry", "8"] and args.quiet
    # The old positional KEY=VALUE is still read, as the same override.
    assert cli.parse_args(["build-chat", "-o", "out", "seed=1"]).overrides == ["--seed=1"]
    assert cli.parse_args(["new-model", "--tokenizer", "t", "-o", "m", "--hidden_size=64"]).overrides == [
        "--hidden_size=64"
    ]
    with pytest.raises(SystemExit) as exited:
        cli.parse_args(["grade", "x.lua", "--api_path", "a.json", "--seed=1"])  # grade takes no overrides
    assert exited.value.code == 2

    from luacoder.config import parse_overrides
    from luacoder.data.config import load_data_config

    assert parse_overrides(["--seed=1", "--chat.dialogues_per_entry", "8"]) == {
        "seed": "1",
        "chat.dialogues_per_entry": "8",
    }
    config = load_data_config(None, ["--seed=1", "--chat.dialogues_per_entry", "8"])
    assert (config.seed, config.chat.dialogues_per_entry) == (1, 8)


def test_no_two_commands_spell_one_concept_differently(commands):
    shown = {o: name for name, c in commands.items() for a in _visible(c) for o in _long(a)}
    for concept, (spelling, others) in CONCEPTS.items():
        assert {o: shown[o] for o in others if o in shown} == {}, f"{concept} is spelled {spelling}"
    # One spelling means one kind of value: `--prompts` is not a count in one command and a file in another.
    kinds: dict[str, set[str]] = {}
    for c in commands.values():
        for a in _visible(c):
            kind = "flag" if a["nargs"] == 0 else {"int": "int", "float": "float"}.get(a["type"], "text")
            for o in _long(a):
                kinds.setdefault(o, set()).add(kind)
    assert {o: k for o, k in kinds.items() if len(k) > 1} == {}
    # Nor the plural of another option that takes one value of the same kind (`--repeat` and `--repeats`).
    singular = {o for c in commands.values() for a in _visible(c) for o in _long(a) if a["nargs"] is None}
    assert sorted(o for o in singular if f"{o}s" in singular and kinds[o] == kinds[f"{o}s"]) == []


def test_synthetic_preference_pairs_are_a_luacoder_command_with_the_builders_seed(commands):
    from luacoder.data.config import DataConfig

    pairs = commands["luacoder synthetic-pairs"]
    seed = next(a for a in pairs["actions"] if a["dest"] == "seed")
    assert seed["default"] == DataConfig.__dataclass_fields__["seed"].default == 42
    policy_seed = next(a for a in commands["luacoder policy-pairs"]["actions"] if a["dest"] == "seed")
    assert policy_seed["default"] == 42
    import luacoder.data.preferences as preferences

    assert not hasattr(preferences, "main")  # no second way: `python -m luacoder.data.preferences` is gone


def test_decoding_defaults_are_one_definition(scripts):
    """What eval, generate.py, the playground and policy-pairs start from when not told otherwise."""
    from luacoder.config import DEFAULT_SEED
    from luacoder.evaluation import engine
    from luacoder.evaluation.config import EvalConfig
    from luacoder.evaluation.playground import Playground
    from luacoder.rl.policy_pairs import PairsSettings

    shared = engine.DEFAULT_DECODING
    expected = {
        "max_new_tokens": shared.max_new_tokens,
        "temperature": shared.temperature,
        "top_p": shared.top_p,
        "top_k": shared.top_k,
        "batch_size": engine.BATCH_SIZE,
        "seed": DEFAULT_SEED,
    }
    assert expected == {
        "max_new_tokens": 512,
        "temperature": 0.2,
        "top_p": 0.95,
        "top_k": 50,
        "batch_size": 8,
        "seed": 42,
    }
    assert engine.Decoding() == shared

    eval_keys = scripts["eval/eval.py"]["config"]["keys"]
    assert {k: eval_keys[k]["default"] for k in expected} == expected
    assert {k: EvalConfig.__dataclass_fields__[k].default for k in expected} == expected
    generate = {a["dest"]: a["default"] for a in scripts["deepspeed/chat/generate.py"]["argparse"]["actions"]}
    assert {k: generate[k] for k in expected} == expected
    ask = inspect.signature(Playground.ask).parameters
    assert (ask["max_new_tokens"].default, ask["seed"].default) == (expected["max_new_tokens"], expected["seed"])

    # policy-pairs samples (do_sample, a temperature of its own, shorter answers: PairsSettings says why); the rest
    # is the shared defaults, and its command line shows PairsSettings' values, not copies.
    settings = PairsSettings()
    assert settings.decoding.do_sample
    assert (settings.decoding.top_p, settings.decoding.top_k) == (shared.top_p, shared.top_k)
    assert (settings.seed, settings.batch_size) == (DEFAULT_SEED, engine.BATCH_SIZE)
    parsed = cli.parse_args(
        ["policy-pairs", "--model_name_or_path", "m", "--api_path", "a", "--prompt_files", "p", "-o", "out"]
    )
    assert {k: getattr(parsed, k) for k in ("temperature", "top_p", "top_k", "max_new_tokens")} == {
        k: getattr(settings.decoding, k) for k in ("temperature", "top_p", "top_k", "max_new_tokens")
    }
    assert (parsed.seed, parsed.batch_size) == (settings.seed, settings.batch_size)


def _assignments(name: str) -> list[str]:
    """The modules of luacoder/ that assign `name` at their top level."""
    found = []
    for path in sorted((REPO / "luacoder").rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            targets = (
                node.targets
                if isinstance(node, ast.Assign)
                else [node.target]
                if isinstance(node, ast.AnnAssign)
                else []
            )
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                found.append(str(path.relative_to(REPO)))
    return found


def test_report_types_and_the_usage_error_status_are_defined_once():
    from luacoder.evaluation import constrained
    from luacoder.grading import answer
    from luacoder.rl import rewards

    assert rewards.REPORT_TYPES is answer.REPORT_TYPES and constrained.REPORT_TYPES is answer.REPORT_TYPES
    assert _assignments("REPORT_TYPES") == ["luacoder/grading/answer.py"]
    assert _assignments("USAGE_ERROR") == ["luacoder/errors.py"]
