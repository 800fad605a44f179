"""The GPU check: chat-stage training and eval generation speed of StarCoder2-3B on one GPU, in one table.

    python benchmarks/gpu_check.py                 # one H100/H200 (bash benchmarks/gpu_check.sh installs wheels first)
    python benchmarks/gpu_check.py --tiny          # the same runs on a tiny StarCoder2 on the CPU (seconds)

Needs no network: StarCoder2-3B is built from its config (`luacoder.train.plan`'s preset, the public config.json
values) with random weights, the tokenizer is trained on the bundled docs, and the conversations are the chat
dataset the data builders make from the bundled docs (as the demo does). Every run is a child process of its own, so
one that fails (out of memory, a missing kernel) is a row with its error and the others still run.

Rows:
- chat SFT, as deepspeed/chat/train.py trains (bfd packing into rows of max_length, assistant-only loss, bf16, no
  activation checkpointing; micro-batch 4 as the config on a GPU of 120 GiB or more, else 1): SDPA with the packed
  rows kept apart (`luacoder.train.packing`), flash attention with TRL's flat padding-free row (where
  flash-attn is installed), and the better of the two under ZeRO-3 for the ZeRO-2/ZeRO-3 comparison (on one GPU
  ZeRO-3 saves no memory: the row shows what its per-layer gathering costs). Tokens/s counts the data tokens of the
  timed steps (after warm-up steps); MFU = 6 x parameters x tokens/s / the GPU's dense bf16 peak (looked up by
  name below; n/a for an unknown GPU and on the CPU).
- eval generation: eval's HF backend (`luacoder.evaluation.shrinking_batch`, batches of 32) and vLLM (where installed),
  on chat-formatted prompts; random weights seldom write a stop token, so rows run to max_new_tokens.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from transformers import TrainerCallback

REPO = Path(__file__).resolve().parents[1]
BUNDLED_DOCS = REPO / "data" / "docs" / "lua54"
DS_CONFIGS = REPO / "deepspeed" / "ds_configs"
# Dense (not sparse) bf16 tensor-core peaks, TFLOP/s, from the vendors' data sheets; first match of the device name.
PEAK_BF16_TFLOPS = [
    ("H200", 989.4),
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.4),  # SXM
    ("H800", 989.4),
    ("A100", 312.0),
    ("L40S", 362.1),
    ("L4", 121.0),
]


def peak_bf16_flops(device_name: str) -> float | None:
    for key, tflops in PEAK_BF16_TFLOPS:
        if key.lower() in device_name.lower():
            return tflops * 1e12
    return None


def workload(tiny: bool) -> dict:
    """Sizes of every run; --tiny shrinks them to seconds on a CPU."""
    if tiny:
        return dict(max_length=256, micro_batch=2, warmup=1, steps=2, prompts=6, batch=4, new_tokens=8, vocab=1024)
    import torch

    # On one GPU ZeRO partitions nothing: the 3B's model states take about 56 GiB (luacoder plan --gpus_per_node 1),
    # so an 80 GiB GPU has room for activations of one 2048-token row, a 141 GiB one for the chat config's four.
    memory_gib = torch.cuda.get_device_properties(0).total_memory / 2**30
    micro_batch = 4 if memory_gib >= 120 else 1
    return dict(
        max_length=2048, micro_batch=micro_batch, warmup=3, steps=10, prompts=128, batch=32, new_tokens=256, vocab=8192
    )


# ---------------------------------------------------------------- preparation (parent process)


def prepare(folder: Path, tiny: bool) -> None:
    """The tokenizer and the chat conversations every run reads: made once, here."""
    from demo_data import demo_conversations  # beside this script

    from luacoder.train.tokenizer import docs_texts, train_tokenizer

    train_tokenizer(docs_texts([BUNDLED_DOCS]), vocab_size=workload(tiny)["vocab"]).save_pretrained(folder / "tok")
    with open(folder / "chat.jsonl", "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in demo_conversations())


# ---------------------------------------------------------------- one run (child process)


def build_model(folder: Path, tiny: bool, attn: str, device: str):
    """StarCoder2-3B (or the tiny one) with random weights, in bf16 on the GPU (fp32 on the CPU), and its tokenizer
    with the dialogue tokens and template."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from luacoder.train.model_setup import ensure_chat_format
    from luacoder.train.plan import load_config
    from luacoder.train.tiny_model import tiny_config

    tokenizer = AutoTokenizer.from_pretrained(folder / "tok")
    config = tiny_config("starcoder2", tokenizer) if tiny else load_config("starcoder2-3b")[0]
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(
            config, dtype=torch.float32 if tiny else torch.bfloat16, attn_implementation=attn
        )
    ensure_chat_format(tokenizer, model)
    return model, tokenizer


class CountingCollator:
    """The trainer's collator, recording the data tokens of every batch it makes, in order."""

    def __init__(self, collate):
        self.collate, self.tokens = collate, []

    def __call__(self, examples):
        self.tokens.append(sum(len(example["input_ids"]) for example in examples))
        return self.collate(examples)


