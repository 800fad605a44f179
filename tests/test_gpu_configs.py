"""The GPU configs users copy: their launch line is what `luacoder plan` recommends for the model they name, and
GRPO's vLLM rollout keys reach TRL's GRPOConfig."""

from __future__ import annotations

import importlib.util
import runpy
import shlex
import sys

import pytest
import yaml
from conftest import REPO
from trl import GRPOConfig

from luacoder.cli import main
from luacoder.config import parse_config
from luacoder.rl.data import PromptDataArguments
from luacoder.rl.lora import OptionalLoraArguments
from luacoder.rl.rewards import RewardArguments
from luacoder.train.model_setup import ModelArguments

STAGES = REPO / "deepspeed"
GPU_CONFIGS = sorted(
    p for p in [*STAGES.glob("*/config.yaml"), *STAGES.glob("RL/*.yaml")] if not p.stem.endswith("_cpu")
)
# Stages that put a preference pair's chosen and rejected answers through the model together.
PAIRED = ("dpo.yaml", "reward.yaml")


def plan_arguments(path) -> list[str]:
    """The `luacoder plan ...` command on the config's second line."""
    line = path.read_text().splitlines()[1]
    assert line.startswith("# luacoder plan "), f"{path}: line 2 should be the plan command its launch line follows"
    return shlex.split(line.removeprefix("# luacoder "))


def option(arguments: list[str], name: str) -> str:
    return arguments[arguments.index(name) + 1]


@pytest.mark.parametrize("path", GPU_CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_launch_line_is_what_plan_recommends_for_the_model_named(path, capsys):
    lines = path.read_text().splitlines()
    settings = yaml.safe_load(path.read_text())
    arguments = plan_arguments(path)
    # The model plan is asked about is the one the config trains: named, or the chat stage's output (which is the
    # chat config's model).
    named = settings["model_name_or_path"]
    chat_model = yaml.safe_load((STAGES / "chat" / "config.yaml").read_text())["model_name_or_path"]
    model = chat_model if named.startswith("../../outputs/") else named
    assert option(arguments, "--model_name_or_path") == model.removeprefix("bigcode/")
    assert option(arguments, "--gpus_per_node") == lines[0].split("--nproc_per_node=")[1].split()[0]
    pairs = 2 if path.name in PAIRED else 1
    assert int(option(arguments, "--micro_batch_size")) == pairs * settings["per_device_train_batch_size"]
    length = settings.get("max_length") or settings.get("seq_length")
    if length is not None:
        assert int(option(arguments, "--seq_length")) == length
    else:
        assert int(option(arguments, "--seq_length")) > settings["max_completion_length"]

    assert main(arguments) == 0
    printed = capsys.readouterr().out
    ds_config = lines[0].split("--deepspeed=")[1].split()[0]
    assert f"recommended: --deepspeed={ds_config}\n" in printed
    checkpointing = "true" if settings["activation_checkpointing"] else "false"
    assert f"recommended: activation_checkpointing: {checkpointing} " in printed
    assert settings.get("attn_implementation") == "auto"


def test_grpo_rollouts_go_to_vllm_in_colocate_mode(monkeypatch):
    monkeypatch.chdir(STAGES / "RL")
    *_, training = parse_config(
        [ModelArguments, PromptDataArguments, RewardArguments, OptionalLoraArguments, GRPOConfig],
        ["grpo.yaml", "--use_cpu=true", "--bf16=false"],
    )
    assert training.use_vllm is True and training.vllm_mode == "colocate"
    assert training.vllm_gpu_memory_utilization == 0.3
    # The plan line leaves vLLM its share of each GPU: training plans for the rest.
    gpu_memory = float(option(plan_arguments(STAGES / "RL" / "grpo.yaml"), "--gpu_memory_gb"))
    assert gpu_memory == pytest.approx(80 * (1 - training.vllm_gpu_memory_utilization))


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_grpo_without_vllm_installed_stops_before_loading_anything(monkeypatch):
    from luacoder.config import ConfigError

    monkeypatch.chdir(STAGES / "RL")
    monkeypatch.setattr(sys, "argv", ["grpo.py", "grpo.yaml", "--use_cpu=true", "--bf16=false"])
    with pytest.raises(ConfigError, match=r"use_vllm: true needs vllm .*or --use_vllm=false"):
        runpy.run_path("grpo.py", run_name="__main__")
