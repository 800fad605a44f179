"""`luacoder plan`: parameter counts and memory estimates equal DeepSpeed's own; the recommendation rule."""

from __future__ import annotations

import re

import pytest
from deepspeed.runtime.zero import stage3, stage_1_and_2
from transformers import AutoModelForCausalLM

from luacoder.cli import main
from luacoder.train.plan import (
    GIB,
    MODEL_STATE_SHARE,
    OPTIONS,
    Estimate,
    ModelSize,
    PlanError,
    count_params,
    estimate,
    load_config,
    recommend,
)
from luacoder.train.tiny_model import tiny_config


@pytest.mark.parametrize("family", ["starcoder2", "gpt_bigcode"])
def test_parameters_counted_on_the_meta_device_equal_deepspeeds_count_of_the_real_model(tokenizer, family):
    config = tiny_config(family, tokenizer)
    real = AutoModelForCausalLM.from_config(config)
    total, largest = stage3.model_to_params(real)
    assert count_params(config) == ModelSize(total, largest)
    assert stage_1_and_2.model_to_params(real) == total
    if family == "starcoder2":  # tied embeddings count once
        assert (
            total == sum(p.numel() for p in real.parameters()) < sum(p.numel() for _, p in real.state_dict().items())
        )


def test_estimates_are_deepspeeds_own_numbers(tokenizer):
    size = count_params(tiny_config("starcoder2", tokenizer))
    for item in estimate(size, gpus_per_node=4, nodes=2):
        shape = dict(num_gpus_per_node=4, num_nodes=2, cpu_offload=item.option.offload_optimizer)
        if item.option.stage == 2:
            expected = stage_1_and_2.estimate_zero2_model_states_mem_needs(size.total_params, **shape)
        else:
            expected = stage3.estimate_zero3_model_states_mem_needs(
                size.total_params,
                size.largest_layer_params,
                cpu_offload_params=item.option.offload_params,
                zero_init=True,
                **shape,
            )[:2]
        assert (item.cpu_bytes, item.gpu_bytes) == expected
        assert item.gpu_bytes_per_node == 4 * item.gpu_bytes


def _printed_table(capsys) -> dict[str, tuple[str, str]]:
    """DeepSpeed's *_all_cold table: options -> (per CPU, per GPU) as printed, in GB of 2**30 bytes."""
    rows = re.findall(r"^\s*([\d.]+)GB \|\s*([\d.]+)GB \| (.+)$", capsys.readouterr().out, re.MULTILINE)
    # The offload device prints as `cpu ` or `OffloadDeviceEnum.cpu`, depending on the Python version.
    return {re.sub(r"\s|OffloadDeviceEnum\.", "", options): (cpu, gpu) for cpu, gpu, options in rows}


def test_the_starcoder2_7b_plan_matches_the_tables_deepspeed_prints(capsys):
    config, source = load_config("starcoder2-7b")
    assert source == "built-in preset starcoder2-7b" and load_config("bigcode/starcoder2-7b")[0] == config
    size = count_params(config)
    assert 7.1e9 < size.total_params < 7.2e9  # the published 7.17B
    capsys.readouterr()
    stage_1_and_2.estimate_zero2_model_states_mem_needs_all_cold(size.total_params, num_gpus_per_node=8, num_nodes=1)
    zero2 = _printed_table(capsys)
    stage3.estimate_zero3_model_states_mem_needs_all_cold(
        size.total_params, size.largest_layer_params, num_gpus_per_node=8, num_nodes=1
    )
    zero3 = _printed_table(capsys)
    ours = {item.option: item for item in estimate(size, gpus_per_node=8, nodes=1)}
    printed = {
        OPTIONS[0]: zero2["offload_optimizer=none"],
        OPTIONS[1]: zero2["offload_optimizer=cpu"],
        OPTIONS[2]: zero3["offload_param=none,offload_optimizer=none,zero_init=1"],
        OPTIONS[3]: zero3["offload_param=none,offload_optimizer=cpu,zero_init=1"],
        OPTIONS[4]: zero3["offload_param=cpu,offload_optimizer=cpu,zero_init=1"],
    }
    for option, (cpu, gpu) in printed.items():
        assert (f"{ours[option].cpu_bytes / GIB:.2f}", f"{ours[option].gpu_bytes / GIB:.2f}") == (cpu, gpu), option


def _estimates(gpu_gib: dict[str | None, float], cpu_gib: float = 10.0) -> list[Estimate]:
    by_config = {o.ds_config or f"{o.stage}-{o.offload}": o for o in OPTIONS}
    return [
        Estimate(by_config[name], gpu_bytes=int(gib * GIB), cpu_bytes=int(cpu_gib * GIB), gpus_per_node=8)
        for name, gib in gpu_gib.items()
    ]


def test_the_fastest_shipped_config_that_leaves_headroom_is_recommended():
    fits = MODEL_STATE_SHARE * 80
    options = {"zero2.json": fits, "2-optimizer": 1, "zero3_bf16.json": 1, "3-optimizer": 1, "zero3_offload.json": 1}
    assert recommend(_estimates(options), gpu_memory_gb=80).option.ds_config == "zero2.json"  # exactly at the limit
    options["zero2.json"] = fits + 0.01
    # Unshipped options are never recommended, however well they fit.
    assert recommend(_estimates(options), gpu_memory_gb=80).option.ds_config == "zero3_bf16.json"
    options["zero3_bf16.json"] = 79
    assert recommend(_estimates(options), gpu_memory_gb=80).option.ds_config == "zero3_offload.json"
    options["zero3_offload.json"] = 50
    assert recommend(_estimates(options), gpu_memory_gb=80) is None
    options["zero2.json"] = 70
    assert recommend(_estimates(options), gpu_memory_gb=100).option.ds_config == "zero3_offload.json"
    assert recommend(_estimates(options, cpu_gib=64), gpu_memory_gb=100, cpu_memory_gb=63) is None


