"""deepspeed/RL/sft_lora.py and merge_lora.py: the dialogue tokens' rows train under LoRA, are saved with the adapter,
and come back on load and on merge; the merged model generates what base+adapter generates."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from conftest import BUNDLED_DOCS, REPO
from datasets import Dataset
from stage_helpers import CPU_ZERO3, losses, torchrun, write_jsonl
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast
from trl import SFTConfig, SFTTrainer

from luacoder.config import ConfigError
from luacoder.dialogue import DIALOGUE_TOKENS
from luacoder.rl.lora import (
    LoraArguments,
    OptionalLoraArguments,
    QLoraUnavailable,
    load_adapter_model,
    lora_config,
    merge_adapter,
    quantization_config,
)
from luacoder.train.model_setup import ensure_chat_format
from luacoder.train.tiny_model import save_tiny_model

ROWS = [
    {
        "messages": [
            {"role": "user", "content": "Repeat ab three times."},
            {"role": "assistant", "content": 'print(string.rep("ab", 3))'},
        ]
    },
    {
        "messages": [
            {"role": "system", "content": "You write Lua."},
            {"role": "user", "content": "Join a table"},
            {"role": "assistant", "content": 'print(table.concat({1, 2}, ","))'},
        ]
    },
]


def base_without_dialogue_tokens(folder, **config) -> int:
    """A tiny model whose tokenizer lacks the dialogue tokens, as a hub base does; returns its vocabulary size."""
    texts = [p.read_text() for p in sorted(BUNDLED_DOCS.glob("*.md"))]
    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    raw.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=600, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    save_tiny_model("starcoder2", tokenizer, folder, seed=0, hidden_size=64, intermediate_size=128, **config)
    return len(tokenizer)


def _prompt(tokenizer):
    messages = [{"role": "user", "content": "Join a table"}]
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)


def _assert_merged_equals_base_plus_adapter(adapter_dir, merged_dir, trained_rows: dict[str, torch.Tensor]):
    peft_model, tokenizer = load_adapter_model(adapter_dir)
    merged = AutoModelForCausalLM.from_pretrained(merged_dir)
    ids = tokenizer.convert_tokens_to_ids(DIALOGUE_TOKENS)
    for model in (peft_model, merged):  # the trained rows are restored by the adapter and written by the merge
        assert torch.equal(model.get_input_embeddings().weight[ids].detach(), trained_rows["input"])
        assert torch.equal(model.get_output_embeddings().weight[ids].detach(), trained_rows["output"])
    prompt = _prompt(tokenizer)
    with torch.no_grad():
        torch.testing.assert_close(merged(**prompt).logits, peft_model(**prompt).logits, rtol=1e-4, atol=1e-5)
        with peft_model.disable_adapter():  # ... and the adapter does change the model
            assert not torch.allclose(peft_model(**prompt).logits, merged(**prompt).logits, atol=1e-3)
    expected = peft_model.generate(**prompt, max_new_tokens=16, do_sample=False)
    assert torch.equal(merged.generate(**prompt, max_new_tokens=16, do_sample=False), expected)
    assert not (merged_dir / "adapter_config.json").exists() and (merged_dir / "model.safetensors").is_file()
    assert AutoTokenizer.from_pretrained(merged_dir).chat_template == tokenizer.chat_template
    return merged


def test_qlora_says_plainly_what_it_needs():
    with pytest.raises(QLoraUnavailable, match="load_in_4bit \\(QLoRA\\) needs bitsandbytes and a CUDA GPU"):
        quantization_config(LoraArguments(load_in_4bit=True), "bfloat16")
    assert quantization_config(LoraArguments(), "bfloat16") is None
    with pytest.raises(ConfigError, match="set use_peft: true"):
        OptionalLoraArguments(load_in_4bit=True)


@pytest.mark.slow
def test_an_untied_output_head_trains_its_own_dialogue_rows_and_merges(tmp_path):
    base_without_dialogue_tokens(tmp_path / "base", tie_word_embeddings=False)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "base")
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "base")
    assert ensure_chat_format(tokenizer, model) == DIALOGUE_TOKENS
    ids = tokenizer.convert_tokens_to_ids(DIALOGUE_TOKENS)
    before = {
        "input": model.get_input_embeddings().weight[ids].detach().clone(),
        "output": model.get_output_embeddings().weight[ids].detach().clone(),
    }
    config = lora_config(LoraArguments(lora_r=4, lora_dropout=0.0), model)
    assert config.modules_to_save == ["model.embed_tokens", "lm_head"] and not config.ensure_weight_tying
    args = SFTConfig(
        output_dir=str(tmp_path / "run"),
        assistant_only_loss=True,
        max_length=64,
        use_cpu=True,
        bf16=False,
        report_to="none",
        per_device_train_batch_size=4,
        max_steps=3,
        learning_rate=1e-2,
        save_strategy="no",
        activation_checkpointing=False,
    )
    dataset = Dataset.from_list(ROWS * 2)
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer, peft_config=config)
    trainer.train()
    trained = {
        "input": trainer.model.get_input_embeddings().weight[ids].detach().clone(),
        "output": trainer.model.get_output_embeddings().weight[ids].detach().clone(),
    }
    for side in ("input", "output"):  # every new row moved, the output rows on their own
        assert ((trained[side] - before[side]).abs().amax(dim=1) > 0).all(), side
    assert not torch.equal(trained["input"], trained["output"])
    trainer.save_model(tmp_path / "adapter")

    merge_adapter(tmp_path / "adapter", tmp_path / "merged")
    merged = _assert_merged_equals_base_plus_adapter(tmp_path / "adapter", tmp_path / "merged", trained)
    assert not merged.config.tie_word_embeddings


@pytest.mark.slow
@pytest.mark.multiprocess
def test_sft_lora_under_zero3_trains_the_new_tokens_and_merge_lora_reproduces_it(tmp_path):
    """The tied StarCoder2 case: dialogue tokens added to a base that lacks them, 2-process ZeRO-3."""
    old_vocab = base_without_dialogue_tokens(tmp_path / "base")
    data = write_jsonl(tmp_path / "train.jsonl", ROWS * 12)
    out = tmp_path / "out"
    torchrun(
        "RL",
        "sft_lora.py",
        "sft_lora_cpu.yaml",
        CPU_ZERO3,
        f"--model_name_or_path={tmp_path / 'base'}",
        f"--train_file={data}",
        "--test_file=none",
        f"--output_dir={out}",
        "--max_steps=6",
        "--per_device_train_batch_size=2",
        "--save_strategy=steps",
        "--save_steps=6",
        "--eval_strategy=no",
        "--logging_steps=1",
        "--report_to=none",
        "--learning_rate=1e-2",
        "--lr_scheduler_type=constant",
        "--warmup_steps=0",
    )
    history = losses(out)
    assert len(history) == 6 and history[-1] < history[0]

    adapter_config = json.loads((out / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == str(tmp_path / "base")  # absolute: merge runs anywhere
    # Tied: PEFT trains one copy of the embedding and ties the head to it.
    assert adapter_config["modules_to_save"] == ["model.embed_tokens"] and adapter_config["ensure_weight_tying"]
    assert (out / "checkpoint-6" / "adapter_model.safetensors").is_file()
    assert json.loads((out / "luacoder_meta.json").read_text())["stage"] == "sft_lora"

    peft_model, tokenizer = load_adapter_model(out / "checkpoint-6")
    assert len(tokenizer) == old_vocab + 4
    ids = tokenizer.convert_tokens_to_ids(DIALOGUE_TOKENS)
    trained = {
        "input": peft_model.get_input_embeddings().weight[ids].detach().clone(),
        "output": peft_model.get_output_embeddings().weight[ids].detach().clone(),
    }
    # The rows started equal (the mean of the old rows); training moved each its own way, and the tied head
    # follows the trained embedding.
    assert torch.pdist(trained["input"]).min() > 0
    assert torch.equal(trained["input"], trained["output"])

    merged_dir = tmp_path / "merged"
    merge_script = REPO / "deepspeed" / "RL" / "merge_lora.py"
    result = subprocess.run(
        [sys.executable, str(merge_script), f"--adapter={out}", f"--output_dir={merged_dir}"],
        cwd=tmp_path,  # not the stage folder: the adapter's base path must not depend on it
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    merged = _assert_merged_equals_base_plus_adapter(out, merged_dir, trained)
    assert merged.config.tie_word_embeddings and merged.config.vocab_size == old_vocab + 4
    meta = json.loads((merged_dir / "luacoder_meta.json").read_text())
    assert meta["stage"] == "merge_lora" and meta["config"]["base_model"] == str(tmp_path / "base")
