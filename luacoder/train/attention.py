"""Which attention implementation a stage loads its model with.

Packed SFT rows are fastest under flash attention: TRL's padding-free collator joins a batch's packed rows into one
flat row, and flash attention's varlen kernels attend within each sample only (sum of l_i^2 work). SDPA cannot take
that row without a block-diagonal mask, which its flash kernel does not accept, so there the chat stage keeps the
packed rows apart (`luacoder.train.packing`) and each row pays L^2.

`attn_implementation: auto` (and leaving it unset) therefore picks flash attention where it can run: a CUDA GPU,
half-precision weights, and the package installed (`requirements/gpu.txt`): flash_attention_3 (Hopper,
`flash_attn_interface`) before flash_attention_2 (`flash_attn`). Anything named explicitly is passed to
transformers as it is, hub kernels such as `kernels-community/flash-attn2` included (with the `kernels` package,
transformers also falls back to that hub kernel for `flash_attention_2` when flash-attn is not installed).
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

AUTO = "auto"
HALF_DTYPES = ("bfloat16", "float16")


def installed_flash_attention() -> str | None:
    """The best flash attention transformers can run on this machine's GPU, by installed package; else None."""
    from transformers.utils import is_flash_attn_2_available, is_flash_attn_3_available

    if is_flash_attn_3_available():
        return "flash_attention_3"
    if is_flash_attn_2_available():
        return "flash_attention_2"
    return None


def choose_attn_implementation(
    requested: str | None, dtype: str, *, cuda: bool | None = None, installed: str | None = AUTO
) -> str | None:
    """The `attn_implementation` to load with: `requested` unless it is `auto` or unset, which become the
    installed flash attention on a GPU in bf16/fp16, else `sdpa` (`auto`) or transformers' own default (unset).
    `cuda` and `installed` default to this machine's."""
    if requested not in (None, AUTO):
        return requested
    if cuda is None:
        import torch

        cuda = torch.cuda.is_available()
    fallback = "sdpa" if requested == AUTO else None
    if not cuda:
        return fallback
    flash = installed_flash_attention() if installed == AUTO else installed
    if flash is None:
        logger.info("attention: flash-attn is not installed (requirements/gpu.txt); using sdpa")
        return fallback
    if dtype not in HALF_DTYPES:
        logger.info("attention: flash attention needs dtype bfloat16 or float16 (dtype is %s); using sdpa", dtype)
        return fallback
    return flash
