"""deepspeed/chat: exact assistant-only masks, packing without cross-talk, and a 2-process ZeRO-3 run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import BUNDLED_DOCS
from datasets import Dataset
from stage_helpers import CPU_ZERO3, losses, torchrun, write_jsonl
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast
from trl import SFTConfig, SFTTrainer

from luacoder.dialogue import ChatRowError, to_messages
from luacoder.evaluation.checkpoints import content_hash
from luacoder.train.packing import packing_isolates_samples
from luacoder.train.tiny_model import save_tiny_model

ROWS = [
    {
        "messages": [
            {"role": "system", "content": "You write Lua."},
            {"role": "user", "content": "Repeat ab three times."},
            {"role": "assistant", "content": 'print(string.rep("ab", 3))'},
            {"role": "user", "content": "And upper case?"},
            {"role": "assistant", "content": 'print(("ab"):rep(3):upper())'},
        ]
    },
    {
        "messages": [
            {"role": "user", "content": "Largest of 3 and 7?"},
            {"role": "assistant", "content": "print(math.max(3, 7))"},
        ]
    },
    {
        "messages": [
            {"role": "user", "content": "Join a table"},
            {"role": "assistant", "content": 'print(table.concat({1, 2}, ","))'},
        ]
    },
]


def _trainer(model_dir, tokenizer, tmp_path, **overrides):
    args = SFTConfig(
        output_dir=str(tmp_path / "sft"),
        packing=True,
        packing_strategy="bfd",
        assistant_only_loss=True,
        max_length=128,
        use_cpu=True,
        report_to="none",
        per_device_train_batch_size=3,
        **overrides,
    )
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    return SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(ROWS), processing_class=tokenizer)


def _expected_labels(ids: list[int], tokenizer) -> list[int]:
    """Trained: each assistant turn's content and its <|end|>. Not trained: system and user turns, role tokens and
    the newline after them."""
    assistant, end = tokenizer.convert_tokens_to_ids(["<|assistant|>", "<|end|>"])
    newline = tokenizer.encode("\n", add_special_tokens=False)
    labels, i = [-100] * len(ids), 0
    while i < len(ids):
        if ids[i] == assistant:
            assert ids[i + 1 : i + 1 + len(newline)] == newline
            j = i + 1 + len(newline)
            while ids[j] != end:
                labels[j] = ids[j]
                j += 1
            labels[j] = end
            i = j
        i += 1
    return labels


def test_assistant_only_loss_masks_exactly_the_expected_positions(tiny_model_dir, tokenizer, tmp_path):
    trainer = _trainer(tiny_model_dir("starcoder2"), tokenizer, tmp_path)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(trainer.train_dataset))])
    ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
    assert labels == _expected_labels(ids, tokenizer)
    trained = tokenizer.decode([t for t, label in zip(ids, labels, strict=True) if label != -100])
    assistant_turns = [m["content"] for row in ROWS for m in row["messages"] if m["role"] == "assistant"]
    assert sorted(trained.split("<|end|>")[:-1]) == sorted(assistant_turns)
    assert sum(label != -100 for label in labels) < len(labels) / 2  # a mask that masks nothing fails here


def _token_losses(model, input_ids, labels, **kwargs) -> torch.Tensor:
    # use_cache=False as in training (TRL passes it): with a cache, transformers skips the packed-sample mask.
    logits = model(input_ids=input_ids, use_cache=False, **kwargs).logits[:, :-1]
    target = labels[:, 1:]
    return torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100, reduction="sum"
    )


@pytest.mark.parametrize("family", ["starcoder2", "gpt_bigcode"])
def test_packed_loss_equals_the_loss_of_samples_run_one_by_one(tiny_model_dir, tokenizer, tmp_path, family):
    trainer = _trainer(tiny_model_dir(family), tokenizer, tmp_path)
    model = trainer.model.eval()
    packed = trainer.data_collator([trainer.train_dataset[i] for i in range(len(trainer.train_dataset))])
    assert "attention_mask" not in packed and packed["position_ids"].shape == packed["input_ids"].shape
    with torch.no_grad():
        total = _token_losses(model, packed["input_ids"], packed["labels"], position_ids=packed["position_ids"])
        starts = (packed["position_ids"][0] == 0).nonzero().flatten().tolist() + [packed["input_ids"].shape[1]]
        assert len(starts) - 1 == len(ROWS)
        separate = sum(
            _token_losses(model, packed["input_ids"][:, a:b], packed["labels"][:, a:b])
            for a, b in zip(starts[:-1], starts[1:], strict=True)
        )
        leaky = _token_losses(
            model, packed["input_ids"], packed["labels"], attention_mask=torch.ones_like(packed["input_ids"])
        )
    assert torch.allclose(total, separate, rtol=1e-5, atol=1e-5), (total, separate)
    assert not torch.allclose(leaky, separate, rtol=1e-5, atol=1e-5)  # attention across samples changes the loss


class _IgnoresPositions(torch.nn.Module):
    """A model that drops position_ids, so packed samples see each other: what the probe must catch."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, position_ids=None, **kwargs):
        return self.model(input_ids=input_ids, **kwargs)


