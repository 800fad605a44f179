"""The one typed config loader (stages, data, eval): a YAML file first, then `--key=value` overrides; typed
dataclasses; unknown keys are errors.

    torchrun --nproc_per_node=8 train.py config.yaml --deepspeed=../ds_configs/zero3_bf16.json --learning_rate=1e-5

Field names follow `transformers.TrainingArguments` and TRL's configs, so a key means what it means there. Values
are converted to the field's type whether they come from YAML or the command line (PyYAML reads `2e-5` as a
string; here it becomes the float the field wants), and every numeric key is held to its range: a field declares it
in its metadata (`field(default=1, metadata={"range": "[1, inf)"})`), the keys of transformers and TRL have theirs
in TRAINER_KEY_RANGES. A value out of range is a ConfigError naming the key and the file it came from, before any
model or data loads. `train.py --help` prints every key with its type, default, range and help.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import sys
import textwrap
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from luacoder.errors import UserError, exit_on_user_errors
from luacoder.locks import clear_stale_build_locks

# The seed of whatever is seeded unless told otherwise: the data builders, the sampling of eval.py, generate.py, the
# playground and policy-pairs, the judge; transformers.TrainingArguments' default too.
DEFAULT_SEED = 42


class ConfigError(UserError, ValueError):
    """A config file or override is wrong; the message names the key and the file."""


def parse_config(dataclass_types: list[type], argv: list[str] | None = None) -> tuple:
    """Parse `config.yaml [--key=value ...]` into one instance of each dataclass, in order.

    A script's parser, as argparse's is: `--help` prints the keys and exits; from the first call on, a user error
    (luacoder.errors.UserError: this ConfigError, a missing file, bad rows) that ends the script prints its message
    without a traceback and exits with status 2."""
    exit_on_user_errors()
    argv, launcher_rank = _pop_local_rank(list(sys.argv[1:] if argv is None else argv))
    if {"-h", "--help"} & set(argv):
        print(config_help(dataclass_types))
        sys.exit(0)
    if not argv or argv[0].startswith("-"):
        raise ConfigError("usage: train.py config.yaml [--key=value ...]: the first argument is the YAML config")
    if any(f.name == "deepspeed" for cls in dataclass_types for f in dataclasses.fields(cls)):
        clear_stale_build_locks()  # a training stage: DeepSpeed may JIT-build an op behind a lock a killed build left
    config_path = Path(argv[0])
    values = load_yaml(config_path)
    sources = dict.fromkeys(values, str(config_path))
    for key, value in parse_overrides(argv[1:]).items():
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
            lines.append(f"unknown key '{key}' (from {sources[key]}){did_you_mean(key, fields)}")
        raise ConfigError("\n".join(lines))

    typed = {}
    for key, value in values.items():
        try:
            typed[key] = coerce_field(value, fields[key][0], fields[key][1])
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


def config_help(dataclass_types: list[type]) -> str:
    """What `--help` prints: the script's docstring, then every key (of the first dataclass that declares it, as the
    parser reads it) with its type, default, range and help."""
    script = sys.modules["__main__"]
    lines = [(getattr(script, "__doc__", None) or "").strip(), ""] if getattr(script, "__doc__", None) else []
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "train.py"
    lines += [
        f"usage: {name} config.yaml [--key=value ...]",
        "",
        "The YAML file sets the keys below (each a `key: value` line); --key=value on the command line wins. Unknown",
        "keys are errors.",
    ]
    seen: set[str] = set()
    for cls in dataclass_types:
        hints = typing.get_type_hints(cls)
        lines += ["", f"{cls.__name__} ({cls.__module__.split('.')[0]}):"]
        for f in dataclasses.fields(cls):
            if not f.init or f.name in seen or f.metadata.get("internal"):
                continue
            seen.add(f.name)
            spec = key_range(f)
            range_text = f"; {describe_range(spec)}" if spec else ""
            lines.append(f"  {f.name}: {_type_name(hints[f.name])} = {_default_text(f)}{range_text}")
            text = " ".join(str(f.metadata.get("help", "")).split())
            lines += textwrap.wrap(text, 112, initial_indent="      ", subsequent_indent="      ")
    return "\n".join(lines)


def _type_name(annotation: Any) -> str:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return "None"
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _default_text(f: dataclasses.Field) -> str:
    if f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    elif f.default is dataclasses.MISSING:
        return "(required)"
    else:
        value = f.default
    import enum

    return str(value.value if isinstance(value, enum.Enum) else value)


# Ranges are written as intervals, `[1, inf)`, `(0, 1]`, with values that mean something else after "or"
# (`[1, inf) or -1`); only the numbers of a value are checked (a list's each, not text such as "auto").
_RANGE = re.compile(r"^([\[(])\s*([^,\s]+)\s*,\s*([^\])\s]+)\s*([\])])(?:\s+or\s+(.+))?$")

# The ranges of the transformers and TRL keys the stage configs read (their dataclasses declare none).
TRAINER_KEY_RANGES: dict[str, str] = {
    # batches and steps; a steps key under 1 is a share of the whole run
    "per_device_train_batch_size": "[1, inf)",
    "per_device_eval_batch_size": "[1, inf)",
    "gradient_accumulation_steps": "[1, inf)",
    "eval_accumulation_steps": "[1, inf)",
    "num_train_epochs": "(0, inf)",
    "max_steps": "[1, inf) or -1",  # -1: num_train_epochs decides
    "logging_steps": "(0, inf)",
    "eval_steps": "(0, inf)",
    "save_steps": "(0, inf)",
    "warmup_steps": "[0, inf)",
    "eval_delay": "[0, inf)",
    "save_total_limit": "[1, inf)",
    "torch_empty_cache_steps": "[1, inf)",
    # the optimiser
    "learning_rate": "(0, inf)",
    "weight_decay": "[0, inf)",
    "adam_beta1": "[0, 1)",
    "adam_beta2": "[0, 1)",
    "adam_epsilon": "(0, inf)",
    "max_grad_norm": "[0, inf)",
    "label_smoothing_factor": "[0, 1)",
    "neftune_noise_alpha": "(0, inf)",
    "router_aux_loss_coef": "[0, inf)",
    # seeds (numpy's limit), processes, timeouts
    "seed": "[0, 4294967295]",
    "data_seed": "[0, 4294967295]",
    "local_rank": "[-1, inf)",
    "dataloader_num_workers": "[0, inf)",
    "dataloader_prefetch_factor": "[1, inf)",
    "dataset_num_proc": "[1, inf)",
    "ddp_bucket_cap_mb": "[1, inf)",
    "ddp_timeout": "[1, inf)",
    # lengths
    "max_length": "[1, inf)",
    "max_completion_length": "[1, inf)",
    "pad_to_multiple_of": "[1, inf)",
    # generation in GRPO (advantages need a group of at least two answers)
    "num_generations": "[2, inf)",
    "num_generations_eval": "[1, inf)",
    "generation_batch_size": "[1, inf)",
    "steps_per_generation": "[1, inf)",
    "num_iterations": "[1, inf)",
    "temperature": "(0, inf)",
    "top_p": "(0, 1]",
    "top_k": "[0, inf)",  # 0: no top-k filtering
    "min_p": "[0, 1]",
    "repetition_penalty": "(0, inf)",
    "num_completions_to_print": "[0, inf)",
    "max_tool_calling_iterations": "[0, inf)",
    # GRPO's loss
    "beta": "[0, inf)",  # DPO's beta too
    "epsilon": "[0, inf)",
    "epsilon_high": "[0, inf)",
    "delta": "[0, inf)",
    "top_entropy_quantile": "[0, 1]",
    "entropy_coef": "[0, inf)",
    "entropy_coef_min": "[0, inf)",
    "entropy_coef_max": "[0, inf)",
    "entropy_coef_delta": "[0, inf)",
    "entropy_target": "[0, inf)",
    "sapo_temperature_pos": "(0, inf)",
    "sapo_temperature_neg": "(0, inf)",
    "vespo_k_pos": "[0, inf)",
    "vespo_k_neg": "[0, inf)",
    "vespo_lambda_pos": "[0, inf)",
    "vespo_lambda_neg": "[0, inf)",
    "off_policy_mask_threshold": "[0, inf)",
    "ref_model_mixup_alpha": "[0, 1]",
    "ref_model_sync_steps": "[1, inf)",
    # vLLM
    "vllm_gpu_memory_utilization": "(0, 1]",
    "vllm_tensor_parallel_size": "[1, inf)",
    "vllm_max_model_length": "[1, inf)",
    "vllm_server_port": "[1, 65535]",
    "vllm_group_port": "[1, 65535]",
    "vllm_server_timeout": "(0, inf)",
    "vllm_importance_sampling_clip_max": "(0, inf)",
    "vllm_importance_sampling_clip_min": "[0, inf)",
    "vllm_importance_sampling_cap": "(0, inf)",
    # DPO and the reward model
    "label_smoothing": "[0, 1)",
    "ld_alpha": "[0, 1]",
    "f_alpha_divergence_coef": "[0, inf)",
    "discopop_tau": "(0, inf)",
    "precompute_ref_batch_size": "[1, inf)",
    "center_rewards_coefficient": "[0, inf)",
    "loss_weights": "[0, inf)",
    "reward_weights": "(-inf, inf)",  # a negative weight makes a reward a penalty
}


def key_range(f: dataclasses.Field) -> str | None:
    """The range a field's values must lie in: its metadata's "range", else TRAINER_KEY_RANGES' (None: none)."""
    return f.metadata.get("range") or TRAINER_KEY_RANGES.get(f.name)


