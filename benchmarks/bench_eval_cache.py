"""eval.py over ten checkpoints: the first run (generates everything) against a rerun (all from the cache).

    .venv/bin/python benchmarks/bench_eval_cache.py [--checkpoints 10] [--prompts 16] [--max_new_tokens 32]

Builds a training output_dir of tiny StarCoder2 checkpoints (different seeds, so different weights), the bundled
docs' api.json and a prompts CSV, then runs `python eval/eval.py config.yaml` three times as a user would: once
with a config error (the start-up floor: Python, torch and transformers imports, then exit), then the first run,
then the rerun. Prints each wall time, the rerun's time above the floor, and the first-run / rerun ratio.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
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
        floor, _ = timed_eval(root, "config.yaml", "--no_such_key=1")
        first, done = timed_eval(root, "config.yaml")
        assert done.returncode == 0, done.stderr[-2000:]
        rerun, done = timed_eval(root, "config.yaml")
        assert done.returncode == 0, done.stderr[-2000:]
        with open(root / "out" / "results.csv") as handle:
            rows = list(csv.DictReader(handle))
        assert all(r["generated_now"] == "0" for r in rows), "the rerun generated answers"
    answers = args.checkpoints * args.prompts
    print(f"{args.checkpoints} checkpoints x {args.prompts} prompts: {answers} answers")
    print(f"start-up floor (imports, config error):  {floor:7.2f} s")
    print(f"first run (generates every answer):     {first:7.2f} s")
    print(f"rerun (every answer from the cache):    {rerun:7.2f} s  ({rerun - floor:.2f} s above the floor)")
    above = (first - floor) / max(rerun - floor, 1e-9)
    print(f"ratio first / rerun: {first / rerun:.1f}x;  above the floor: {above:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
