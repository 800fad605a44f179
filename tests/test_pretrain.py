"""deepspeed/pretrain: FIM, packing, and a 2-process ZeRO-3 run on the CPU whose checkpoint reloads."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import BUNDLED_DOCS
from stage_helpers import CPU_ZERO3, losses, torchrun, write_jsonl
from transformers import AutoModelForCausalLM

from luacoder.apidocs.markdown import read_markdown_docs
from luacoder.train.datasets import FimIds, PretrainDataArguments, apply_fim, build_pretrain_rows, pack

FIM = FimIds(prefix=901, middle=902, suffix=903)


def test_fim_rearranges_a_document_without_losing_tokens():
    doc = list(range(20))
    psm = apply_fim(doc, np.random.default_rng(0), FIM, fim_rate=1.0, spm_rate=0.0)
    assert psm[0] == FIM.prefix
    i_suf, i_mid = psm.index(FIM.suffix), psm.index(FIM.middle)
    prefix, suffix, middle = psm[1:i_suf], psm[i_suf + 1 : i_mid], psm[i_mid + 1 :]
    assert prefix + middle + suffix == doc

    spm = apply_fim(doc, np.random.default_rng(0), FIM, fim_rate=1.0, spm_rate=1.0)
    assert spm[:2] == [FIM.prefix, FIM.suffix]
    i_mid = spm.index(FIM.middle)
    suffix, rest = spm[2:i_mid], spm[i_mid + 1 :]
    assert rest + suffix == doc

    assert apply_fim(doc, np.random.default_rng(0), FIM, fim_rate=0.0, spm_rate=0.5) == doc


def test_fim_rate_is_respected_and_seeded():
    rng = np.random.default_rng(1)
    permuted = sum(apply_fim(list(range(10)), rng, FIM, 0.3, 0.5)[0] == FIM.prefix for _ in range(2000))
    assert 0.26 < permuted / 2000 < 0.34
    a = [apply_fim(list(range(10)), np.random.default_rng([7, i]), FIM, 0.5, 0.5) for i in range(20)]
    b = [apply_fim(list(range(10)), np.random.default_rng([7, i]), FIM, 0.5, 0.5) for i in range(20)]
    assert a == b


def test_packing_keeps_every_token_and_separates_documents_with_eos():
    docs = [[1, 2, 3], [4, 5], [6, 7, 8, 9, 10, 11, 12]]
    rows = pack(docs, seq_length=5, eos_id=0, pad_id=99)
    assert rows["input_ids"] == [[1, 2, 3, 0, 4], [5, 0, 6, 7, 8], [9, 10, 11, 12, 0]]
    rows = pack(docs, seq_length=4, eos_id=0, pad_id=99)
    assert rows["input_ids"][-1] == [11, 12, 0, 99]  # the tail trains too, padded
    assert rows["labels"][-1] == [11, 12, 0, -100]
    assert rows["attention_mask"][-1] == [1, 1, 1, 0]
    stream = [
        t
        for row, m in zip(rows["input_ids"], rows["attention_mask"], strict=True)
        for t, k in zip(row, m, strict=True)
        if k
    ]
    assert stream == [1, 2, 3, 0, 4, 5, 0, 6, 7, 8, 9, 10, 11, 12, 0]


def test_build_rows_is_deterministic_and_uses_the_tokenizers_fim_tokens(tokenizer):
    texts = ["print('a')", "local t = {}\nt[1] = 2\nprint(#t)", "return 1"]
    args = PretrainDataArguments(train_file="-", seq_length=16, fim_rate=1.0)
    a = build_pretrain_rows(texts, tokenizer, args, seed=3)
    assert a == build_pretrain_rows(texts, tokenizer, args, seed=3)
    flat = [t for row in a["input_ids"] for t in row]
    assert flat.count(tokenizer.convert_tokens_to_ids("<fim_prefix>")) == 3
    assert flat.count(tokenizer.eos_token_id) >= 3


@pytest.fixture(scope="module")
def code_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pretrain-data")
    examples = [code for entry in read_markdown_docs([BUNDLED_DOCS]) for code in entry.examples]
    write_jsonl(folder / "train.jsonl", [{"content": c} for c in examples[:120]])
    write_jsonl(folder / "test.jsonl", [{"content": c} for c in examples[120:140]])
    return folder


@pytest.mark.slow
@pytest.mark.multiprocess
def test_pretrain_runs_under_torchrun_zero3_and_the_checkpoint_reloads(code_data, tiny_model_dir, tokenizer, tmp_path):
    parent = tiny_model_dir("starcoder2")
    out = tmp_path / "out"
    torchrun(
        "pretrain",
        "train.py",
        "config_cpu.yaml",
        CPU_ZERO3,
        f"--model_name_or_path={parent}",
        f"--train_file={code_data / 'train.jsonl'}",
        f"--test_file={code_data / 'test.jsonl'}",
        f"--output_dir={out}",
        "--max_steps=8",
        "--save_strategy=steps",
        "--save_steps=4",
        "--logging_steps=1",
        "--eval_strategy=no",
        "--report_to=tensorboard",
        "--seq_length=128",
    )
    # ZeRO-3 across two ranks: each rank wrote its own partition of the optimizer state.
    shards = sorted(p.name for p in (out / "checkpoint-8" / "global_step8").iterdir())
    assert sum("optim_states" in s for s in shards) == 2, shards
    history = losses(out)
    assert len(history) == 8 and all(np.isfinite(history))
    assert np.mean(history[-3:]) < np.mean(history[:3])

    before = AutoModelForCausalLM.from_pretrained(parent)
    after = AutoModelForCausalLM.from_pretrained(out / "checkpoint-8")
    assert after.config.vocab_size == before.config.vocab_size == len(tokenizer)
    changed = [
        n
        for (n, a), (_, b) in zip(before.named_parameters(), after.named_parameters(), strict=True)
        if not torch.equal(a, b)
    ]
    assert len(changed) == len(list(before.parameters()))
    ids = torch.tensor([tokenizer.encode("print(")])
    assert after.generate(ids, max_new_tokens=5, do_sample=False).shape[1] > ids.shape[1]

    meta = json.loads((out / "checkpoint-8" / "luacoder_meta.json").read_text())
    assert meta["stage"] == "pretrain" and meta["parent"] == str(parent) and meta["step"] == 8
    assert meta["config"]["fim_rate"] == 0.5 and len(meta["dataset_fingerprint"]) == 16
    assert (out / "checkpoint-8" / "tokenizer.json").is_file()
    final = json.loads((out / "luacoder_meta.json").read_text())  # the final model beside the checkpoints
    assert final["step"] == 8 and (out / "model.safetensors").is_file()
    assert list(out.rglob("events.out.tfevents.*")), "no TensorBoard logs"
