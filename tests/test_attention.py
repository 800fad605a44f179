"""luacoder.train.attention: flash attention where it can run (and then TRL's flat padding-free row), SDPA else."""

from __future__ import annotations

import types

import pytest

from luacoder.train.attention import choose_attn_implementation
from luacoder.train.model_setup import ModelArguments, load_model
from luacoder.train.packing import uses_flash_attention


@pytest.mark.parametrize(
    ("requested", "dtype", "cuda", "installed", "chosen"),
    [
        ("auto", "bfloat16", True, "flash_attention_2", "flash_attention_2"),
        ("auto", "float16", True, "flash_attention_3", "flash_attention_3"),
        (None, "bfloat16", True, "flash_attention_2", "flash_attention_2"),
        ("auto", "bfloat16", True, None, "sdpa"),  # not installed
        ("auto", "float32", True, "flash_attention_2", "sdpa"),  # flash kernels take half precision only
        ("auto", "auto", True, "flash_attention_2", "sdpa"),  # the checkpoint's dtype is not known yet
        ("auto", "bfloat16", False, "flash_attention_2", "sdpa"),  # no GPU
        (None, "bfloat16", False, "flash_attention_2", None),  # unset: transformers' own default
        ("sdpa", "bfloat16", True, "flash_attention_2", "sdpa"),  # named: as named
        ("eager", "float32", False, None, "eager"),
        ("kernels-community/flash-attn2", "bfloat16", True, None, "kernels-community/flash-attn2"),
    ],
)
def test_auto_picks_installed_flash_attention_on_a_gpu_in_half_precision(requested, dtype, cuda, installed, chosen):
    assert choose_attn_implementation(requested, dtype, cuda=cuda, installed=installed) == chosen


def test_this_machine_without_a_gpu_loads_sdpa_for_auto(tiny_model_dir):
    model = load_model(
        ModelArguments(model_name_or_path=str(tiny_model_dir("starcoder2")), attn_implementation="auto")
    )
    assert model.config._attn_implementation == "sdpa"


def test_load_model_loads_what_was_chosen(tiny_model_dir, monkeypatch):
    import luacoder.train.model_setup as model_setup

    asked = []
    monkeypatch.setattr(model_setup, "choose_attn_implementation", lambda name, dtype: asked.append(name) or "eager")
    model = load_model(
        ModelArguments(model_name_or_path=str(tiny_model_dir("starcoder2")), attn_implementation="auto")
    )
    assert asked == ["auto"] and model.config._attn_implementation == "eager"


@pytest.mark.parametrize(
    ("name", "flat"),
    [
        ("flash_attention_2", True),
        ("flash_attention_3", True),
        ("kernels-community/flash-attn2", True),
        ("kernels-community/vllm-flash-attn3", True),
        ("sdpa", False),
        ("eager", False),
    ],
)
def test_flash_implementations_keep_trl_flat_padding_free_row(name, flat):
    model = types.SimpleNamespace(config=types.SimpleNamespace(_attn_implementation=name))
    assert uses_flash_attention(model) is flat
