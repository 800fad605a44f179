"""The tiny StarCoder-family model factory: builds from a config, saves safetensors, reloads and generates."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from luacoder.train.tiny_model import build_model, tiny_config


@pytest.mark.parametrize("family, model_type", [("starcoder2", "starcoder2"), ("gpt_bigcode", "gpt_bigcode")])
def test_tiny_model_reloads_with_identical_weights_and_logits(tiny_model_dir, tokenizer, family, model_type):
    folder = tiny_model_dir(family)
    assert (folder / "model.safetensors").is_file()
    assert not list(folder.glob("*.bin"))
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert model.config.model_type == model_type
    assert model.config.vocab_size == len(tokenizer)
    fresh = build_model(tiny_config(family, tokenizer), tokenizer, seed=0).eval()
    ids = torch.tensor([tokenizer.encode("print(string.format('%d', 42))")])
    with torch.no_grad():
        assert torch.equal(model(ids).logits, fresh(ids).logits)
    assert sum(p.numel() for p in model.parameters()) < 2_000_000


def test_tiny_model_generates_and_stops_at_end_of_turn(tiny_model_dir, tokenizer):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir("starcoder2"))
    end_id = tokenizer.convert_tokens_to_ids("<|end|>")
    assert set(model.generation_config.eos_token_id) == {tokenizer.eos_token_id, end_id}
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    out = model.generate(**prompt, max_new_tokens=8, do_sample=False)
    assert out.shape[1] > prompt["input_ids"].shape[1]
    # Force <|end|> as the third new token: generation must stop right there, not run to max_new_tokens.
    start = prompt["input_ids"].shape[1]

    def force_end(batch_ids, scores):
        if batch_ids.shape[1] == start + 2:
            scores[:] = -float("inf")
            scores[:, end_id] = 0.0
        return scores

    forced = model.generate(**prompt, max_new_tokens=8, do_sample=False, logits_processor=[force_end])
    new = forced[0, start:].tolist()
    assert len(new) == 3 and new[-1] == end_id


def test_seed_changes_the_weights(tokenizer):
    a = build_model(tiny_config("starcoder2", tokenizer), tokenizer, seed=0)
    b = build_model(tiny_config("starcoder2", tokenizer), tokenizer, seed=1)
    assert not torch.equal(a.model.embed_tokens.weight, b.model.embed_tokens.weight)


def test_unknown_family_is_a_clear_error(tokenizer):
    with pytest.raises(ValueError, match="unknown model family 'llama'.*starcoder2"):
        tiny_config("llama", tokenizer)
