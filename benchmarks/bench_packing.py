"""Packing efficiency: the share of the tokens in the training batches that are data, not padding, with the stages'
packing and with per-batch padding (no packing).

    .venv/bin/python benchmarks/bench_packing.py [--chat_file outputs/data/chat/train.jsonl] [--code_file F]

Code rows (every example of the bundled Lua 5.4 docs, unless --code_file) are packed as deepspeed/pretrain packs
them (luacoder.train.datasets: FIM, documents joined by EOS and cut every seq_length tokens) and collated by
the Trainer's default collator. Conversations (the demo's chat dataset, built here by the data builders from the
bundled docs as `luacoder build-chat` does, unless --chat_file) are packed as deepspeed/chat packs them: TRL's
best-fit-decreasing packing, then the collator the stage runs: `luacoder.train.packing.PackedRowsCollator`
(SDPA: each packed row a row, padded to the batch's longest), and TRL's padding-free flat row (flash attention:
no padding at all) beside it. The baseline is TRL's default: one row per sample, each batch padded to its longest
row. Batches are drawn in a seeded random order, as the Trainer draws them. Sequence lengths, batch sizes and FIM
rates are read from the stages' configs: config_cpu.yaml (the demo, which trains on these bundled datasets) and
config.yaml (GPU).
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
from datasets import Dataset
from demo_data import demo_conversations  # beside this script
from transformers import default_data_collator
from trl.data_utils import pack_dataset
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

from luacoder.apidocs.markdown import read_markdown_docs
from luacoder.config import load_yaml
from luacoder.dialogue import to_messages
from luacoder.files import read_jsonl
from luacoder.train.datasets import (
    FimIds,
    PretrainDataArguments,
    apply_fim,
    build_pretrain_rows,
    code_rows,
    load_chat_dataset,
)
from luacoder.train.packing import PackedRowsCollator
from luacoder.train.tokenizer import docs_texts, train_tokenizer

REPO = Path(__file__).resolve().parents[1]
BUNDLED_DOCS = REPO / "data" / "docs" / "lua54"
TARGET = 0.97


@dataclass
class Result:
    tokens: int  # data tokens: the same on both sides
    packed: float  # data share of the packed batches, as the stage collates them
    padded: float  # data share of the per-batch-padded batches
    fill: float  # data tokens / (packed rows x seq): how full the packed rows are
    flat: float | None = None  # chat: data share with TRL's flat padding-free row (flash attention)


def data_share(rows: list[dict], collate, batch_size: int, seed: int) -> tuple[int, int]:
    """(data tokens, batch tokens) over all batches the collator makes of `rows`, in a seeded random order. Data
    tokens are the rows' own; every other position of a batch is padding, whatever the collator marks."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    data = total = 0
    for start in range(0, len(order), batch_size):
        examples = [rows[i] for i in order[start : start + batch_size]]
        total += collate(examples)["input_ids"].numel()
        data += sum(len(example["input_ids"]) for example in examples)
    return data, total


def padded_baseline(samples: list[list[int]], pad_id: int, batch_size: int, seed: int) -> float:
    collate = DataCollatorForLanguageModeling(pad_token_id=pad_id)
    data, total = data_share([{"input_ids": ids} for ids in samples], collate, batch_size, seed)
    return data / total


def code_case(texts: list[str], tokenizer, config: dict) -> Result:
    args = PretrainDataArguments(
        train_file="-",
        seq_length=config["seq_length"],
        fim_rate=config["fim_rate"],
        fim_spm_rate=config["fim_spm_rate"],
    )
    batch, seed = config["per_device_train_batch_size"], config["seed"]
    packed = build_pretrain_rows(texts, tokenizer, args, seed=seed)
    rows = [dict(zip(packed, values, strict=True)) for values in zip(*packed.values(), strict=True)]
    data, total = data_share(rows, default_data_collator, batch, seed)
    # Unpacked, each document is a row of its own: the same FIM draw as when packed, its EOS, cut at seq_length.
    fim, eos = FimIds.from_tokenizer(tokenizer), tokenizer.eos_token_id
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    documents = [
        apply_fim(ids, np.random.default_rng([seed, i]), fim, args.fim_rate, args.fim_spm_rate)
        for i, ids in enumerate(encoded)
    ]
    samples = [(document + [eos])[: args.seq_length] for document in documents]
    return Result(
        data,
        data / total,
        padded_baseline(samples, tokenizer.pad_token_id, batch, seed),
        data / (len(rows) * args.seq_length),
    )