@pytest.mark.parametrize("family", ["starcoder2", "gpt_bigcode"])
def test_the_packing_probe_tells_isolating_models_from_leaking_ones(tiny_model_dir, tokenizer, family):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir(family))
    assert packing_isolates_samples(model, len(tokenizer))
    assert not packing_isolates_samples(_IgnoresPositions(model), len(tokenizer))


def test_chat_rows_are_validated_and_converted():
    assert to_messages({"prompt": "p", "completion": "c"}, "f row 1", system_prompt="S") == [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "p"},
        {"role": "assistant", "content": "c"},
    ]
    with pytest.raises(ChatRowError, match="f row 2: message 0 has unknown role 'bot'"):
        to_messages({"messages": [{"role": "bot", "content": "x"}]}, "f row 2")
    with pytest.raises(ChatRowError, match="f row 3: empty conversation"):
        to_messages({"messages": []}, "f row 3")
    with pytest.raises(ChatRowError, match="needs a user turn and an assistant answer"):
        to_messages({"messages": [{"role": "user", "content": "only a question"}]}, "f row 4")
    with pytest.raises(ChatRowError, match=r"expected 'messages' or 'prompt' and 'completion', got \['text'\]"):
        to_messages({"text": "x"}, "f row 5")


def test_wrapped_packing_is_refused_because_it_leaks_between_conversations(tmp_path):
    data = write_jsonl(tmp_path / "train.jsonl", ROWS)
    result = torchrun(
        "chat",
        "train.py",
        "config_cpu.yaml",
        "--packing_strategy=wrapped",
        f"--train_file={data}",
        nproc=1,
        check=False,
        timeout=120,
    )
    assert result.returncode != 0
    assert "packing_strategy 'wrapped' lets conversations attend to each other" in result.stdout + result.stderr


def _tokenizer_without_dialogue_tokens(folder):
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
    tokenizer.save_pretrained(folder)
    return tokenizer


@pytest.mark.slow
@pytest.mark.multiprocess
def test_chat_stage_adds_the_dialogue_tokens_under_zero3_trains_them_and_reloads(tmp_path):
    parent = tmp_path / "parent"
    tokenizer = _tokenizer_without_dialogue_tokens(parent)
    old_vocab = len(tokenizer)
    save_tiny_model("starcoder2", tokenizer, parent, seed=0, hidden_size=64, intermediate_size=128)
    rows = ROWS * 12
    data = write_jsonl(tmp_path / "train.jsonl", rows)
    out = tmp_path / "out"
    torchrun(
        "chat",
        "train.py",
        "config_cpu.yaml",
        CPU_ZERO3,
        f"--model_name_or_path={parent}",
        f"--train_file={data}",
        "--test_file=none",
        f"--output_dir={out}",
        "--max_steps=8",
        "--per_device_train_batch_size=2",
        "--save_strategy=steps",
        "--save_steps=4",
        "--eval_strategy=no",
        "--logging_steps=1",
        "--report_to=none",
        "--learning_rate=3e-3",
    )
    history = losses(out)
    assert len(history) == 8 and all(np.isfinite(history))
    assert np.mean(history[-3:]) < np.mean(history[:3])

    checkpoint = out / "checkpoint-8"
    # The final model is the last checkpoint's weights: eval serves it from that checkpoint's cached answers.
    assert content_hash(out) == content_hash(checkpoint)
    model = AutoModelForCausalLM.from_pretrained(checkpoint)
    saved = AutoTokenizer.from_pretrained(checkpoint)
    assert len(saved) == old_vocab + 4 == model.config.vocab_size
    assert model.get_input_embeddings().weight.shape[0] == old_vocab + 4  # not the empty ZeRO-3 shard
    new_ids = saved.convert_tokens_to_ids(["<|system|>", "<|user|>", "<|assistant|>", "<|end|>"])
    assert sorted(new_ids) == list(range(old_vocab, old_vocab + 4))
    rows_new = model.get_input_embeddings().weight[new_ids].detach()
    # The four rows started equal (the mean of the old rows); training moved each its own way.
    assert torch.cdist(rows_new, rows_new).triu(1).max() > 0
    assert saved.chat_template and "<|assistant|>" in saved.chat_template
    assert saved.convert_tokens_to_ids("<|end|>") in model.generation_config.eos_token_id
    prompt = saved.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    assert model.generate(**prompt, max_new_tokens=4, do_sample=False).shape[1] > prompt["input_ids"].shape[1]
    meta = json.loads((checkpoint / "luacoder_meta.json").read_text())
    assert meta["stage"] == "chat" and meta["config"]["assistant_only_loss"] is True
    assert meta["config"]["chat_template"] == "luacoder"  # no template in the parent: the dialogue template
