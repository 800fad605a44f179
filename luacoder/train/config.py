"""Stage configs: a YAML file first, then `--key=value` overrides; typed dataclasses; unknown keys are errors.

    torchrun --nproc_per_node=8 train.py config.yaml --deepspeed=../ds_configs/zero3_bf16.json --learning_rate=1e-5

Field names follow `transformers.TrainingArguments` and TRL's configs, so a key means what it means there. Values
are converted to the field's type whether they come from YAML or the command line (PyYAML reads `2e-5` as a
string; here it becomes the float the field wants).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A config file or override is wrong; the message names the key and the file."""


@dataclass
class ModelArguments:
    """Which model to start from: a hub id or local folder, or a config plus a tokenizer to train from scratch."""

    model_name_or_path: str | None = field(default=None, metadata={"help": "hub id or local folder of the model"})
    model_config: str | None = field(
        default=None, metadata={"help": "from scratch: a config.json (or its folder); needs tokenizer_name_or_path"}
    )
    tokenizer_name_or_path: str | None = field(default=None, metadata={"help": "default: model_name_or_path"})
    trust_remote_code: bool = field(default=False, metadata={"help": "run code shipped with a hub model"})
    dtype: str = field(default="auto", metadata={"help": "auto, float32, bfloat16 or float16"})
    attn_implementation: str | None = field(default=None, metadata={"help": "sdpa, eager, flash_attention_2, ..."})
    start_over: bool = field(
        default=False, metadata={"help": "ignore checkpoints in output_dir instead of resuming from the last one"}
    )
    chat_template: str | None = field(
        default=None,
        metadata={
            "help": "model (the tokenizer's own chat template) or luacoder (the dialogue template); default: model"
            " when the tokenizer has a template, luacoder when it has none"
        },
    )

    def __post_init__(self) -> None:
        if (self.model_name_or_path is None) == (self.model_config is None):
            raise ConfigError(
                "set exactly one of model_name_or_path (a pretrained model) or model_config (from scratch)"
            )
        if self.model_config is not None and self.tokenizer_name_or_path is None:
            raise ConfigError("model_config (training from scratch) needs tokenizer_name_or_path")
        if self.chat_template not in (None, "auto", "model", "luacoder"):
            raise ConfigError(f"chat_template must be model, luacoder or auto, got {self.chat_template!r}")


def parse_config(dataclass_types: list[type], argv: list[str] | None = None) -> tuple:
    """Parse `config.yaml [--key=value ...]` into one instance of each dataclass, in order."""
    argv, launcher_rank = _pop_local_rank(list(sys.argv[1:] if argv is None else argv))
    if not argv or argv[0].startswith("-"):
        raise ConfigError("usage: train.py config.yaml [--key=value ...]: the first argument is the YAML config")
    config_path = Path(argv[0])
    values = load_yaml(config_path)
    sources = dict.fromkeys(values, str(config_path))
    for key, value in _overrides(argv[1:]).items():
        values[key] = value
        sources[key] = "the command line"

    fields: dict[str, tuple[type, dataclasses.Field]] = {}
    for cls in dataclass_types:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.init:
                fields.setdefault(f.name, (hints[f.name], f))
    if launcher_rank is not None and "local_rank" in fields:
        values["local_rank"], sources["local_rank"] = launcher_rank, "the launcher"
    unknown = [k for k in values if k not in fields]
    if unknown:
        lines = []
        for key in unknown:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            lines.append(f"unknown key '{key}' (from {sources[key]}){hint}")
        raise ConfigError("\n".join(lines))

    typed = {}
    for key, value in values.items():
        try:
            typed[key] = coerce(value, fields[key][0])
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"'{key}' (from {sources[key]}): {exc}") from None
    out = []
    for cls in dataclass_types:
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        try:
            out.append(cls(**{k: v for k, v in typed.items() if k in names}))
        except ConfigError:
            raise
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{config_path}: {exc}") from exc
    return tuple(out)


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values, got {type(data).__name__}")
    return data


