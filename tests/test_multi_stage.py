"""deepspeed/multi, code and chat in one run: exact labels per source, weights, fitting to max_length, packed loss
equal to the samples one by one, the dataset card, a two-process ZeRO-3 run that resumes to the same weights."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from conftest import BUNDLED_DOCS, REPO
from datasets import Dataset
from safetensors.torch import load_file
from stage_helpers import CPU_ZERO3, losses, torchrun, write_jsonl
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer

from luacoder.apidocs.markdown import read_markdown_docs
from luacoder.config import ConfigError, parse_config
from luacoder.dialogue import END, FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX, FIM_TOKENS
from luacoder.files import RowError
from luacoder.train import datasets as stage_datasets
from luacoder.train.datasets import IGNORE_INDEX
from luacoder.train.mixture import (
    Fitting,
    MixtureDataArguments,
    build_mixture,
    check_training_args,
    fit_to_length,
    mixture_card,
    read_sources,
    source_labels,
    weighted_indices,
)
from luacoder.train.model_setup import ModelArguments, ensure_chat_format, ensure_tokens
from luacoder.train.packing import PackedRowsCollator
from luacoder.train.sft import sft_trainer

NO_LIMIT = Fitting(max_length=None, split=False)


@pytest.fixture(scope="module")
def entries():
    return read_markdown_docs([BUNDLED_DOCS])


@pytest.fixture(scope="module")
def chat_model(tiny_model_dir):
    """The tiny model and its tokenizer with the dialogue and FIM tokens, as the stage sets them up."""
    folder = tiny_model_dir("starcoder2")
    model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="sdpa")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ensure_chat_format(tokenizer, model)
    ensure_tokens(tokenizer, model, FIM_TOKENS)
    return model, tokenizer


@pytest.fixture(scope="module")
def chat_tokenizer(chat_model):
    return chat_model[1]


def _write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_jsonl(path, rows)


@pytest.fixture
def files(tmp_path, entries):
    code = _write(tmp_path / "pretrain" / "train.jsonl", stage_datasets.code_rows(entries)[:8])
    chat = _write(tmp_path / "chat" / "train.jsonl", stage_datasets.chat_rows(entries)[:6])
    return code, chat


def _args(code, chat, code_weight=1.0, chat_weight=1.0, **kwargs) -> MixtureDataArguments:
    return MixtureDataArguments(train_mixture={str(code): code_weight, str(chat): chat_weight}, **kwargs)


def test_code_rows_train_every_token_and_conversations_only_the_answers(tmp_path, files, chat_model):
    chat_tokenizer = chat_model[1]
    code, chat = files
    args = _args(code, chat, fim_rate=0.0, system_prompt="S")
    sources = read_sources(args.train_mixture, args.content_field, args.system_prompt)
    assert [(s.label, s.kind) for s in sources] == [("pretrain/train", "code"), ("chat/train", "conversations")]
    dataset, counts = build_mixture(sources, chat_tokenizer, args, NO_LIMIT, seed=0)
    texts = [json.loads(line)["content"] for line in code.read_text().splitlines()]
    assert len(dataset) == len(texts) + 6

    eos = chat_tokenizer.eos_token_id
    for text, sample in zip(texts, dataset.select(range(len(texts))), strict=True):
        expected = [*chat_tokenizer(text, add_special_tokens=False)["input_ids"], eos]
        assert sample["input_ids"] == expected and sample["labels"] == expected

    # Conversations: exactly the labels the chat stage's assistant-only loss gives (SFTTrainer's own preparation).
    conversations = sources[1].rows
    chat_stage = SFTTrainer(
        model=chat_model[0],
        args=SFTConfig(
            output_dir=str(tmp_path / "sft"),
            assistant_only_loss=True,
            max_length=None,
            use_cpu=True,
            bf16=False,
            report_to="none",
        ),
        train_dataset=Dataset.from_dict({"messages": conversations}),
        processing_class=chat_tokenizer,
    )
    for i, messages in enumerate(conversations):
        sample, reference = dataset[len(texts) + i], chat_stage.train_dataset[i]
        assert sample["input_ids"] == reference["input_ids"] and sample["labels"] == reference["labels"]
        answer = [t for t in sample["labels"] if t != IGNORE_INDEX]
        assert chat_tokenizer.decode(answer) == messages[-1]["content"] + END
        assert messages[0] == {"role": "system", "content": "S"}

    code_count, chat_count = counts
    assert code_count.samples == len(texts) and code_count.dropped == 0
    assert code_count.tokens == sum(len(s) for s in dataset["input_ids"][: len(texts)])
    assert code_count.trained_tokens == code_count.tokens - len(texts)  # every token but each sample's first
    assert chat_count.trained_tokens == sum(
        sum(t != IGNORE_INDEX for t in labels[1:]) for labels in dataset["labels"][len(texts) :]
    )


def test_code_rows_get_fill_in_the_middle_and_keep_every_token(files, chat_tokenizer):
    code, chat = files
    args = _args(code, chat, fim_rate=1.0, fim_spm_rate=0.5)
    sources = read_sources(args.train_mixture, args.content_field, None)[:1]
    dataset, _ = build_mixture(sources, chat_tokenizer, args, NO_LIMIT, seed=3)
    fim = set(chat_tokenizer.convert_tokens_to_ids([FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX]))
    for text, sample in zip(sources[0].rows, dataset, strict=True):
        plain = chat_tokenizer(text, add_special_tokens=False)["input_ids"]
        assert sample["input_ids"][0] == chat_tokenizer.convert_tokens_to_ids(FIM_PREFIX)
        assert sorted(t for t in sample["input_ids"][:-1] if t not in fim) == sorted(plain)
        assert sample["labels"] == sample["input_ids"]
    again, _ = build_mixture(sources, chat_tokenizer, args, NO_LIMIT, seed=3)
    assert again["input_ids"] == dataset["input_ids"]  # seeded: a rerun (a resumed run) builds the same rows


def test_weights_repeat_or_sample_rows_and_the_card_counts_each_source(files, chat_tokenizer):
    assert weighted_indices(4, 2.0, np.random.default_rng(0)) == [0, 1, 2, 3, 0, 1, 2, 3]
    half = weighted_indices(10, 1.5, np.random.default_rng(0))
    assert half[:10] == list(range(10)) and len(half) == 15 and len(set(half[10:])) == 5

    code, chat = files
    args = _args(code, chat, code_weight=2.0, chat_weight=0.5, fim_rate=0.0)
    sources = read_sources(args.train_mixture, args.content_field, None)
    dataset, counts = build_mixture(sources, chat_tokenizer, args, NO_LIMIT, seed=0)
    assert [c.samples for c in counts] == [16, 3] and len(dataset) == 19
    assert dataset["input_ids"][:8] == dataset["input_ids"][8:16]
    card = mixture_card(counts, args, NO_LIMIT, seed=0)
    assert f"| pretrain/train | {code} | code | 2 | 8 | 16 | {counts[0].tokens} | {counts[0].trained_tokens} |" in card
    assert f"| chat/train | {chat} | conversations | 0.5 | 6 | 3 | {counts[1].tokens} |" in card

    from types import SimpleNamespace

    finished = mixture_card(counts, args, NO_LIMIT, seed=0, state=SimpleNamespace(epoch=2.0, global_step=10))
    assert f"| {counts[0].trained_tokens * 2} |" in finished and "Trained 10 steps, 2 epochs." in finished

    tiny = _args(code, chat, chat_weight=0.01)
    with pytest.raises(ConfigError, match=r"weight 0.01 of .*chat/train.jsonl takes none of its 6 rows"):
        build_mixture(read_sources(tiny.train_mixture, "content", None), chat_tokenizer, tiny, NO_LIMIT, seed=0)


def test_samples_are_split_or_cut_to_max_length_and_counted_as_trained():
    ids, labels = list(range(10)), [IGNORE_INDEX] * 4 + list(range(4, 10))
    assert fit_to_length(ids, labels, 4, split=True) == [
        ([0, 1, 2, 3], [IGNORE_INDEX] * 4),
        ([4, 5, 6, 7], [4, 5, 6, 7]),
        ([8, 9], [8, 9]),
    ]
    assert fit_to_length(ids, labels, 4, split=False) == [([0, 1, 2, 3], [IGNORE_INDEX] * 4)]
    assert fit_to_length(ids, labels, 4, split=False, keep_end=True) == [([6, 7, 8, 9], [6, 7, 8, 9])]


def test_a_conversation_cut_to_nothing_trainable_is_dropped_and_counted(files, chat_tokenizer):
    code, chat = files
    args = _args(code, chat, fim_rate=0.0, system_prompt="a long system prompt " * 20)
    sources = read_sources(args.train_mixture, args.content_field, args.system_prompt)
    _, counts = build_mixture(sources, chat_tokenizer, args, Fitting(max_length=32, split=False), seed=0)
    assert counts[1].dropped == 6 and counts[1].samples == 0 and counts[1].trained_tokens == 0
    dataset, counts = build_mixture(sources, chat_tokenizer, args, Fitting(max_length=32, split=True), seed=0)
    assert counts[1].dropped == 0 and counts[1].samples == 6 and max(len(s) for s in dataset["input_ids"]) <= 32
    # Split pieces keep every labelled token; each piece's first token is no target.
    whole, _ = build_mixture(sources, chat_tokenizer, args, NO_LIMIT, seed=0)
    labelled = sum(t != IGNORE_INDEX for labels in whole["labels"] for t in labels)
    assert sum(t != IGNORE_INDEX for labels in dataset["labels"] for t in labels) == labelled


def test_bad_mixtures_are_refused_with_the_file_and_the_reason(tmp_path, files):
    code, chat = files
    with pytest.raises(ConfigError, match="weight of .*must be above 0"):
        _args(code, chat, chat_weight=0)
    with pytest.raises(ConfigError, match="weight of .* must be a number"):
        MixtureDataArguments(train_mixture={str(code): "lots"})
    with pytest.raises(ConfigError, match="at least one file"):
        MixtureDataArguments(train_mixture={})
    mixed = _write(tmp_path / "mixed.jsonl", [{"content": "print(1)"}, json.loads(chat.read_text().split("\n")[0])])
    with pytest.raises(RowError, match=r"mixed.jsonl row 2: expected text in 'content'.*got a conversation"):
        read_sources({str(mixed): 1.0}, "content", None)
    with pytest.raises(ConfigError, match="assistant_only_loss: the mixture decides the loss per source"):
        check_training_args(SFTConfig(output_dir=str(tmp_path), assistant_only_loss=True, use_cpu=True, bf16=False))
    assert source_labels(["a/chat/train.jsonl", "b/code/train.jsonl"]) == ["chat/train", "code/train"]


def test_the_shipped_cpu_config_types_the_mixture_and_the_command_line_replaces_it():
    path = REPO / "deepspeed" / "multi" / "config_cpu.yaml"
    _, data_args, _ = parse_config([ModelArguments, MixtureDataArguments, SFTConfig], [str(path)])
    assert list(data_args.train_mixture.values()) == [1.0, 0.5] and len(data_args.test_files) == 2
    _, data_args, _ = parse_config(
        [ModelArguments, MixtureDataArguments, SFTConfig], [str(path), "--train_mixture={a.jsonl: 2, b.jsonl: '0.25'}"]
    )
    assert data_args.train_mixture == {"a.jsonl": 2.0, "b.jsonl": 0.25}


def _token_losses(model, input_ids, labels, **kwargs) -> torch.Tensor:
    logits = model(input_ids=input_ids, use_cache=False, **kwargs).logits[:, :-1]
    return torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum"
    )


def test_packed_mixture_gives_the_loss_of_its_samples_run_one_by_one(tmp_path, files, chat_model):
    model, chat_tokenizer = chat_model
    code, chat = files
    args = _args(code, chat, fim_rate=0.5)
    sources = read_sources(args.train_mixture, args.content_field, None)
    training_args = SFTConfig(
        output_dir=str(tmp_path / "out"),
        packing=True,
        packing_strategy="bfd_split",
        max_length=256,
        per_device_train_batch_size=4,
        use_cpu=True,
        bf16=False,
        activation_checkpointing=False,
        report_to="none",
    )
    fitting = Fitting.from_training_args(training_args)
    dataset, counts = build_mixture(sources, chat_tokenizer, args, fitting, seed=0)
    model.eval()
    trainer = sft_trainer(model, chat_tokenizer, training_args, dataset)
    assert isinstance(trainer.data_collator, PackedRowsCollator)
    packed = [trainer.train_dataset[i] for i in range(len(trainer.train_dataset))]
    assert len(packed) < len(dataset)  # samples share rows
    batch = trainer.data_collator(packed)
    with torch.no_grad():
        together = _token_losses(model, batch["input_ids"], batch["labels"], position_ids=batch["position_ids"])
        alone = sum(_token_losses(model, torch.tensor([s["input_ids"]]), torch.tensor([s["labels"]])) for s in dataset)
    assert torch.allclose(together, alone, rtol=1e-5)
    # The packed batch's targets are exactly the tokens the card says trained.
    assert (batch["labels"][:, 1:] != IGNORE_INDEX).sum() == sum(c.trained_tokens for c in counts)


def _command(output_dir, code, chat, tests):
    return [
        "train.py",
        "config_cpu.yaml",
        CPU_ZERO3,
        f"--train_mixture={{{code}: 1.5, {chat}: 1}}",
        f"--test_files=[{', '.join(map(str, tests))}]",
        f"--output_dir={output_dir}",
        "--max_length=128",
        "--per_device_train_batch_size=2",
        "--max_steps=4",
        "--save_strategy=steps",
        "--save_steps=2",
        "--eval_strategy=steps",
        "--eval_steps=4",
        "--logging_steps=1",
        "--report_to=none",
    ]


@pytest.mark.slow
@pytest.mark.multiprocess
def test_two_process_zero3_run_trains_the_mixture_writes_its_card_and_resumes_to_the_same_weights(
    tmp_path, tiny_model_dir, entries
):
    code = _write(tmp_path / "code" / "train.jsonl", stage_datasets.code_rows(entries)[:24])
    chat = _write(tmp_path / "chat" / "train.jsonl", stage_datasets.chat_rows(entries)[:16])
    tests = [
        _write(tmp_path / "chat" / "test.jsonl", stage_datasets.chat_rows(entries)[16:20]),
        _write(tmp_path / "code" / "test.jsonl", stage_datasets.code_rows(entries)[24:28]),
    ]
    out = tmp_path / "out"
    model = f"--model_name_or_path={tiny_model_dir('starcoder2')}"
    torchrun("multi", *_command(out, code, chat, tests), model)

    history = losses(out)
    assert len(history) == 4 and all(np.isfinite(history))
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    evaluated = {key: value for entry in state["log_history"] for key, value in entry.items()}
    assert np.isfinite([evaluated["eval_chat_test_loss"], evaluated["eval_code_test_loss"]]).all()  # one per source
    meta = json.loads((out / "checkpoint-4" / "luacoder_meta.json").read_text())
    assert meta["stage"] == "multi" and [m["samples"] for m in meta["mixture"]] == [36, 16]
    card = (out / "dataset_card.md").read_text()
    for count in meta["mixture"]:
        assert f"| {count['source']} | {count['path']} | {count['kind']} |" in card
    assert "Trained 4 steps" in card
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.chat_template and tokenizer.convert_tokens_to_ids(FIM_PREFIX) != tokenizer.unk_token_id

    # Resume: as if the run had died after checkpoint-2; the same command ends with the same weights.
    reference = load_file(out / "model.safetensors")
    shutil.rmtree(out / "checkpoint-4")
    (out / "model.safetensors").unlink()
    rerun = torchrun("multi", *_command(out, code, chat, tests), model)
    assert f"resuming from {out / 'checkpoint-2'}" in rerun.stdout
    resumed = load_file(out / "model.safetensors")
    assert reference.keys() == resumed.keys()
    for name in reference:
        assert torch.equal(reference[name], resumed[name]), name
    assert losses(out) == history
