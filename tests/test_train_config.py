"""Stage configs: YAML then --key=value overrides, typed values, unknown keys refused."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from conftest import REPO
from transformers import TrainingArguments
from trl import SFTConfig

from luacoder.config import ConfigError, coerce, parse_config
from luacoder.train.datasets import ChatDataArguments, MainDataArguments, PretrainDataArguments
from luacoder.train.mixture import MixtureDataArguments
from luacoder.train.model_setup import ModelArguments


@dataclass
class Toy:
    rate: float = 0.1
    steps: int = 1
    name: str | None = None
    flag: bool = False
    tags: list[str] | None = None


def _yaml(tmp_path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return str(path)


def test_yaml_values_are_typed_and_command_line_wins(tmp_path):
    path = _yaml(tmp_path, "rate: 2e-5\nsteps: 3\nname: a\ntags: [x, y]\n")
    (toy,) = parse_config([Toy], [path, "--steps=7", "--flag", "--name", "b"])
    assert toy == Toy(rate=2e-5, steps=7, name="b", flag=True, tags=["x", "y"])
    assert isinstance(toy.rate, float)


def test_unknown_keys_are_errors_with_a_suggestion(tmp_path):
    path = _yaml(tmp_path, "rte: 1\n")
    with pytest.raises(ConfigError, match=r"unknown key 'rte' \(from .*config.yaml\); did you mean 'rate'\?"):
        parse_config([Toy], [path])
    with pytest.raises(ConfigError, match=r"unknown key 'stepz' \(from the command line\); did you mean 'steps'"):
        parse_config([Toy], [_yaml(tmp_path, "rate: 1\n"), "--stepz=3"])


def test_bad_values_name_the_key_and_where_it_came_from(tmp_path):
    with pytest.raises(ConfigError, match=r"'steps' \(from the command line\): expected a whole number"):
        parse_config([Toy], [_yaml(tmp_path, ""), "--steps=2.5"])
    with pytest.raises(ConfigError, match=r"'flag' \(from .*config.yaml\): expected true or false"):
        parse_config([Toy], [_yaml(tmp_path, "flag: maybe\n")])
    with pytest.raises(ConfigError, match="first argument is the YAML config"):
        parse_config([Toy], ["--steps=2"])
    with pytest.raises(ConfigError, match="given twice"):
        parse_config([Toy], [_yaml(tmp_path, ""), "--steps=2", "--steps=3"])


def test_the_deepspeed_launchers_local_rank_argument_is_accepted(tmp_path):
    # `deepspeed train.py config.yaml --deepspeed ds.json` runs `train.py --local_rank=N config.yaml --deepspeed ...`
    path = _yaml(tmp_path, "steps: 3\n")
    assert parse_config([Toy], ["--local_rank=1", path, "--steps", "5"]) == (Toy(steps=5),)
    assert parse_config([Toy], [path, "--local_rank", "1"]) == (Toy(steps=3),)
    model_args, data_args, training_args = parse_config(
        [ModelArguments, PretrainDataArguments, TrainingArguments],
        ["--local_rank=0", str(REPO / "deepspeed" / "pretrain" / "config_cpu.yaml"), "--seq_length", "64"],
    )
    assert training_args.local_rank == 0 and data_args.seq_length == 64
    with pytest.raises(ConfigError, match="--local_rank is given twice"):
        parse_config([Toy], ["--local_rank=0", path, "--local_rank=1"])


def test_none_means_none_except_for_text_fields():
    assert coerce("none", int | None) is None
    assert coerce("none", str | None) is None
    assert coerce("none", str | list[str] | None) == "none"  # report_to reads "none" itself
    assert coerce("a,b", list[str]) == ["a", "b"]


def test_model_arguments_need_exactly_one_starting_point():
    with pytest.raises(ConfigError, match="exactly one of model_name_or_path"):
        ModelArguments()
    with pytest.raises(ConfigError, match="needs tokenizer_name_or_path"):
        ModelArguments(model_config="config.json")


def test_a_local_model_folder_that_does_not_exist_is_named_before_loading(tmp_path):
    from luacoder.train.model_setup import load_model, load_tokenizer

    shipped = ModelArguments(model_name_or_path="../../outputs/demo/nope")  # as the CPU configs name it
    for load in (load_tokenizer, load_model):
        with pytest.raises(ConfigError, match=r"model_name_or_path: \.\./\.\./outputs/demo/nope does not exist") as e:
            load(shipped)
        assert "`./set-up.sh demo` makes" in str(e.value)
    elsewhere = ModelArguments(model_name_or_path=str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="missing does not exist") as e:
        load_tokenizer(elsewhere)
    assert "set-up.sh" not in str(e.value)
    with pytest.raises(ConfigError, match="tokenizer_name_or_path: ./tok does not exist"):
        load_tokenizer(ModelArguments(model_config=str(tmp_path), tokenizer_name_or_path="./tok"))


STAGE_CONFIGS = {
    "pretrain": [ModelArguments, PretrainDataArguments, TrainingArguments],
    "chat": [ModelArguments, ChatDataArguments, SFTConfig],
    "main": [ModelArguments, MainDataArguments, SFTConfig],
    "multi": [ModelArguments, MixtureDataArguments, SFTConfig],
}


@pytest.mark.parametrize(
    "path", sorted((REPO / "deepspeed").glob("*/config*.yaml")), ids=lambda p: p.parent.name + "/" + p.name
)
def test_every_shipped_yaml_parses_into_its_dataclasses_and_names_its_command(path):
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# torchrun --nproc_per_node=") and f" {path.name} " in lines[0] + " "
    assert "--deepspeed=../ds_configs/" in lines[0]
    ds_config = lines[0].split("--deepspeed=")[1].split()[0]
    assert (path.parent / ds_config).is_file()
    parsed = parse_config(STAGE_CONFIGS[path.parent.name], [str(path), "--use_cpu=true"])
    assert parsed[-1].output_dir and parsed[-1].seed == 42


# ---------------------------------------------------------------------------------------------------------------
# Every YAML the project ships, parsed by the dataclasses of the script that reads it

_NOT_SHIPPED = {".venv", "outputs", "node_modules"}


def _shipped_yaml() -> list:
    folders = [p for p in REPO.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in _NOT_SHIPPED]
    return sorted(p for folder in folders for p in [*folder.rglob("*.yaml"), *folder.rglob("*.yml")])


def _script_dataclasses(script) -> list[type]:
    """The dataclasses a stage script passes to parse_config, read from its source (running it would train)."""
    import ast
    import importlib

    tree = ast.parse(script.read_text(), str(script))
    imported = {
        alias.asname or alias.name: node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "parse_config"
    ]
    assert len(calls) == 1 and isinstance(calls[0].args[0], ast.List), f"{script}: one parse_config([...]) call"
    names = [element.id for element in calls[0].args[0].elts]
    missing = [name for name in names if name not in imported]
    assert not missing, f"{script}: {missing} must be imported from the library, so that a test can parse configs"
    return [getattr(importlib.import_module(imported[name]), name) for name in names]


def _reader(path):
    """The script a YAML file's first line launches: `# torchrun ... grpo.py grpo.yaml ...`, `# python eval.py ...`."""
    words = path.read_text().splitlines()[0].lstrip("#").split()
    scripts = [w for w in words if w.endswith(".py")]
    assert scripts and path.name in words, f"{path}: the first line must be the command that reads it"
    return path.parent / scripts[0]