def _pop_local_rank(argv: list[str]) -> tuple[list[str], str | None]:
    """Take out the `--local_rank=N` the `deepspeed` launcher puts before the script's own arguments.

    The launcher also sets LOCAL_RANK in the environment, which is what Accelerate reads; the argument is kept only
    for a dataclass that declares `local_rank` (TrainingArguments).
    """
    rest, rank = [], None
    i = 0
    while i < len(argv):
        key, sep, value = argv[i].partition("=")
        if key in ("--local_rank", "--local-rank"):
            if not sep:
                if i + 1 >= len(argv):
                    raise ConfigError(f"{key} needs a value")
                value, i = argv[i + 1], i + 1
            if rank is not None:
                raise ConfigError("--local_rank is given twice on the command line")
            rank = value
        else:
            rest.append(argv[i])
        i += 1
    return rest, rank


def _overrides(args: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or arg == "--":
            raise ConfigError(f"unexpected argument {arg!r}: overrides are written --key=value")
        key, sep, value = arg[2:].partition("=")
        if not sep:  # --key value, or a bare --flag meaning true
            if i + 1 < len(args) and not args[i + 1].startswith("--"):
                value, i = args[i + 1], i + 1
            else:
                value = "true"
        key = key.replace("-", "_")
        if key in out:
            raise ConfigError(f"--{key} is given twice on the command line")
        out[key] = value
        i += 1
    return out


_TRUE, _FALSE = {"true", "yes", "1", "on"}, {"false", "no", "0", "off"}


def coerce(value: Any, annotation: Any) -> Any:
    """Convert a YAML or command-line value to the type a dataclass field declares."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(options) < len(typing.get_args(annotation))
        if nullable and value is None:
            return None
        # "none" means None, except where a field takes a list of names and reads "none" itself (report_to).
        takes_list = any(typing.get_origin(o) in (list, tuple) for o in options)
        if nullable and isinstance(value, str) and value.lower() in ("none", "null") and not takes_list:
            return None
        errors = []
        for option in options:
            try:
                return coerce(value, option)
            except (TypeError, ValueError) as exc:
                errors.append(str(exc))
        raise ValueError("; ".join(errors))
    if annotation is typing.Any:
        return value
    if origin in (list, tuple):
        if isinstance(value, str):
            value = yaml.safe_load(value) if value.strip().startswith("[") else [v for v in value.split(",") if v]
        if not isinstance(value, (list, tuple)):
            value = [value]
        (item,) = typing.get_args(annotation)[:1] or (typing.Any,)
        return [coerce(v, item) for v in value]
    if origin is dict or annotation is dict:
        if isinstance(value, str):
            value = yaml.safe_load(value)
        if not isinstance(value, dict):
            raise ValueError(f"expected a mapping, got {value!r}")
        return value
    if isinstance(annotation, type) and issubclass(annotation, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise ValueError(f"expected true or false, got {value!r}")
    if annotation in (int, float):
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        number = float(value) if annotation is float else _int(value)
        return number
    if annotation is str:
        if isinstance(value, (dict, list)):
            raise ValueError(f"expected text, got {value!r}")
        return str(value)
    if isinstance(annotation, type) and issubclass(annotation, (str,)) or _is_enum(annotation):
        return annotation(value)
    return value


def _int(value: Any) -> int:
    if isinstance(value, int):
        return value
    number = float(value)
    if not number.is_integer():
        raise ValueError(f"expected a whole number, got {value!r}")
    return int(number)


def _is_enum(annotation: Any) -> bool:
    import enum

    return isinstance(annotation, type) and issubclass(annotation, enum.Enum)


def to_yaml_dict(*configs: Any) -> dict[str, Any]:
    """The resolved configuration, for checkpoint metadata: every field of every dataclass, JSON-friendly."""
    out: dict[str, Any] = {}
    for config in configs:
        data = config.to_dict() if hasattr(config, "to_dict") else dataclasses.asdict(config)
        for key, value in data.items():
            out[key] = value if isinstance(value, (str, int, float, bool, list, dict, type(None))) else str(value)
    return out
