"""Eval's generation against its limit, the bare KV-cache decode step, on the same model and prompts in one run.

    .venv/bin/python benchmarks/bench_eval_batching.py [--prompts 32] [--batch_size 16] [--max_new_tokens 64]
        [--threads 1] [--repeats 3]

Sides, on a tiny StarCoder2 built here (random weights plus seeded noise, a tokenizer trained on the bundled docs),
greedy, the prompts in the same batches of --batch_size (longest first):
- eval (hf backend): `luacoder.evaluation.shrinking_batch.generate_shrinking`, what eval.py runs: rows leave the batch
  as they finish;
- static batches: `luacoder.evaluation.shrinking_batch.generate_static` (transformers' generate), each batch decoded
  until its longest answer ends;
- one at a time: the same, batch 1;
- decode limit: the model's forward with a KV cache and an argmax, nothing else, every row for max_new_tokens steps:
  no stop checks, no bookkeeping. No generation loop on this model and batch goes faster.
Tokens are counted as eval.py counts them (up to and including the stop token); the limit counts every step.
torch runs --threads threads (set explicitly: the default takes every core, which several processes on a shared
machine oversubscribe). Each side runs --repeats times, interleaved; medians are printed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUNDLED_DOCS = REPO / "data" / "docs" / "lua54"


def decode_limit(model, tokenizer, texts: list[str], batch_size: int, steps: int) -> tuple[float, int]:
    """(seconds, tokens) of prefill plus `steps` cached forward passes per batch, every row every step."""
    import torch
    from transformers import DynamicCache

    order = sorted(range(len(texts)), key=lambda i: -len(tokenizer(texts[i], add_special_tokens=False)["input_ids"]))
    started, tokens = time.perf_counter(), 0
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = [texts[i] for i in order[start : start + batch_size]]
            inputs = tokenizer(batch, add_special_tokens=False, padding=True, padding_side="left", return_tensors="pt")
            mask = inputs["attention_mask"]
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            cache = DynamicCache(config=model.config)
            step_ids = inputs["input_ids"]
            for _ in range(steps):
                logits = model(
                    input_ids=step_ids, attention_mask=mask, position_ids=positions, past_key_values=cache
                ).logits
                step_ids = logits[:, -1:].argmax(-1)
                mask = torch.cat([mask, mask.new_ones(len(batch), 1)], dim=-1)
                positions = positions[:, -1:] + 1
                tokens += len(batch)
    return time.perf_counter() - started, tokens


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--max_new_tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hidden_size", type=int, default=128, help="of the tiny model (128)")
    parser.add_argument("--layers", type=int, default=2)
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForCausalLM

    from luacoder.apidocs.markdown import read_markdown_docs
    from luacoder.dialogue import chat_messages
    from luacoder.evaluation.engine import format_chat
    from luacoder.evaluation.shrinking_batch import DecodeCounts, generate_shrinking, generate_static
    from luacoder.train.tiny_model import save_tiny_model
    from luacoder.train.tokenizer import docs_texts, train_tokenizer

    torch.set_num_threads(args.threads)
    api = read_markdown_docs([BUNDLED_DOCS], name="lua54")
    names = [e.name for e in api if e.kind in ("function", "method")]
    prompts = [f"Show how to use {names[i % len(names)]} in a short Lua example." for i in range(args.prompts)]
    with tempfile.TemporaryDirectory() as folder:
        tokenizer = train_tokenizer(docs_texts([BUNDLED_DOCS]), vocab_size=1024)
        overrides = {"hidden_size": args.hidden_size, "intermediate_size": 4 * args.hidden_size}
        save_tiny_model("starcoder2", tokenizer, folder, seed=0, num_hidden_layers=args.layers, **overrides)
        model = AutoModelForCausalLM.from_pretrained(folder).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # noise, so that different prompts get different answers
        for param in model.parameters():
            param.add_(torch.randn(param.shape, generator=generator) * 0.1)
    texts = [format_chat(tokenizer, chat_messages(p)) for p in prompts]
    steps, batch = args.max_new_tokens, args.batch_size
    seeds = list(range(len(texts)))
    counts = DecodeCounts()

    def eval_side():
        counts.row_steps = counts.forward_passes = 0
        return generate_shrinking(
            model, tokenizer, texts, seeds=seeds, max_new_tokens=steps, batch_size=batch, counts=counts
        )

    def static(size):
        return lambda: generate_static(model, tokenizer, texts, max_new_tokens=steps, batch_size=size, do_sample=False)

    sides = {"eval (hf backend)": eval_side, "static batches": static(batch), "one at a time": static(1)}
    generate_static(model, tokenizer, texts[:2], batch_size=2, max_new_tokens=2)  # warm-up
    timings: dict[str, list[tuple[float, int]]] = {side: [] for side in [*sides, "decode limit"]}
    answers = {}
    for _ in range(args.repeats):
        for side, run in sides.items():
            started = time.perf_counter()
            completions = run()
            timings[side].append((time.perf_counter() - started, sum(c.new_tokens for c in completions)))
            answers[side] = [c.text for c in completions]
        timings["decode limit"].append(decode_limit(model, tokenizer, texts, batch, steps))

    rates = {side: statistics.median(t / s for s, t in runs) for side, runs in timings.items()}
    limit = rates["decode limit"]
    print(f"{len(texts)} prompts, batches of {batch}, up to {steps} new tokens, greedy; torch threads "
          f"{torch.get_num_threads()}; medians of {args.repeats}\n")  # fmt: skip
    print(f"{'side':<20} {'tokens':>7} {'median s':>9} {'tokens/s':>9} {'of limit':>9}")
    for side, runs in timings.items():
        seconds = statistics.median(s for s, _ in runs)
        print(f"{side:<20} {runs[0][1]:>7} {seconds:>9.2f} {rates[side]:>9.1f} {rates[side] / limit:>8.0%}")
    useful = sum(len(a) > 0 for a in answers["eval (hf backend)"])
    same = sum(a == b for a, b in zip(answers["eval (hf backend)"], answers["static batches"], strict=True))
    print(f"\neval / decode limit: {rates['eval (hf backend)'] / limit:.0%}; eval / static batches: "
          f"{rates['eval (hf backend)'] / rates['static batches']:.2f}x; eval / one at a time: "
          f"{rates['eval (hf backend)'] / rates['one at a time']:.1f}x")  # fmt: skip
    print(f"eval's answers identical to static batching's: {same}/{len(texts)} ({useful} non-empty); "
          f"row-steps: {counts.row_steps} of the limit's {timings['decode limit'][0][1]}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
