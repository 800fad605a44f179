"""deepspeed/main, the quick start: text or conversation rows, one process without DeepSpeed; a checkpoint that
reloads with the dialogue template and stops at <|end|>."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import BUNDLED_DOCS, REPO
from datasets import Dataset
from stage_helpers import losses, write_jsonl
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer

from luacoder.apidocs.markdown import read_markdown_docs
from luacoder.files import RowError
from luacoder.train import datasets as stage_datasets
from luacoder.train.datasets import load_rows
from luacoder.train.packing import PackedRowsCollator, keep_packed_rows_apart

STAGE = REPO / "deepspeed" / "main"


@pytest.fixture(scope="module")
def chat_rows():
    return stage_datasets.chat_rows(read_markdown_docs([BUNDLED_DOCS]))[:48]


def test_rows_are_text_or_conversations_as_the_first_row_says(tmp_path, chat_rows):
    text = load_rows(
        str(write_jsonl(tmp_path / "text.jsonl", [{"content": "print(1)"}, {"content": "x = 2"}])), "content"
    )
    assert text.column_names == ["content"] and text["content"] == ["print(1)", "x = 2"]

    chat = load_rows(str(write_jsonl(tmp_path / "chat.jsonl", chat_rows[:2])), "content", system_prompt="S")
    assert chat.column_names == ["messages"]
    assert chat[0]["messages"][0] == {"role": "system", "content": "S"}
    assert chat[0]["messages"][1:] == chat_rows[0]["messages"]

    pairs = load_rows(str(write_jsonl(tmp_path / "pairs.jsonl", [{"prompt": "p", "completion": "c"}])), "content")
    assert pairs[0]["messages"] == [{"role": "user", "content": "p"}, {"role": "assistant", "content": "c"}]


def test_rows_of_the_wrong_kind_are_errors_naming_the_row(tmp_path, chat_rows):
    mixed = write_jsonl(tmp_path / "mixed.jsonl", [{"content": "print(1)"}, chat_rows[0]])
    with pytest.raises(RowError, match=r"mixed.jsonl row 2: expected text in 'content'.*got a conversation"):
        load_rows(str(mixed), "content")
    misnamed = write_jsonl(tmp_path / "misnamed.jsonl", [{"text": "print(1)"}])
    with pytest.raises(RowError, match=r"row 1: expected text in 'content' \(dataset_text_field\).*\['text'\]"):
        load_rows(str(misnamed), "content")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(RowError, match="empty.jsonl: no rows"):
        load_rows(str(tmp_path / "empty.jsonl"), "content")


def _token_losses(model, input_ids, labels, **kwargs) -> torch.Tensor:
    logits = model(input_ids=input_ids, use_cache=False, **kwargs).logits[:, :-1]
    return torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100, reduction="sum"
    )


@pytest.mark.parametrize(
    "family, attention", [("starcoder2", "sdpa"), ("starcoder2", "eager"), ("gpt_bigcode", "sdpa")]
)
def test_packed_rows_kept_apart_give_the_loss_of_the_samples_run_one_by_one(
    tiny_model_dir, tokenizer, tmp_path, chat_rows, family, attention
):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir(family), attn_implementation=attention).eval()
    args = SFTConfig(
        output_dir=str(tmp_path),
        packing=True,
        assistant_only_loss=True,
        max_length=160,
        per_device_train_batch_size=4,
        use_cpu=True,
        bf16=False,
        activation_checkpointing=False,
        report_to="none",
    )
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(chat_rows[:10]), processing_class=tokenizer
    )
    flat_collator = trainer.data_collator
    assert keep_packed_rows_apart(trainer) and isinstance(trainer.data_collator, PackedRowsCollator)
    examples = [trainer.train_dataset[i] for i in range(len(trainer.train_dataset))]
    rows, flat = trainer.data_collator(examples), flat_collator(examples)
    assert "attention_mask" not in rows and rows["input_ids"].shape[0] == len(examples) > 1
    starts = [(positions == 0).nonzero().flatten().tolist() for positions in rows["position_ids"]]
    assert max(len(s) for s in starts) > 1  # some row holds several conversations
    with torch.no_grad():
        kept_apart = _token_losses(model, rows["input_ids"], rows["labels"], position_ids=rows["position_ids"])
        flattened = _token_losses(model, flat["input_ids"], flat["labels"], position_ids=flat["position_ids"])
        one_by_one = sum(
            _token_losses(model, rows["input_ids"][r : r + 1, a:b], rows["labels"][r : r + 1, a:b])
            for r, row_starts in enumerate(starts)
            for a, b in zip(row_starts, [*row_starts[1:], rows["input_ids"].shape[1]], strict=True)
        )
    assert torch.allclose(kept_apart, one_by_one, rtol=1e-5) and torch.allclose(flattened, one_by_one, rtol=1e-5)
    assert (rows["labels"] != -100).sum() == (flat["labels"] != -100).sum() > 0


def test_flash_attention_and_unpacked_trainers_keep_their_collator():
    def trainer(padding_free, attention):
        config = SimpleNamespace(_attn_implementation=attention)
        return SimpleNamespace(padding_free=padding_free, model=SimpleNamespace(config=config), data_collator=None)

    assert not keep_packed_rows_apart(trainer(True, "flash_attention_2"))
    assert not keep_packed_rows_apart(trainer(False, "sdpa"))


def test_every_sft_stage_builds_its_trainer_with_the_one_builder():
    """A stage script that builds its SFTTrainer itself drifts from the others (RL/sft_lora did: packed with SDPA, it
    never kept packed rows apart); each must call luacoder.train.sft.sft_trainer."""
    sft_stages = [p for p in sorted((REPO / "deepspeed").glob("*/*.py")) if "SFTConfig" in p.read_text()]
    assert {p.relative_to(REPO).as_posix() for p in sft_stages} >= {
        "deepspeed/chat/train.py",
        "deepspeed/main/train.py",
        "deepspeed/multi/train.py",
        "deepspeed/RL/sft_lora.py",
    }
    for script in sft_stages:
        source = script.read_text()
        assert "SFTTrainer(" not in source and "sft_trainer(" in source, script.relative_to(REPO)


def test_the_sft_builder_keeps_packed_rows_apart_under_lora(tiny_model_dir, tokenizer, tmp_path, chat_rows):
    from peft import LoraConfig

    from luacoder.train.sft import sft_trainer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir("starcoder2"), attn_implementation="sdpa")
    args = SFTConfig(
        output_dir=str(tmp_path),
        packing=True,
        packing_strategy="bfd",
        assistant_only_loss=True,
        max_length=160,
        use_cpu=True,
        bf16=False,
        report_to="none",
    )
    lora = LoraConfig(r=4, target_modules="all-linear", task_type="CAUSAL_LM")
    trainer = sft_trainer(model, tokenizer, args, Dataset.from_list(chat_rows[:10]), peft_config=lora)
    assert isinstance(trainer.data_collator, PackedRowsCollator)
    assert any(type(c).__name__ == "PackingIsolationCheck" for c in trainer.callback_handler.callbacks)


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`python train.py ...` from the stage folder: one process, no torchrun, no DeepSpeed."""
    env = {"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "train.py", *args],
        cwd=STAGE,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"train.py failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
        )
    return result


