"""eval.py over ten checkpoints: the first run (generates everything) against a rerun (all from the cache).

    .venv/bin/python benchmarks/bench_eval_cache.py [--checkpoints 10] [--prompts 16] [--max_new_tokens 32]
        [--repeats 3]

Builds a training output_dir of tiny StarCoder2 checkpoints (different seeds, so different weights), the bundled
docs' api.json and a prompts CSV, then runs `python eval/eval.py config.yaml` as a user would: the first run, then
--repeats pairs of (a run stopped by a config error: the start-up floor, Python, torch and transformers imports,
then exit; a rerun, every answer from the cache) back to back, so that each rerun is measured against a floor taken
under the same load. Prints the medians, the rerun's work above its floor (the median of the pairs' differences),
and ratios; where that work is within the floors' run-to-run spread, it says so instead of dividing by noise.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUNDLED_DOCS = REPO / "data" / "docs" / "lua54"
EVAL_SCRIPT = REPO / "eval" / "eval.py"


def timed_eval(folder: Path, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(EVAL_SCRIPT), *args], cwd=folder, env=env, capture_output=True, text=True
    )
    return time.perf_counter() - start, done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=int, default=10)
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--max_new_tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="(floor, rerun) pairs (default 3)")
    args = parser.parse_args()

    from luacoder.apidocs.markdown import read_markdown_docs
    from luacoder.apidocs.schema import save_api
    from luacoder.train.tiny_model import save_tiny_model
    from luacoder.train.tokenizer import docs_texts, train_tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tokenizer = train_tokenizer(docs_texts([BUNDLED_DOCS]), vocab_size=1024)
        for n in range(args.checkpoints):
            folder = root / "run" / f"checkpoint-{(n + 1) * 10}"
            save_tiny_model("starcoder2", tokenizer, folder, seed=n)
            (folder / "trainer_state.json").write_text(json.dumps({"global_step": (n + 1) * 10}))
        api = read_markdown_docs([BUNDLED_DOCS], name="lua54")
        save_api(api, root / "api.json")
        names = [e.name for e in api if e.kind in ("function", "method")]
        with open(root / "prompts.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["prompt", "expected_apis"])
            for i in range(args.prompts):
                writer.writerow([f"Show how to use {names[i]} in Lua.", names[i]])
        (root / "config.yaml").write_text(
            "base_folder: run\napi_path: api.json\ntest_data_path: prompts.csv\noutput_dir: out\n"
            f"batch_size: 16\nmax_new_tokens: {args.max_new_tokens}\ndevice: cpu\ndtype: float32\n"
        )
        first, done = timed_eval(root, "config.yaml")
        assert done.returncode == 0, done.stderr[-2000:]
        floors, reruns = [], []
        for _ in range(args.repeats):
            floor, done = timed_eval(root, "config.yaml", "--no_such_key=1")
            assert done.returncode == 2 and "no_such_key" in done.stderr, done.stderr[-2000:]
            rerun, done = timed_eval(root, "config.yaml")
            assert done.returncode == 0, done.stderr[-2000:]
            floors.append(floor)
            reruns.append(rerun)
            with open(root / "out" / "results.csv") as handle:
                rows = list(csv.DictReader(handle))
            assert all(r["generated_now"] == "0" for r in rows), "the rerun generated answers"
    answers = args.checkpoints * args.prompts
    floor, rerun = statistics.median(floors), statistics.median(reruns)
    above = statistics.median(r - f for f, r in zip(floors, reruns, strict=True))
    spread = max(floors) - min(floors)
    print(f"{args.checkpoints} checkpoints x {args.prompts} prompts: {answers} answers; medians of {args.repeats}")
    print(f"start-up floor (imports, config error): {floor:7.2f} s  (runs: {', '.join(f'{f:.2f}' for f in floors)})")
    print(f"first run (generates every answer):     {first:7.2f} s")
    print(f"rerun (every answer from the cache):    {rerun:7.2f} s  (runs: {', '.join(f'{r:.2f}' for r in reruns)})")
    print(f"rerun's work above its floor:           {above:7.2f} s  (median of the pairs' differences)")
    print(f"ratio first / rerun: {first / rerun:.1f}x")
    if above > max(spread, 0.05 * floor):
        print(f"ratio above the floor, (first - floor) / (rerun - floor): {(first - floor) / above:.1f}x")
    else:
        print(
            f"the rerun's work above the floor ({above:.2f} s) is within the floors' spread ({spread:.2f} s):"
            " a rerun costs about its start-up; no ratio above the floor is given"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
