"""Packing: whether a model keeps packed samples apart when they share a row (checked on the model itself), and
packed rows kept as rows (the collator for bfd packing when attention is not flash attention).

## The isolation probe

Packing several conversations into one row is only correct when each attends to itself alone. Transformers builds
that block-diagonal mask from `position_ids` for models that use its masking utilities (StarCoder2, Llama, ...),
but not for every architecture on every attention backend (GPTBigCode on sdpa/eager attends across samples). So
instead of trusting a list, the chat stage runs this probe once before training and refuses to pack if it fails.

## Packed rows kept as rows

With `bfd` packing TRL collates padding-free: the batch's packed rows are joined into one flat row, with position
ids restarting at every sample. Flash attention's varlen kernels cut that row back into its samples. SDPA and eager
attention cannot: transformers gives them a block-diagonal mask over the whole flat row, so attention costs
(batch x length)^2 instead of batch x length^2, and the padding saved is lost several times over (on the CPU the
chat stage ran slower than TRL's padded default; benchmarks/bench_sft_throughput.py). This collator keeps each
packed row a row of its own, with the same position ids, no attention mask (transformers then reads the samples'
boundaries from the position ids, row by row) and the same labels; rows shorter than the longest are padded with
one-token "samples" that carry no loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from transformers import TrainerCallback
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

from luacoder.config import ConfigError
from luacoder.errors import UserError


def packing_isolates_samples(model, vocab_size: int) -> bool:
    """Run two short random samples packed in one row and one by one; True when the second's logits agree."""
    generator = torch.Generator().manual_seed(0)
    first = torch.randint(0, vocab_size, (1, 7), generator=generator)
    second = torch.randint(0, vocab_size, (1, 5), generator=generator)
    device = next(model.parameters()).device
    packed = torch.cat([first, second], dim=1).to(device)
    positions = torch.cat([torch.arange(7), torch.arange(5)]).unsqueeze(0).to(device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            # As in training: with a cache the packed-mask detection is skipped, so it must be off here too.
            together = model(input_ids=packed, position_ids=positions, use_cache=False).logits[0, 7:]
            alone = model(input_ids=second.to(device), use_cache=False).logits[0]
    finally:
        model.train(was_training)
    # Half-precision weights or autocast (bf16 training) round more than fp32; a leak moves logits far more.
    tolerance = 1e-4 if together.dtype == torch.float32 and alone.dtype == torch.float32 else 2e-2
    together, alone = together.float(), alone.float()
    scale = alone.abs().max().clamp_min(1e-6)
    return bool(((together - alone).abs().max() / scale) < tolerance)


def refuse_leaking_packing(args) -> None:
    """Refuse, before anything loads, TRL's `wrapped` packing: it cuts and joins samples into rows without
    position ids, so they attend to each other. `bfd` and `bfd_split` keep them apart (checked by the probe)."""
    if args.packing and args.packing_strategy == "wrapped":
        raise ConfigError(
            "packing_strategy 'wrapped' lets conversations attend to each other: use 'bfd' or 'bfd_split'"
        )


class PackingIsolationCheck(TrainerCallback):
    """Runs the probe when training starts: by then DeepSpeed has wrapped the model, so under ZeRO-3 the forward
    gathers the partitioned weights itself (before that, the local shards are empty)."""

    def __init__(self, vocab_size: int):
        self.vocab_size = vocab_size

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if not packing_isolates_samples(model, self.vocab_size):
            raise PackingLeakError(
                f"packing: this {model.config.model_type} model with attn_implementation="
                f"{model.config._attn_implementation} lets packed conversations attend to each other; set packing:"
                " false or use an attention implementation that honours position_ids (flash_attention_2)"
            )


class PackingLeakError(UserError, ValueError):
    """Packed samples would attend to each other with this model and attention implementation."""


@dataclass
class PackedRowsCollator(DataCollatorForLanguageModeling):
    """TRL's collator without the flattening: (batch, longest row) tensors with per-sample position ids."""

    padding_free: bool = False
    return_position_ids: bool = True

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = super().torch_call(examples)
        # Without a mask, transformers builds the per-sample causal mask from the position ids; padding sits at
        # position 0, so each pad token is a sample of its own.
        del batch["attention_mask"]
        # A sample's first token is not predicted from the sample before it (as TRL's padding-free collator does).
        batch["labels"][batch["position_ids"] == 0] = -100
        return batch


def uses_flash_attention(model) -> bool:
    return "flash" in (model.config._attn_implementation or "")


def keep_packed_rows_apart(trainer) -> bool:
    """Give an SFTTrainer that packs padding-free the PackedRowsCollator, unless the model uses flash attention
    (whose varlen kernels want the flat row). Returns whether it did.

    SFTTrainer refuses a custom collator with bfd packing, so the collator is replaced once it is built; the
    prepared dataset (input_ids, labels, seq_lengths) is the same for both collators."""
    if not trainer.padding_free or uses_flash_attention(trainer.model):
        return False
    trainer.data_collator = PackedRowsCollator(
        pad_token_id=trainer.data_collator.pad_token_id, pad_to_multiple_of=trainer.data_collator.pad_to_multiple_of
    )
    return True
