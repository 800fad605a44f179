"""Packed rows kept as rows: the collator for bfd packing when attention is not flash attention.

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

from trl.trainer.sft_trainer import DataCollatorForLanguageModeling


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