@pytest.mark.slow
def test_text_rows_with_assistant_only_loss_are_refused_before_loading_a_model(tmp_path):
    data = write_jsonl(tmp_path / "code.jsonl", [{"content": "print(1)"}])
    result = _run("config_cpu.yaml", f"--train_file={data}", "--test_file=none", check=False)
    assert result.returncode != 0
    assert "holds text rows, not conversations; set --assistant_only_loss=false" in result.stderr


@pytest.mark.slow
def test_one_process_run_on_conversations_trains_and_its_checkpoint_reloads(tmp_path, tiny_model_dir, chat_rows):
    parent = tiny_model_dir("starcoder2")
    data = write_jsonl(tmp_path / "chat.jsonl", chat_rows)
    out = tmp_path / "out"
    _run(
        "config_cpu.yaml",
        f"--model_name_or_path={parent}",
        f"--train_file={data}",
        "--test_file=none",
        f"--output_dir={out}",
        "--max_length=128",
        "--per_device_train_batch_size=4",
        "--max_steps=6",
        "--save_strategy=steps",
        "--save_steps=6",
        "--eval_strategy=no",
        "--logging_steps=1",
        "--report_to=none",
        "--learning_rate=3e-3",
    )
    history = losses(out)
    assert len(history) == 6 and all(np.isfinite(history))
    assert np.mean(history[-2:]) < np.mean(history[:2])

    model = AutoModelForCausalLM.from_pretrained(out / "checkpoint-6")
    tokenizer = AutoTokenizer.from_pretrained(out / "checkpoint-6")
    end = tokenizer.convert_tokens_to_ids("<|end|>")
    assert end in model.generation_config.eos_token_id
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    assert model.generate(**prompt, max_new_tokens=4, do_sample=False).shape[1] > prompt["input_ids"].shape[1]
    before = AutoModelForCausalLM.from_pretrained(parent)
    assert not torch.equal(before.lm_head.weight, model.lm_head.weight)
    meta = json.loads((out / "checkpoint-6" / "luacoder_meta.json").read_text())
    assert meta["stage"] == "main" and meta["step"] == 6 and meta["config"]["packing_strategy"] == "bfd_split"
    assert (out / "model.safetensors").is_file() and not list(out.glob("pytorch_model*.bin"))
