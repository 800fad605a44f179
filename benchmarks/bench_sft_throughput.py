"""Chat fine-tuning throughput (data tokens per second): the chat stage's settings against TRL's SFTTrainer with
its defaults, on the same tiny model and the same conversations, one after the other in one process.

    .venv/bin/python benchmarks/bench_sft_throughput.py [--rows 400] [--repeats 3] [--chat_file F]

Sides, each training one epoch in one process without DeepSpeed, from the same randomly initialised tiny
StarCoder2 model:
- flat packed row: deepspeed/chat/config_cpu.yaml as the stage parses it (bfd packing, assistant-only loss,
  max_length, batch size) with TRL's own collator: packed rows padding-free, a batch becomes one flat row, attention
  masked per conversation over the whole row;
- chat stage: the same settings with luacoder.train.packing's PackedRowsCollator, as deepspeed/chat and deepspeed/main
  use it without flash attention: each packed row a row of its own, attention masked per conversation within it;
- TRL padding-free: `SFTConfig(padding_free=True)` without packing, same batch size: each batch of conversations
  one flat row without padding (what a user of TRL would pick), attention masked per conversation;
- TRL defaults: `SFTConfig()` with the same batch size: one row per conversation, each batch padded to its longest.
All sides run in fp32 without activation checkpointing (SFTConfig defaults to bf16 and checkpointing, which only
slow a tiny model on the CPU), on one thread. Throughput is the epoch's data tokens (the same on every side) per
second of this process's CPU time (wall time, printed too, moves with whatever else runs on the machine); the sides
alternate for --repeats rounds and the medians count. Conversations: the first --rows of the demo's chat dataset
(`luacoder build-chat` on the bundled docs, built here), unless --chat_file (e.g. outputs/data/chat/train.jsonl).
Every side trains on the same conversations; the script checks that each side's data tokens are the same.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import datasets
import torch
import transformers
from demo_data import demo_conversations  # beside this script
from trl import SFTConfig, SFTTrainer

from luacoder.config import parse_config
from luacoder.dialogue import to_messages
from luacoder.train.datasets import ChatDataArguments, load_chat_dataset
from luacoder.train.model_setup import ModelArguments, ensure_chat_format, load_model, load_tokenizer
from luacoder.train.packing import keep_packed_rows_apart
from luacoder.train.tiny_model import save_tiny_model
from luacoder.train.tokenizer import docs_texts, train_tokenizer

REPO = Path(__file__).resolve().parents[1]
BUNDLED_DOCS = REPO / "data" / "docs" / "lua54"
CHAT_CONFIG = REPO / "deepspeed" / "chat" / "config_cpu.yaml"
# The same on every side; the rest of each side's settings is its own.
CPU_RUN = dict(
    bf16=False,
    activation_checkpointing=False,
    num_train_epochs=1,
    max_steps=-1,
    save_strategy="no",
    eval_strategy="no",
    logging_strategy="no",
    disable_tqdm=True,
    report_to="none",
)
SETTINGS = [
    "packing",
    "packing_strategy",
    "max_length",
    "assistant_only_loss",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
]


@dataclass
class Epoch:
    cpu_seconds: float  # CPU time of this process: what the training cost, whatever else shares the machine
    wall_seconds: float  # the Trainer's train_runtime
    tokens: int
    steps: int


def train_one_epoch(model_args: ModelArguments, dataset, args: SFTConfig, rows_apart: bool) -> Epoch:
    tokenizer = load_tokenizer(model_args)
    model = load_model(model_args)
    ensure_chat_format(tokenizer, model)
    transformers.set_seed(args.seed)
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    trainer.remove_callback(transformers.PrinterCallback)  # the table below says it all
    if rows_apart:
        assert keep_packed_rows_apart(trainer)
    tokens = sum(len(ids) for ids in trainer.train_dataset["input_ids"])
    cpu = time.process_time()
    metrics = trainer.train().metrics
    return Epoch(time.process_time() - cpu, metrics["train_runtime"], tokens, trainer.state.global_step)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=400, help="conversations to train on (default 400)")
    parser.add_argument("--repeats", type=int, default=3, help="epochs per side, alternating; medians count")
    parser.add_argument("--chat_file", type=Path, help="{'messages'} rows; default: built from the bundled docs")
    args = parser.parse_args()
    datasets.disable_progress_bars()
    transformers.utils.logging.set_verbosity_error()
    # One thread: its CPU time is the work done, unaffected by other processes and by threads spinning idle.
    torch.set_num_threads(1)
    started, load_before = time.perf_counter(), os.getloadavg()[0]

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tokenizer = train_tokenizer(docs_texts([BUNDLED_DOCS]))
        save_tiny_model("starcoder2", tokenizer, tmp / "model", seed=0)

        def stage_config(*overrides: str):
            return parse_config(
                [ModelArguments, ChatDataArguments, SFTConfig],
                [
                    str(CHAT_CONFIG),
                    f"--model_name_or_path={tmp / 'model'}",
                    f"--train_file={tmp / 'unused.jsonl'}",
                    f"--output_dir={tmp / 'out'}",
                    *(f"--{key}={value}" for key, value in CPU_RUN.items()),
                    *overrides,
                ],
            )

        model_args, data_args, stage = stage_config()
        batch = stage.per_device_train_batch_size
        defaults = SFTConfig(
            output_dir=str(tmp / "trl"), use_cpu=True, per_device_train_batch_size=batch, seed=stage.seed, **CPU_RUN
        )
        padding_free = SFTConfig(
            output_dir=str(tmp / "trl-pf"),
            use_cpu=True,
            per_device_train_batch_size=batch,
            seed=stage.seed,
            padding_free=True,
            max_length=None,  # TRL refuses max_length without packing here; the check below sees any truncation
            **CPU_RUN,
        )
        # side: (config, packed rows kept apart)
        sides = {
            "flat packed row": (stage, False),
            "chat stage": (stage, True),
            "TRL padding-free": (padding_free, False),
            "TRL defaults": (defaults, False),
        }

        if args.chat_file:
            conversations = load_chat_dataset(str(args.chat_file), data_args.system_prompt)
        else:
            rows = demo_conversations()
            messages = [to_messages(row, f"demo row {n}", data_args.system_prompt) for n, row in enumerate(rows)]
            conversations = datasets.Dataset.from_dict({"messages": messages})
        dataset = conversations.select(range(min(args.rows, len(conversations))))
        parameters = sum(p.numel() for p in load_model(model_args).parameters())
        threads = torch.get_num_threads()
        print(f"{len(dataset)} conversations; tiny StarCoder2, {parameters:,} parameters; {threads} threads")
        print(f"\n{'setting':<28} " + " ".join(f"{side:>17}" for side in sides))
        for name in [*SETTINGS[:2], "padding_free", *SETTINGS[2:]]:
            print(f"{name:<28} " + " ".join(f"{str(getattr(config, name)):>17}" for config, _ in sides.values()))

        runs: dict[str, list] = {side: [] for side in sides}
        for _ in range(args.repeats):
            for side, (config, rows_apart) in sides.items():
                runs[side].append(train_one_epoch(model_args, dataset, config, rows_apart))

    print(f"\n{'side':<20} {'tokens':>7} {'steps':>5} {'CPU s':>7} {'tokens/CPU s':>12} {'vs TRL':>7} {'wall s':>7}")
    median = {
        side: Epoch(*(statistics.median(getattr(e, f) for e in epochs) for f in Epoch.__dataclass_fields__))
        for side, epochs in runs.items()
    }
    speed = {side: epoch.tokens / epoch.cpu_seconds for side, epoch in median.items()}
    for side, epoch in median.items():
        print(
            f"{side:<20} {epoch.tokens:>7.0f} {epoch.steps:>5.0f} {epoch.cpu_seconds:>7.1f} {speed[side]:>12.0f}"
            f" {speed[side] / speed['TRL defaults']:>6.2f}x {epoch.wall_seconds:>7.1f}"
        )
    tokens = {side: {e.tokens for e in epochs} for side, epochs in runs.items()}
    same = len(set().union(*tokens.values())) == 1
    print(f"\nthe same data tokens on every side: {'yes' if same else f'NO: {tokens}'}")
    for side in ("flat packed row", "chat stage", "TRL padding-free"):
        print(f"throughput ratio, {side} / TRL defaults: {speed[side] / speed['TRL defaults']:.2f}x")
    print(f"throughput ratio, chat stage / TRL padding-free: {speed['chat stage'] / speed['TRL padding-free']:.2f}x")
    load_after = os.getloadavg()[0]
    print(f"load average {load_before:.1f} before, {load_after:.1f} after, on {os.cpu_count()} cores")
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