def _bound(text: str) -> float:
    return float(text.replace("inf", "Infinity")) if "inf" in text else float(text)


def describe_range(spec: str) -> str:
    """ "[1, inf)" -> "at least 1"; "(0, 1]" -> "in (0, 1]"."""
    match = _RANGE.match(spec)
    if match is None:
        raise ValueError(f"not a range: {spec!r} (write it as [low, high), (low, inf), ...)")
    left, low, high, right, extra = match.groups()
    if math.isinf(_bound(high)) and not math.isinf(_bound(low)):
        text = f"at least {low}" if left == "[" else f"above {low}"
    elif math.isinf(_bound(low)) and not math.isinf(_bound(high)):
        text = f"at most {high}" if right == "]" else f"below {high}"
    elif left == "[" and right == "]":
        text = f"between {low} and {high}"
    else:
        text = f"in {left}{low}, {high}{right}"
    return f"{text} (or {extra})" if extra else text


def range_problem(value: Any, spec: str) -> str | None:
    """Why a number is outside `spec` ("must be at least 1, got 0"), or None when it is inside."""
    match = _RANGE.match(spec)
    if match is None:
        raise ValueError(f"not a range: {spec!r} (write it as [low, high), (low, inf), ...)")
    left, low, high, right, extra = match.groups()
    if extra and any(value == _bound(v) for v in extra.split(" or ")):
        return None
    lo, hi = _bound(low), _bound(high)
    inside = (lo <= value if left == "[" else lo < value) and (value <= hi if right == "]" else value < hi)
    return None if inside else f"must be {describe_range(spec)}, got {value}"


