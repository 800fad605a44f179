"""Eval's generation: batched against one prompt at a time, same checkpoint, same prompts, in one run.

    .venv/bin/python benchmarks/bench_eval_batching.py [--prompts 32] [--batch_size 16] [--max_new_tokens 64]

Both sides call `luacoder.train.generation.generate_completions` (what eval.py's hf backend runs) on a tiny
StarCoder2 built here (random weights plus seeded noise, a tokenizer trained on the bundled docs) with greedy
decoding, and count generated tokens the way eval.py does (up to and including the stop token). Prints tokens/s of
each side, the ratio, and how many answers are identical on both sides (left padding can move a near-tie).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUNDLED_DOCS = REPO / "data" / "docs" / "lua54"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--max_new_tokens", type=int, default=64)
    parser.add_argument("--hidden_size", type=int, default=128, help="of the tiny model (128)")
    parser.add_argument("--layers", type=int, default=2)
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForCausalLM

    from luacoder.apidocs.markdown import read_markdown_docs
    from luacoder.train.generation import chat_messages, format_chat, generate_completions
    from luacoder.train.tiny_model import save_tiny_model
    from luacoder.train.tokenizer import docs_texts, train_tokenizer

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
    options = {"max_new_tokens": args.max_new_tokens, "do_sample": False}
    generate_completions(model, tokenizer, texts[:2], batch_size=2, **options)  # warm-up

    timings = {}
    for label, batch_size in (("one at a time", 1), (f"batches of {args.batch_size}", args.batch_size)):
        start = time.perf_counter()
        completions = generate_completions(model, tokenizer, texts, batch_size=batch_size, **options)
        seconds = time.perf_counter() - start
        tokens = sum(c.new_tokens for c in completions)
        timings[label] = (seconds, tokens, completions)
        rate = tokens / seconds
        print(f"{label:16} {len(texts)} prompts  {tokens:6d} tokens  {seconds:7.2f} s  {rate:8.1f} tokens/s")
    (single_s, single_t, single), (batched_s, batched_t, batched) = timings.values()
    same = sum(a.text == b.text for a, b in zip(single, batched, strict=True))
    print(f"ratio (batched / one at a time, tokens/s): {(batched_t / batched_s) / (single_t / single_s):.2f}x")
    print(f"identical answers: {same}/{len(texts)}  (torch threads: {torch.get_num_threads()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