@pytest.mark.parametrize("path", _shipped_yaml(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_shipped_yaml_is_parsed_by_the_dataclasses_of_its_reader(path, monkeypatch):
    from transformers import TrainingArguments

    from luacoder.apidocs.layout import load_layout
    from luacoder.data.config import load_data_config

    where = path.relative_to(REPO).as_posix()
    if where.startswith("luacoder/apidocs/layouts/"):
        assert load_layout(path).name
        return
    if where == "data/config.yaml":
        assert load_data_config(path).output_dir
        return
    script = _reader(path)
    assert script.is_file(), f"{where}: its first line names {script.name}, which is not in {path.parent}"
    classes = _script_dataclasses(script)
    # GPU configs (bf16, 8 processes) parse on this machine too: only the device check is moved to the CPU.
    overrides = ["--use_cpu=true"] if issubclass(classes[-1], TrainingArguments) else []
    monkeypatch.chdir(path.parent)
    parsed = parse_config(classes, [str(path), *overrides])
    assert [type(p) for p in parsed] == classes


# ---------------------------------------------------------------------------------------------------------------
# Ranges: every numeric key is checked when the config is read, before anything loads


CHAT = REPO / "deepspeed" / "chat" / "config_cpu.yaml"


def test_gradient_accumulation_steps_0_is_refused_with_the_file_and_key(tmp_path):
    # It used to pass, then load model and data, then die in transformers with ZeroDivisionError.
    chat = [ModelArguments, ChatDataArguments, SFTConfig]
    message = "'gradient_accumulation_steps' (from {}): must be at least 1, got 0"
    with pytest.raises(ConfigError) as error:
        parse_config(chat, [str(CHAT), "--gradient_accumulation_steps=0", "--use_cpu=true"])
    assert str(error.value) == message.format("the command line")
    yaml_file = tmp_path / "chat.yaml"
    yaml_file.write_text(CHAT.read_text() + "gradient_accumulation_steps: 0\n")
    with pytest.raises(ConfigError) as error:
        parse_config(chat, [str(yaml_file), "--use_cpu=true"])
    assert str(error.value) == message.format(yaml_file)


@pytest.mark.parametrize(
    "script, override, message",
    [
        ("chat/train.py", "per_device_train_batch_size=0", "must be at least 1, got 0"),
        ("chat/train.py", "learning_rate=-1e-5", "must be above 0, got -1e-05"),
        ("chat/train.py", "max_length=0", "must be at least 1, got 0"),
        ("chat/train.py", "num_train_epochs=0", "must be above 0, got 0.0"),
        ("chat/train.py", "max_steps=0", "must be at least 1 (or -1), got 0"),
        ("chat/train.py", "warmup_steps=-2", "must be at least 0, got -2.0"),
        ("chat/train.py", "adam_beta2=1", "must be in [0, 1), got 1.0"),
        ("pretrain/train.py", "seq_length=1", "must be at least 2, got 1"),
        ("pretrain/train.py", "fim_rate=1.5", "must be between 0 and 1, got 1.5"),
        ("pretrain/train.py", "save_steps=0", "must be above 0, got 0.0"),
        ("multi/train.py", "fim_spm_rate=-0.1", "must be between 0 and 1, got -0.1"),
        ("RL/sft_lora.py", "lora_r=0", "must be at least 1, got 0"),
        ("RL/sft_lora.py", "lora_dropout=1", "must be in [0, 1), got 1.0"),
        ("RL/grpo.py", "num_generations=1", "must be at least 2, got 1"),
        ("RL/grpo.py", "top_p=0", "must be in (0, 1], got 0.0"),
        ("RL/dpo.py", "beta=-0.1", "must be at least 0, got -0.1"),
    ],
)
def test_numeric_keys_out_of_range_are_refused(script, override, message, monkeypatch):
    path = REPO / "deepspeed" / script
    config = sorted(path.parent.glob(f"{path.stem if path.parent.name == 'RL' else 'config'}*_cpu.yaml"))[0]
    monkeypatch.chdir(path.parent)
    key = override.split("=")[0]
    with pytest.raises(ConfigError) as error:
        parse_config(_script_dataclasses(path), [str(config), f"--{override}", "--use_cpu=true"])
    assert str(error.value) == f"'{key}' (from the command line): {message}"


def _numeric(annotation) -> bool:
    """A number or numbers; a mapping (train_mixture's weights by file) is checked by its class, naming the file."""
    import typing

    if annotation in (int, float):
        return True
    if typing.get_origin(annotation) is dict:
        return False
    return any(_numeric(a) for a in typing.get_args(annotation) if a is not type(None) and a is not str)


def test_every_numeric_key_of_every_script_has_a_range_that_holds_its_default():
    import dataclasses
    import typing

    from luacoder.config import key_range, range_problem
    from luacoder.data.config import SECTIONS, DataConfig, ImportConfig

    scripts = [*sorted((REPO / "deepspeed").glob("*/*.py")), REPO / "eval" / "eval.py"]
    readers = [script for script in scripts if "parse_config(" in script.read_text()]
    classes = {cls for script in readers for cls in _script_dataclasses(script)}
    classes |= {DataConfig, ImportConfig, *SECTIONS.values()}
    assert len(classes) >= 20
    missing = []
    for cls in classes:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if not f.init or not _numeric(hints[f.name]) or f.metadata.get("internal"):
                continue
            spec = key_range(f)
            if spec is None:
                missing.append(f"{cls.__name__}.{f.name}")
                continue
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            for value in default if isinstance(default, (list, dict)) else [default]:
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    assert range_problem(value, spec) is None, (cls.__name__, f.name, spec, value)
    assert not missing, f"numeric keys without a range: {missing}"


def test_ranges_read_as_written():
    from luacoder.config import range_problem

    assert range_problem(0, "[0, 1)") is None and range_problem(1, "[0, 1)") == "must be in [0, 1), got 1"
    assert range_problem(-1, "[1, inf) or -1") is None
    assert range_problem(0.5, "(0, inf)") is None and range_problem(0, "(0, inf)") == "must be above 0, got 0"
    assert range_problem(3, "(-inf, 2]") == "must be at most 2, got 3"
    assert range_problem(7, "[1, 65535]") is None and range_problem(70000, "[1, 65535]").startswith("must be between")