def chat_case(conversations: Dataset, tokenizer, config: dict) -> Result:
    max_length, batch, seed = config["max_length"], config["per_device_train_batch_size"], config["seed"]
    samples = [tokenizer.apply_chat_template(m, tokenize=True, return_dict=False) for m in conversations["messages"]]
    samples = [ids[:max_length] for ids in samples]  # SFTTrainer truncates at max_length, packed or not
    packed = list(pack_dataset(Dataset.from_dict({"input_ids": samples}), seq_length=max_length, strategy="bfd"))
    data, total = data_share(packed, PackedRowsCollator(pad_token_id=tokenizer.pad_token_id), batch, seed)
    flat = DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id, padding_free=True)
    flat_data, flat_total = data_share(packed, flat, batch, seed)
    assert flat_data == data == sum(map(len, samples))
    fill = data / (len(packed) * max_length)
    padded = padded_baseline(samples, tokenizer.pad_token_id, batch, seed)
    return Result(data, data / total, padded, fill, flat_data / flat_total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chat_file", type=Path, help="{'messages'} rows; default: the demo's, built from the docs")
    parser.add_argument("--code_file", type=Path, help="{'content'} rows; default: the bundled docs' examples")
    args = parser.parse_args()
    datasets.disable_progress_bars()

    started = time.perf_counter()
    tokenizer = train_tokenizer(docs_texts([BUNDLED_DOCS]))
    api = read_markdown_docs([BUNDLED_DOCS])
    source = read_jsonl(args.code_file, required=("content",)) if args.code_file else code_rows(api)
    texts = [row["content"] for row in source]
    print(f"tokenizer: byte-level BPE, {len(tokenizer)} tokens, trained on the bundled docs")
    print(
        f"code: {len(texts)} rows ({args.code_file or 'the bundled examples'});"
        f" chat: {args.chat_file or 'the demo chat dataset (luacoder build-chat on the bundled docs)'}\n"
    )
    print(
        "{:<5} {:<25} {:>5} {:>5} {:>7} {:>7} {:>7} {:>6} {:>5}".format(
            "data", "stage config", "seq", "batch", "tokens", "packed", "padded", "ratio", "fill"
        )
        + " flat row"
    )
    demo = []
    demo_rows = None if args.chat_file else demo_conversations()
    for config_name in ("config_cpu.yaml", "config.yaml"):
        code_config = load_yaml(REPO / "deepspeed" / "pretrain" / config_name)
        chat_config = load_yaml(REPO / "deepspeed" / "chat" / config_name)
        system = chat_config.get("system_prompt")
        conversations = (
            load_chat_dataset(str(args.chat_file), system)
            if args.chat_file
            else Dataset.from_dict(
                {"messages": [to_messages(r, f"demo row {n}", system) for n, r in enumerate(demo_rows)]}
            )
        )
        for data, config, seq, result in (
            ("code", code_config, code_config["seq_length"], code_case(texts, tokenizer, code_config)),
            ("chat", chat_config, chat_config["max_length"], chat_case(conversations, tokenizer, chat_config)),
        ):
            stage = "pretrain" if data == "code" else "chat"
            print(
                f"{data:<5} {stage + '/' + config_name:<25} {seq:>5} {config['per_device_train_batch_size']:>5}"
                f" {result.tokens:>7} {result.packed:>7.3f} {result.padded:>7.3f}"
                f" {result.packed / result.padded:>5.2f}x {result.fill:>5.2f}"
                + (f" {result.flat:>8.3f}" if result.flat is not None else "")
            )
            if config_name == "config_cpu.yaml":
                demo.append(result)

    print(
        "\npacked, padded: data tokens / batch tokens, with the stage's packing and with per-batch padding; ratio:"
        " packed / padded.\nfill: data tokens / (packed rows x seq). Code rows are cut every seq tokens, so only the"
        " last row is padded (at most 1/rows of the tokens: the bundled set is 10 rows at seq 2048). Packed"
        " conversations: packed = the chat stage's PackedRowsCollator (rows padded to the batch's longest row);"
        " flat row = TRL's padding-free collator, which the stage uses under flash attention (no padding at all)."
    )
    worst = min(result.packed for result in demo)
    verdict = "met" if worst >= TARGET else "NOT met"
    print(f"lowest packed share with the demo's configs (config_cpu.yaml): {worst:.3f}; target {TARGET}: {verdict}")
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
