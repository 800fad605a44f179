"""Packing efficiency: the share of the tokens in the training batches that are data, not padding, with the stages'
packing and with per-batch padding (no packing).

    .venv/bin/python benchmarks/bench_packing.py [--chat_file outputs/data/chat/train.jsonl] [--code_file F]

Code rows (every example of the bundled Lua 5.4 docs, unless --code_file) are packed as deepspeed/pretrain packs
them (luacoder.train.datasets: FIM, documents joined by EOS and cut every seq_length tokens) and collated by
the Trainer's default collator. Conversations (one per bundled example, unless --chat_file, e.g. the chat dataset
that data/dialogue.ipynb writes) are packed as deepspeed/chat packs them: TRL's best-fit-decreasing packing, then
TRL's padding-free collator. The baseline is TRL's default: one row per sample, each batch padded to its longest
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
from transformers import default_data_collator
from trl.data_utils import pack_dataset
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

from luacoder.apidocs.markdown import read_markdown_docs
from luacoder.config import load_yaml
from luacoder.files import read_jsonl
from luacoder.train.datasets import (
    FimIds,
    PretrainDataArguments,
    apply_fim,
    build_pretrain_rows,
    chat_rows,
    code_rows,
    load_chat_dataset,
)
from luacoder.train.tokenizer import docs_texts, train_tokenizer

REPO = Path(__file__).resolve().parents[1]
BUNDLED_DOCS = REPO / "data" / "docs" / "lua54"
TARGET = 0.97


@dataclass
class Result:
    tokens: int  # data tokens: the same on both sides
    packed: float  # data share of the packed batches
    padded: float  # data share of the per-batch-padded batches
    fill: float  # data tokens / (packed rows x seq): how full the packed rows are


def data_share(rows: list[dict], collate, batch_size: int, seed: int) -> tuple[int, int]:
    """(data tokens, batch tokens) over all batches the collator makes of `rows`, in a seeded random order."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    data = total = 0
    for start in range(0, len(order), batch_size):
        batch = collate([rows[i] for i in order[start : start + batch_size]])
        total += batch["input_ids"].numel()
        # Padding-free batches have no attention mask and no padding: every position is data.
        data += int(batch["attention_mask"].sum()) if "attention_mask" in batch else batch["input_ids"].numel()
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
    packed = pack_dataset(Dataset.from_dict({"input_ids": samples}), seq_length=max_length, strategy="bfd")
    collate = DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id, padding_free=True)
    data, total = data_share(list(packed), collate, batch, seed)
    fill = sum(map(len, samples)) / (len(packed) * max_length)
    return Result(data, data / total, padded_baseline(samples, tokenizer.pad_token_id, batch, seed), fill)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_chat = REPO / "outputs" / "data" / "chat" / "train.jsonl"
    parser.add_argument("--chat_file", type=Path, default=default_chat if default_chat.is_file() else None)
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
        f" chat: {args.chat_file or 'one conversation per bundled example'}\n"
    )
    print(
        "{:<5} {:<25} {:>5} {:>5} {:>7} {:>7} {:>7} {:>6} {:>5}".format(
            "data", "stage config", "seq", "batch", "tokens", "packed", "padded", "ratio", "fill"
        )
    )
    demo = []
    for config_name in ("config_cpu.yaml", "config.yaml"):
        code_config = load_yaml(REPO / "deepspeed" / "pretrain" / config_name)
        chat_config = load_yaml(REPO / "deepspeed" / "chat" / config_name)
        system = chat_config.get("system_prompt")
        conversations = (
            load_chat_dataset(str(args.chat_file), system)
            if args.chat_file
            else Dataset.from_list(chat_rows(api, system))
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
            )
            if config_name == "config_cpu.yaml":
                demo.append(result)

    print(
        "\npacked, padded: data tokens / batch tokens, with the stage's packing and with per-batch padding; ratio:"
        " packed / padded.\nfill: data tokens / (packed rows x seq). Code rows are cut every seq tokens, so only the"
        " last row is padded (at most 1/rows of the tokens: the bundled set is 10 rows at seq 2048). Packed"
        " conversations are collated padding-free (one flat row per batch): no padding, rows just hold fewer tokens."
    )
    worst = min(result.packed for result in demo)
    verdict = "met" if worst >= TARGET else "NOT met"
    print(f"lowest packed share with the demo's configs (config_cpu.yaml): {worst:.3f}; target {TARGET}: {verdict}")
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
