"""The cost of decoding constrained to documented names: HF generate's tokens/s with and without the processor.

    .venv/bin/python benchmarks/bench_constrained_decoding.py [--model_name_or_path DIR] [--prompts 8]
        [--max_new_tokens 96] [--batch_size 8] [--report_type code|markdown] [--threads 1] [--repeats 3]

Sides, in one run, on the same model, prompts and batches (greedy, left-padded, `model.generate`):
- free: no logits processor;
- constrained: `ApiNameConstraint(tokenizer, api).hf_processor()` over the bundled docs (data/docs/lua54).
Without --model_name_or_path, a tiny StarCoder2 built here (random weights, a tokenizer trained on the bundled docs),
asked with --report_type code (default for it): the whole answer is Lua, so the rule is looked at on every step, the
processor's worst case. With --model_name_or_path (a model folder, e.g. SmolLM2-135M-Instruct from `luacoder
fetch-model smollm2-135m-instruct -o DIR`), chat questions in its own template, --report_type markdown (its default):
the rule applies in the answer's
```lua blocks. Tokens are counted up to and including each row's first stop token. Each side runs --repeats times,
interleaved; medians are printed, with the ratio, the row-steps the processor restricted and how many answers
differ. Building the constraint (indexing the tokenizer's pieces) is a one-time cost, printed apart.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUNDLED_DOCS = REPO / "data" / "docs" / "lua54"
QUESTIONS = [
    "How do I split a string on commas in Lua?",
    "Write a Lua function that reverses a table.",
    "Read a whole file into a string in Lua.",
    "Format a number with two decimals in Lua.",
    "How do I get the current date in Lua?",
    "Remove the spaces at both ends of a string in Lua.",
    "Sort a table of names in Lua.",
    "Count the words in a string in Lua.",
]


class Timed:
    """A logits processor with the CPU time spent in it counted: the processor's own cost, which the machine's
    load moves far less than the generation's wall time."""

    def __init__(self, processor):
        self.processor, self.cpu, self.row_steps = processor, 0.0, 0

    def __call__(self, input_ids, scores):
        started = time.process_time()
        scores = self.processor(input_ids, scores)
        self.cpu += time.process_time() - started
        self.row_steps += input_ids.shape[0]
        return scores


def generate(model, tokenizer, texts: list[str], batch_size: int, max_new_tokens: int, processor_factory):
    """(wall seconds, CPU seconds, tokens, answers, processors) of greedy generation in batches."""
    import torch
    from transformers import LogitsProcessorList

    stops = model.generation_config.eos_token_id
    stops = {stops} if isinstance(stops, int) else set(stops or [tokenizer.eos_token_id])
    tokens, answers, used = 0, [], []
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(texts), batch_size):
        batch = texts[start : start + batch_size]
        inputs = tokenizer(batch, add_special_tokens=False, padding=True, padding_side="left", return_tensors="pt")
        processors = [Timed(processor_factory())] if processor_factory else []
        with torch.inference_mode():
            out = model.generate(
                **inputs,
                logits_processor=LogitsProcessorList(processors),
                do_sample=False,
                max_new_tokens=max_new_tokens,
                pad_token_id=tokenizer.pad_token_id,
            )
        for row in out[:, inputs["input_ids"].shape[1] :].tolist():
            end = next((i + 1 for i, t in enumerate(row) if t in stops), len(row))
            tokens += end
            answers.append(tokenizer.decode(row[:end], skip_special_tokens=True))
        used += processors
    return time.perf_counter() - started, time.process_time() - cpu, tokens, answers, used


def main() -> int:
    from luacoder.cli import add_option

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_option(
        parser,
        "--model_name_or_path",
        old=["--model"],
        type=Path,
        default=None,
        help="a model folder (default: a tiny model built here)",
    )
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--max_new_tokens", type=int, default=96)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--report_type", choices=("code", "markdown"), default=None)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from luacoder.apidocs import read_docs
    from luacoder.evaluation.constrained import ApiNameConstraint

    torch.set_num_threads(args.threads)
    api = read_docs([BUNDLED_DOCS]).api
    questions = [QUESTIONS[i % len(QUESTIONS)] for i in range(args.prompts)]
    with tempfile.TemporaryDirectory() as tmp:
        if args.model_name_or_path is None:
            from luacoder.train.tiny_model import save_tiny_model
            from luacoder.train.tokenizer import docs_texts, train_tokenizer

            tokenizer = train_tokenizer(docs_texts([BUNDLED_DOCS]), vocab_size=2048)
            save_tiny_model("starcoder2", tokenizer, tmp, seed=0)
            model_dir, label = Path(tmp), "tiny StarCoder2 (random weights)"
            report_type = args.report_type or "code"
        else:
            model_dir, label = args.model_name_or_path, str(args.model_name_or_path)
            report_type = args.report_type or "markdown"
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if report_type == "code":  # completions: each prompt opens a Lua chunk
        texts = [f"-- {q}\nlocal " for q in questions]
    else:
        texts = [
            tokenizer.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True)
            for q in questions
        ]

    started = time.perf_counter()
    constraint = ApiNameConstraint(tokenizer, api, report_type=report_type)
    build = time.perf_counter() - started

    rates: dict[tuple[str, str], list[float]] = {}
    answers: dict[str, list[str]] = {}
    processor_cpu: list[float] = []
    for _ in range(args.repeats):
        for side, factory in (("free", None), ("constrained", constraint.hf_processor)):
            wall, cpu, tokens, answers[side], processors = generate(
                model, tokenizer, texts, args.batch_size, args.max_new_tokens, factory
            )
            rates.setdefault((side, "wall"), []).append(tokens / wall)
            rates.setdefault((side, "CPU"), []).append(tokens / cpu)
            if side == "constrained":
                row_steps = sum(p.row_steps for p in processors)
                restricted = sum(p.processor.steps_constrained for p in processors)
                processor_cpu.append(sum(p.cpu for p in processors))
                share = processor_cpu[-1] / cpu
    differ = sum(a != b for a, b in zip(answers["free"], answers["constrained"], strict=True))
    print(f"model: {label}; {len(texts)} prompts, batches of {args.batch_size}, {args.max_new_tokens} new tokens,")
    print(f"greedy, {args.threads} torch thread(s), report_type {report_type}, medians of {args.repeats}")
    print(f"constraint built in {build:.2f} s (the tokenizer's {len(tokenizer)} pieces indexed)")
    for clock in ("wall", "CPU"):
        free, constrained = (statistics.median(rates[side, clock]) for side in ("free", "constrained"))
        runs = {side: ", ".join(f"{r:.1f}" for r in rates[side, clock]) for side in ("free", "constrained")}
        print(
            f"tokens per {clock} second: free {free:.1f} (runs {runs['free']}), constrained {constrained:.1f}"
            f" (runs {runs['constrained']}): ratio {constrained / free:.3f}"
        )
    spent = statistics.median(processor_cpu)
    print(
        f"in the processor: {spent:.2f} CPU s per run (median), {1000 * spent / row_steps:.3f} ms per row-step,"
        f" {share:.1%} of the constrained side's CPU time (last run)"
    )
    print(f"row-steps restricted: {restricted} of {row_steps}; answers that differ: {differ} of {len(texts)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