def test_starcoder2_recommendations_on_80_gib_gpus(capsys):
    assert main(["plan", "--model_name_or_path", "starcoder2-7b", "--gpus_per_node", "8", "--nodes", "1"]) == 0
    out = capsys.readouterr().out
    assert "7.17B parameters" in out and "recommended: --deepspeed=../ds_configs/zero2.json" in out
    assert "rule: the first of zero2.json, zero3_bf16.json, zero3_offload.json" in out
    assert main(["plan", "--model_name_or_path", "starcoder2-15b", "--gpus_per_node", "8"]) == 0
    assert "recommended: --deepspeed=../ds_configs/zero3_bf16.json" in capsys.readouterr().out
    assert main(["plan", "--model_name_or_path", "starcoder2-15b", "--gpus_per_node", "8", "--nodes", "2"]) == 0
    assert "recommended: --deepspeed=../ds_configs/zero2.json" in capsys.readouterr().out
    args = ["plan", "--model_name_or_path", "starcoder2-15b", "--gpus_per_node", "1", "--gpu_memory_gb", "24"]
    assert main(args) == 0
    assert "recommended: --deepspeed=../ds_configs/zero3_offload.json" in capsys.readouterr().out
    assert main([*args, "--cpu_memory_gb", "128"]) == 1
    assert "recommended: none fits" in capsys.readouterr().out


def test_a_local_config_is_planned_and_a_missing_one_is_a_clear_error(tmp_path, tokenizer, capsys):
    tiny_config("starcoder2", tokenizer).save_pretrained(tmp_path / "tiny")
    assert main(["plan", "--model_name_or_path", str(tmp_path / "tiny"), "--gpus_per_node", "2"]) == 0
    assert "recommended: --deepspeed=../ds_configs/zero2.json" in capsys.readouterr().out
    with pytest.raises(PlanError, match="missing: not a preset"):
        load_config(str(tmp_path / "missing"))
    assert main(["plan", "--model_name_or_path", str(tmp_path / "missing")]) == 2
    assert "luacoder plan: error: " in capsys.readouterr().err


def _saved_activation_bytes(model, micro_batch: int, seq_length: int) -> int:
    """Bytes of the tensors autograd keeps from a training forward for the backward (weights not counted)."""
    import torch

    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def keep(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    ids = torch.randint(
        0, model.config.vocab_size, (micro_batch, seq_length), generator=torch.Generator().manual_seed(0)
    )
    with torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor):
        model(input_ids=ids, labels=ids)
    return sum(saved.values())


@pytest.mark.parametrize("checkpointing", [False, True])
def test_the_activation_estimate_is_what_autograd_keeps_of_a_bf16_starcoder2(checkpointing):
    import torch
    from transformers import Starcoder2Config

    from luacoder.train.plan import LOGIT_BYTES_KEPT, LOGIT_GRADIENT_BYTES, activation_estimate

    config = Starcoder2Config(
        vocab_size=1024,
        hidden_size=256,
        intermediate_size=1024,
        num_hidden_layers=4,
        num_attention_heads=8,
        num_key_value_heads=2,
        sliding_window=None,
        bos_token_id=0,
        eos_token_id=0,
    )
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16, attn_implementation="sdpa").train()
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    measured = _saved_activation_bytes(model, 2, 256)
    estimate_ = activation_estimate(config, 2, 256)
    # With checkpointing the forward keeps the layer inputs; one layer's activations come back in the backward.
    # The logits' gradient is no saved tensor: it comes in the backward pass, beside what was kept.
    logits = LOGIT_BYTES_KEPT * config.vocab_size * estimate_.tokens
    gradient = LOGIT_GRADIENT_BYTES * config.vocab_size * estimate_.tokens
    per_layer = (estimate_.plain - logits - gradient) // config.num_hidden_layers
    expected = (estimate_.checkpointed - per_layer if checkpointing else estimate_.plain) - gradient
    assert 0.75 * expected <= measured <= 1.05 * expected, (measured, expected)


def test_plan_says_whether_activation_checkpointing_is_needed(capsys):
    from luacoder.train.plan import ActivationEstimate, needs_activation_checkpointing

    gib = ActivationEstimate(tokens=1, plain=40 * GIB, checkpointed=10 * GIB)
    assert needs_activation_checkpointing(20 * GIB, gib, gpu_memory_gb=80) is False  # 60 of 68 GiB
    assert needs_activation_checkpointing(40 * GIB, gib, gpu_memory_gb=80) is True
    assert needs_activation_checkpointing(60 * GIB, gib, gpu_memory_gb=80) is None
    assert main(["plan", "--model_name_or_path", "starcoder2-3b"]) == 0
    assert "recommended: activation_checkpointing: false" in capsys.readouterr().out
    assert main(["plan", "--model_name_or_path", "starcoder2-15b"]) == 0
    assert "recommended: activation_checkpointing: true (needed" in capsys.readouterr().out
