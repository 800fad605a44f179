"""Memory planning: DeepSpeed's own estimates of model-state memory for a model on a node shape, and which of the
shipped DeepSpeed configs to train it with.

The model is built on the meta device from its config (no weights, no download beyond config.json), counted the
way DeepSpeed counts (`model_to_params`: shared weights once, the largest layer's own parameters), and the counts go
to DeepSpeed's `estimate_zero2_model_states_mem_needs` / `estimate_zero3_model_states_mem_needs`, the functions
behind its `estimate_zero*_model_states_mem_needs_all_cold` tables. Model states are the 16-bit weights, gradients
and the fp32 Adam states of mixed-precision training; activations come on top, hence the headroom rule below.

Activations are estimated per micro-batch (`activation_estimate`) to say whether activation checkpointing is needed:
it recomputes every layer's forward in the backward pass (about a third more compute, 8 x N instead of 6 x N FLOPs
per token), which is worth paying only where model states plus activations would not fit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from transformers import AutoConfig, AutoModelForCausalLM, PretrainedConfig, Starcoder2Config

from luacoder.errors import UserError

GIB = 2**30
# Model states may take this share of a GPU's memory; the rest is for activations, communication buffers, the
# allocator's fragmentation and the CUDA context.
MODEL_STATE_SHARE = 0.6
# Model states plus activations may take this share; the rest is the CUDA context, NCCL and DeepSpeed buffers and
# the allocator's fragmentation.
ACTIVATION_SHARE = 0.85
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


class PlanError(UserError, ValueError):
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


# Per vocabulary entry and token: the 16-bit logits and their fp32 copy kept for the loss, then the fp32 gradient
# that exists beside everything kept while the backward pass starts.
LOGIT_BYTES_KEPT, LOGIT_GRADIENT_BYTES = 6, 4


@dataclass(frozen=True)
class ActivationEstimate:
    """Activation memory of one micro-batch on one GPU, in bytes, without and with activation checkpointing."""

    tokens: int
    plain: int
    checkpointed: int


def activation_estimate(config: PretrainedConfig, micro_batch: int, seq_length: int) -> ActivationEstimate:
    """What the backward pass needs kept from the forward, for a decoder of `config` in 16-bit with an attention
    that stores no score matrix (flash attention, SDPA's flash and memory-efficient kernels).

    Per token and layer, as Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large Transformer
    Models") count it, without dropout masks (StarCoder2 trains without dropout): the inputs of the two norms, of
    the q/k/v, output and MLP projections, the q/k/v themselves and the MLP's hidden activation before and after its
    nonlinearity, 2 bytes each. The logits add 10 bytes per vocabulary entry and token (16-bit logits, their fp32
    copy for the loss and its gradient; Liger's fused linear cross-entropy never builds them). With checkpointing a
    layer keeps only its input, and one layer's activations exist at a time during the recomputation."""
    hidden = config.hidden_size
    heads = config.num_attention_heads
    kv_width = getattr(config, "num_key_value_heads", None) or heads
    kv_width = kv_width * (getattr(config, "head_dim", None) or hidden // heads)
    intermediate = getattr(config, "intermediate_size", None) or getattr(config, "n_inner", None) or 4 * hidden
    layers = config.num_hidden_layers
    tokens = micro_batch * seq_length
    per_layer = 2 * (5 * hidden + hidden + 2 * kv_width + 2 * intermediate) * tokens
    logits = (LOGIT_BYTES_KEPT + LOGIT_GRADIENT_BYTES) * config.vocab_size * tokens
    layer_input = 2 * hidden * tokens
    return ActivationEstimate(tokens, layers * per_layer + logits, layers * layer_input + per_layer + logits)


def needs_activation_checkpointing(
    states_bytes: int, activations: ActivationEstimate, gpu_memory_gb: float, share: float = ACTIVATION_SHARE
) -> bool | None:
    """False when states plus plain activations fit in `share` of the GPU; True when only checkpointing fits;
    None when neither does (a smaller micro-batch is needed)."""
    budget = share * gpu_memory_gb * GIB
    if states_bytes + activations.plain <= budget:
        return False
    return True if states_bytes + activations.checkpointed <= budget else None


def format_activations(
    states_bytes: int, activations: ActivationEstimate, micro_batch: int, seq_length: int, gpu_memory_gb: float
) -> list[str]:
    needed = needs_activation_checkpointing(states_bytes, activations, gpu_memory_gb)
    verdict = {
        False: "activation_checkpointing: false (not needed: it would cost a third more compute)",
        True: "activation_checkpointing: true (needed: without it the activations do not fit)",
        None: "activation_checkpointing: true, and lower per_device_train_batch_size: even then it does not fit",
    }[needed]
    return [
        f"activations per GPU for a micro-batch of {micro_batch} x {seq_length} tokens: "
        f"{activations.plain / GIB:.1f} GiB, {activations.checkpointed / GIB:.1f} GiB with activation checkpointing;"
        f" with the recommended config's model states {(states_bytes + activations.plain) / GIB:.1f} GiB, of the"
        f" {ACTIVATION_SHARE * gpu_memory_gb:.1f} GiB ({ACTIVATION_SHARE:.0%} of {gpu_memory_gb:g} GiB) they may take",
        f"recommended: {verdict}",
    ]


def format_plan(
    name: str,
    size: ModelSize,
    estimates: list[Estimate],
    nodes: int,
    gpu_memory_gb: float,
    cpu_memory_gb: float | None = None,
    activations: ActivationEstimate | None = None,
    micro_batch: int = 4,
    seq_length: int = 2048,
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
        if activations is not None:
            lines += format_activations(choice.gpu_bytes, activations, micro_batch, seq_length, gpu_memory_gb)
    return "\n".join(lines)