def coerce_field(value: Any, annotation: Any, f: dataclasses.Field) -> Any:
    """`coerce`, then the field's range (a ValueError saying why the value is outside it)."""
    typed = coerce(value, annotation)
    spec = key_range(f)
    if spec is not None:
        for number in typed if isinstance(typed, (list, tuple)) else [typed]:
            if isinstance(number, (int, float)) and not isinstance(number, bool):
                problem = range_problem(number, spec)
                if problem:
                    raise ValueError(problem)
    return typed


def did_you_mean(key: Any, known, prefix: str = "") -> str:
    """ "; did you mean 'x'?" for the known key closest to a misspelled one, or "": the hint of every config loader
    (stage configs, data/config.yaml, docs layouts)."""
    close = difflib.get_close_matches(str(key), list(known), n=1)
    return f"; did you mean '{prefix}{close[0]}'?" if close else ""


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


def parse_overrides(args: list[str]) -> dict[str, Any]:
    """`--key=value` (also `--key value`, and a bare `--flag` for true) -> {key: value text}: the one override syntax
    of every command line that takes config keys (stage scripts, eval.py, the data builders, the demo)."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or arg == "--":
            raise ConfigError(f"unexpected argument {arg!r}: write it as --key=value")
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
        return _float(value) if annotation is float else _int(value)
    if annotation is str:
        if isinstance(value, (dict, list)):
            raise ValueError(f"expected text, got {value!r}")
        return str(value)
    if isinstance(annotation, type) and issubclass(annotation, (str,)) or _is_enum(annotation):
        return annotation(value)
    return value


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number, got {value!r}") from None


def _int(value: Any) -> int:
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
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
