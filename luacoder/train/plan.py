"""Memory planning: DeepSpeed's own estimates of model-state memory for a model on a node shape, and which of the
shipped DeepSpeed configs to train it with.

The model is built on the meta device from its config (no weights, no download beyond config.json), counted the
way DeepSpeed counts (`model_to_params`: shared weights once, the largest layer's own parameters), and the counts go
to DeepSpeed's `estimate_zero2_model_states_mem_needs` / `estimate_zero3_model_states_mem_needs`, the functions
behind its `estimate_zero*_model_states_mem_needs_all_cold` tables. Model states are the 16-bit weights, gradients
and the fp32 Adam states of mixed-precision training; activations come on top, hence the headroom rule below.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from transformers import AutoConfig, AutoModelForCausalLM, PretrainedConfig, Starcoder2Config

GIB = 2**30
# Model states may take this share of a GPU's memory; the rest is for activations, communication buffers, the
# allocator's fragmentation and the CUDA context.
MODEL_STATE_SHARE = 0.6
# DeepSpeed's default: its estimates multiply the CPU-side buffers by this.
ADDITIONAL_BUFFER_FACTOR = 1.5

# The public config.json values of the StarCoder2 checkpoints (all: GQA, biases, tied embeddings, 16k context),
# so that planning for them needs no network.
_STARCODER2 = dict(
    vocab_size=49152, max_position_embeddings=16384, sliding_window=4096, use_bias=True, bos_token_id=0, eos_token_id=0
)
PRESETS: dict[str, dict] = {
    "starcoder2-3b": dict(
        hidden_size=3072, num_hidden_layers=30, num_attention_heads=24, num_key_value_heads=2, intermediate_size=12288
    ),
    "starcoder2-7b": dict(
        hidden_size=4608, num_hidden_layers=32, num_attention_heads=36, num_key_value_heads=4, intermediate_size=18432
    ),
    "starcoder2-15b": dict(
        hidden_size=6144, num_hidden_layers=40, num_attention_heads=48, num_key_value_heads=4, intermediate_size=24576
    ),
}


class PlanError(ValueError):
    """The model to plan for cannot be found."""


@dataclass(frozen=True)
class ModelSize:
    total_params: int
    largest_layer_params: int


@dataclass(frozen=True)
class Option:
    """One way to train: a ZeRO stage and what it offloads to the CPU; `ds_config` names the shipped config."""

    stage: int
    offload_optimizer: bool
    offload_params: bool
    ds_config: str | None

    @property
    def offload(self) -> str:
        parts = [name for name, on in (("optimizer", self.offload_optimizer), ("params", self.offload_params)) if on]
        return "+".join(parts) or "none"


# Fastest first: ZeRO-2 keeps whole 16-bit weights on every GPU (no gathering in the forward), ZeRO-3 partitions
# them (an all-gather per layer), offloading moves states over PCIe to the CPU, where Adam steps slowly.
OPTIONS = [
    Option(2, False, False, "zero2.json"),
    Option(2, True, False, None),
    Option(3, False, False, "zero3_bf16.json"),
    Option(3, True, False, None),
    Option(3, True, True, "zero3_offload.json"),
]


@dataclass(frozen=True)
class Estimate:
    option: Option
    gpu_bytes: int  # per GPU
    cpu_bytes: int  # per node
    gpus_per_node: int

    @property
    def gpu_bytes_per_node(self) -> int:
        return self.gpu_bytes * self.gpus_per_node


def load_config(model: str, trust_remote_code: bool = False) -> tuple[PretrainedConfig, str]:
    """The config of a preset name (`starcoder2-7b`, or its hub id `bigcode/starcoder2-7b`), a local folder or
    config.json, or a hub id; and where it came from."""
    preset = model.lower().removeprefix("bigcode/")
    if preset in PRESETS:
        return Starcoder2Config(**_STARCODER2, **PRESETS[preset]), f"built-in preset {preset}"
    try:
        config = AutoConfig.from_pretrained(model, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise PlanError(
            f"{model}: not a preset ({', '.join(PRESETS)}), nor a model folder or config.json here, and the hub"
            f" did not give its config: {exc}"
        ) from exc
    return config, model


def count_params(config: PretrainedConfig, trust_remote_code: bool = False) -> ModelSize:
    """Parameters of the causal LM `config` describes, counted as DeepSpeed's `model_to_params` does, on a model
    built on the meta device (no memory for weights)."""
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
    # parameters() yields a tied weight once; DeepSpeed dedups by data_ptr, which meta tensors do not have.
    total = sum(p.numel() for p in model.parameters())
    largest = max(sum(p.numel() for p in m.parameters(recurse=False)) for m in model.modules())
    return ModelSize(total, largest)


def estimate(size: ModelSize, gpus_per_node: int, nodes: int) -> list[Estimate]:
    """DeepSpeed's model-state estimates for every option, as its `*_all_cold` tables print them (ZeRO-3 with
    zero.Init, as `from_pretrained` uses it under a ZeRO-3 config)."""
    estimate_zero2_model_states_mem_needs, estimate_zero3_model_states_mem_needs = _deepspeed_estimators()
    if gpus_per_node < 1 or nodes < 1:
        raise ValueError(f"need at least one GPU and one node, got {gpus_per_node} GPUs x {nodes} nodes")
    out = []
    for option in OPTIONS:
        shape = dict(
            num_gpus_per_node=gpus_per_node, num_nodes=nodes, additional_buffer_factor=ADDITIONAL_BUFFER_FACTOR
        )
        if option.stage == 2:
            cpu, gpu = estimate_zero2_model_states_mem_needs(
                size.total_params, cpu_offload=option.offload_optimizer, **shape
            )
        else:
            cpu, gpu, _ = estimate_zero3_model_states_mem_needs(
                size.total_params,
                size.largest_layer_params,
                cpu_offload=option.offload_optimizer,
                cpu_offload_params=option.offload_params,
                zero_init=True,
                **shape,
            )
        out.append(Estimate(option, gpu_bytes=gpu, cpu_bytes=cpu, gpus_per_node=gpus_per_node))
    return out


def _deepspeed_estimators():
    """DeepSpeed's estimate functions. Importing DeepSpeed detects the accelerator and, on a machine without a GPU,
    warns on stdout that it falls back to the CPU; planning runs nothing on a device, so that warning is dropped."""
    quiet = _DropMessage("Setting accelerator to CPU")
    ds_logger = logging.getLogger("DeepSpeed")  # the logger DeepSpeed creates on import: the filter stays on it
    ds_logger.addFilter(quiet)
    try:
        from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
        from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs
    finally:
        ds_logger.removeFilter(quiet)
    return estimate_zero2_model_states_mem_needs, estimate_zero3_model_states_mem_needs


class _DropMessage(logging.Filter):
    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefix)


def recommend(
    estimates: list[Estimate],
    gpu_memory_gb: float,
    cpu_memory_gb: float | None = None,
    share: float = MODEL_STATE_SHARE,
) -> Estimate | None:
    """The fastest shipped config whose model states fit in `share` of a GPU's memory (and in the node's CPU
    memory, when given); None when none does."""
    for item in estimates:
        if item.option.ds_config is None:
            continue
        if item.gpu_bytes > share * gpu_memory_gb * GIB:
            continue
        if cpu_memory_gb is not None and item.cpu_bytes > cpu_memory_gb * GIB:
            continue
        return item
    return None


def rule(gpu_memory_gb: float, cpu_memory_gb: float | None = None, share: float = MODEL_STATE_SHARE) -> str:
    shipped = ", ".join(o.ds_config for o in OPTIONS if o.ds_config)
    cpu = f" and the node's CPU estimate fits in {cpu_memory_gb:g} GiB" if cpu_memory_gb is not None else ""
    return (
        f"the first of {shipped} (fastest first) whose model states per GPU fit in {share:.0%} of the GPU's"
        f" {gpu_memory_gb:g} GiB ({share * gpu_memory_gb:.1f} GiB){cpu}; the rest is left for activations,"
        " communication buffers and the CUDA context"
    )


def format_plan(
    name: str,
    size: ModelSize,
    estimates: list[Estimate],
    nodes: int,
    gpu_memory_gb: float,
    cpu_memory_gb: float | None = None,
) -> str:
    gpus = estimates[0].gpus_per_node
    lines = [
        f"{name}: {size.total_params / 1e9:.2f}B parameters, largest layer {size.largest_layer_params / 1e6:.1f}M;"
        f" {nodes} node(s) x {gpus} GPU(s) of {gpu_memory_gb:g} GiB",
        "DeepSpeed's estimates of model-state memory (16-bit weights and gradients, fp32 Adam states; activations"
        " not included), GiB:",
        "",
        f"{'config':<20} {'ZeRO':>4}  {'offload':<16} {'per GPU':>8} {'GPUs/node':>10} {'CPU/node':>9}",
    ]
    for item in estimates:
        lines.append(
            f"{item.option.ds_config or '(not shipped)':<20} {item.option.stage:>4}  {item.option.offload:<16}"
            f" {item.gpu_bytes / GIB:>8.2f} {item.gpu_bytes_per_node / GIB:>10.2f} {item.cpu_bytes / GIB:>9.2f}"
        )
    choice = recommend(estimates, gpu_memory_gb, cpu_memory_gb)
    lines += ["", f"rule: {rule(gpu_memory_gb, cpu_memory_gb)}"]
    if choice is None:
        lines.append("recommended: none fits; add GPUs or nodes, or use GPUs with more memory")
    else:
        lines.append(f"recommended: --deepspeed=../ds_configs/{choice.option.ds_config}")
    return "\n".join(lines)