def train_run(folder: Path, tiny: bool, attn: str, zero: int) -> dict:
    import torch
    import transformers
    from trl import SFTConfig, SFTTrainer

    from luacoder.train.datasets import load_chat_dataset
    from luacoder.train.packing import keep_packed_rows_apart

    sizes = workload(tiny)
    device = "cpu" if tiny else "cuda"
    ds_config = {2: "zero2.json", 3: "zero3_cpu.json" if tiny else "zero3_bf16.json"}[zero]
    args = SFTConfig(
        output_dir=str(folder / f"out-{attn}-{zero}"),
        deepspeed=str(DS_CONFIGS / ds_config),
        use_cpu=tiny,
        bf16=not tiny,
        max_steps=sizes["warmup"] + sizes["steps"],
        per_device_train_batch_size=sizes["micro_batch"],
        gradient_accumulation_steps=1,
        learning_rate=1e-5,
        max_length=sizes["max_length"],
        packing=True,
        packing_strategy="bfd",
        assistant_only_loss=True,
        activation_checkpointing=False,
        save_strategy="no",
        eval_strategy="no",
        logging_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=42,
    )
    model, tokenizer = build_model(folder, tiny, attn, device)
    parameters = sum(p.numel() for p in model.parameters())
    dataset = load_chat_dataset(str(folder / "chat.jsonl"), "You are a helpful assistant that writes Lua code.")
    transformers.set_seed(42)
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    trainer.remove_callback(transformers.PrinterCallback)
    rows_apart = keep_packed_rows_apart(trainer)
    counter = CountingCollator(trainer.data_collator)
    trainer.data_collator = counter
    clock = StepClock(sizes["warmup"], sizes["warmup"] + sizes["steps"], device)
    trainer.add_callback(clock)
    trainer.train()
    tokens = sum(counter.tokens[sizes["warmup"] : sizes["warmup"] + sizes["steps"]])
    engine_stage = trainer.accelerator.state.deepspeed_plugin.zero_stage if trainer.is_deepspeed_enabled else None
    if engine_stage != zero:
        raise RuntimeError(f"asked for ZeRO-{zero}, the trainer ran {engine_stage or 'without DeepSpeed'}")
    result = {
        "attention": model.config._attn_implementation,
        "rows": "packed rows kept apart" if rows_apart else "flat padding-free row",
        "zero": engine_stage,
        "parameters": parameters,
        "tokens": tokens,
        "seconds": clock.seconds,
        "tokens_per_second": tokens / clock.seconds,
    }
    if device == "cuda":
        result["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return result


class StepClock(TrainerCallback):
    """Wall time from the start of step `first` to the end of step `last` (1-based), the GPU's work included."""

    def __init__(self, first: int, last: int, device: str):
        self.first, self.last, self.device = first, last, device
        self.started = self.seconds = None

    def _sync(self) -> None:
        if self.device == "cuda":
            import torch

            torch.cuda.synchronize()

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == self.first:
            self._sync()
            self.started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.last:
            self._sync()
            self.seconds = time.perf_counter() - self.started


def eval_prompts(tokenizer, folder: Path, count: int) -> list[str]:
    from luacoder.dialogue import chat_messages
    from luacoder.evaluation.engine import format_chat

    prompts = []
    with open(folder / "chat.jsonl", encoding="utf-8") as handle:
        for line in handle:
            first = json.loads(line)["messages"][0]
            prompts.append(format_chat(tokenizer, chat_messages(first["content"])))
            if len(prompts) == count:
                break
    return prompts


def eval_run(folder: Path, tiny: bool, backend: str) -> dict:
    import torch

    from luacoder.evaluation.engine import Decoding

    sizes = workload(tiny)
    device = "cpu" if tiny else "cuda"
    model, tokenizer = build_model(folder, tiny, "sdpa", device)
    texts = eval_prompts(tokenizer, folder, sizes["prompts"])
    seeds = list(range(len(texts)))
    decoding = Decoding(max_new_tokens=sizes["new_tokens"])
    if backend == "hf":
        from luacoder.evaluation.shrinking_batch import DecodeCounts, generate_shrinking

        model.eval()
        generate_shrinking(model, tokenizer, texts[:2], seeds=[0, 1], max_new_tokens=2, batch_size=2)  # warm-up
        counts = DecodeCounts()
        started = time.perf_counter()
        completions = generate_shrinking(
            model, tokenizer, texts, seeds=seeds, max_new_tokens=sizes["new_tokens"], batch_size=sizes["batch"],
            counts=counts,
        )  # fmt: skip
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        detail = f"batches of {sizes['batch']}, rows leave when done"
    else:
        from luacoder.evaluation.backends import VllmBackend

        model.save_pretrained(folder / "model")
        tokenizer.save_pretrained(folder / "model")
        del model
        torch.cuda.empty_cache()
        vllm = VllmBackend(folder / "model", "markdown", dtype="bfloat16", gpu_memory_utilization=0.5)
        vllm.complete(texts[:2], Decoding(max_new_tokens=2), [0, 1])  # warm-up
        started = time.perf_counter()
        completions = vllm.complete(texts, decoding, seeds)
        seconds = time.perf_counter() - started
        detail = "all prompts in one generate call"
    tokens = sum(c.new_tokens for c in completions)
    return {"backend": backend, "prompts": len(texts), "tokens": tokens, "seconds": seconds, "detail": detail}


# ---------------------------------------------------------------- the table


def child(spec: dict, folder: Path, tiny: bool, timeout: float) -> dict:
    """Run one measurement in a process of its own; its result, or the error it ended with."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "TOKENIZERS_PARALLELISM": "false",
        # One process, one GPU: what DeepSpeed's launcher would set.
        "RANK": "0",
        "LOCAL_RANK": "0",
        "WORLD_SIZE": "1",
        "LOCAL_WORLD_SIZE": "1",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(free_port()),
    }
    command = [sys.executable, __file__, "--one", json.dumps(spec), "--folder", str(folder), *(["--tiny"] * tiny)]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**spec, "error": f"over {timeout:.0f} s"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("RESULT "):
            return {**spec, **json.loads(line.removeprefix("RESULT "))}
    last = [line for line in done.stderr.splitlines() if line.strip()][-1:] or [f"exit status {done.returncode}"]
    return {**spec, "error": last[0][-300:]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def main() -> int:
    from luacoder.cli import add_output_file

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="a tiny StarCoder2 on the CPU: checks the script")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--run_timeout", type=float, default=240, help="seconds one run may take (default 240)")
    add_output_file(parser, "also write the rows as JSON here", old=["--json"])
    args = parser.parse_args()
    if args.one:
        spec = json.loads(args.one)
        if spec["kind"] == "train":
            result = train_run(args.folder, args.tiny, spec["attn"], spec["zero"])
        else:
            result = eval_run(args.folder, args.tiny, spec["backend"])
        print("RESULT " + json.dumps(result))
        return 0

    import torch
    import transformers

    started = time.perf_counter()
    gpu = "CPU" if args.tiny else torch.cuda.get_device_name()
    peak = None if args.tiny else peak_bf16_flops(gpu)
    flash = None if args.tiny else next(
        (name for name, module in (("flash_attention_3", "flash_attn_interface"), ("flash_attention_2", "flash_attn"))
         if installed(module)), None,
    )  # fmt: skip
    runs = [{"kind": "train", "attn": "sdpa", "zero": 2}]
    if flash:
        runs.append({"kind": "train", "attn": flash, "zero": 2})
    runs.append({"kind": "train", "attn": flash or "sdpa", "zero": 3})
    runs.append({"kind": "eval", "backend": "hf"})
    if not args.tiny and installed("vllm"):
        runs.append({"kind": "eval", "backend": "vllm"})

    with tempfile.TemporaryDirectory(prefix="gpu_check-") as tmp:
        folder = Path(tmp)
        prepare(folder, args.tiny)
        prepared = time.perf_counter() - started
        results = [child(spec, folder, args.tiny, args.run_timeout) for spec in runs]

    print(f"\nGPU check, {time.strftime('%Y-%m-%d %H:%M %Z')}: {gpu}; torch {torch.__version__}, transformers "
          f"{transformers.__version__}; flash attention: {flash or 'not installed'}; vllm: "
          f"{'installed' if installed('vllm') else 'not installed'}")  # fmt: skip
    model = "tiny StarCoder2" if args.tiny else "StarCoder2-3B (random weights)"
    sizes = workload(args.tiny)
    print(
        f"{model}; chat SFT: rows of {sizes['max_length']}, micro-batch {sizes['micro_batch']}, "
        f"{sizes['steps']} timed steps after {sizes['warmup']}; eval: {sizes['prompts']} prompts x "
        f"{sizes['new_tokens']} new tokens\n"
    )
    print(f"| {'run':<44} | {'tokens/s':>9} | {'MFU':>6} | {'peak GiB':>8} | notes")
    print(f"| {'-' * 44} | {'-' * 9} | {'-' * 6} | {'-' * 8} | -----")
    for row in results:
        if row["kind"] == "train":
            name = f"chat SFT, {row['attn']}, ZeRO-{row['zero']}"
        else:
            name = f"eval generation, {row['backend']}"
        if "error" in row:
            print(f"| {name:<44} | {'failed':>9} | {'':>6} | {'':>8} | {row['error']}")
            continue
        speed = row["tokens"] / row["seconds"]
        mfu = f"{6 * row['parameters'] * speed / peak:.1%}" if row["kind"] == "train" and peak else "n/a"
        memory = f"{row['peak_memory_gib']:.1f}" if "peak_memory_gib" in row else ""
        note = row.get("rows") or row.get("detail")
        print(f"| {name:<44} | {speed:>9.0f} | {mfu:>6} | {memory:>8} | {note}; {row['tokens']} tokens")
    print(f"\n({time.perf_counter() - started:.0f} s, {prepared:.0f} s of it preparing the tokenizer and data)")
    if args.output_file:
        args.output_file.write_text(json.dumps({"gpu": gpu, "peak_bf16_flops": peak, "rows": results}, indent=1))
    return 0 if all("error" not in row for row in results) else 1


if __name__ == "__main__":
    sys.exit(main())
