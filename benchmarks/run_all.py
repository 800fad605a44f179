"""Run every benchmark in this folder, one after the other, and print one table of their ratios and rates.

    .venv/bin/python benchmarks/run_all.py [--only packing,eval_batching] [--skip eval_cache]

Each benchmark runs as its own process with its defaults (its full output is echoed as it goes); the table at the
end keeps, per benchmark, the last lines it printed (its ratios and rates; progress bars dropped), with the date,
the machine and its load, so the numbers can be quoted with where they were measured. A benchmark that fails is
reported, and the others still run.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Progress bars and model-saving chatter are not results; what is left, a benchmark's last lines, is its summary.
NOISE = re.compile(r"\d+%\||it/s\]|s/it\]|\[WARNING\]|^\s*$")
SUMMARY_LINES = 8


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="", help="comma-separated names (bench_<name>.py) to run")
    parser.add_argument("--skip", default="", help="comma-separated names to leave out")
    args = parser.parse_args()
    names = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    only = {n for n in args.only.split(",") if n}
    skip = {n for n in args.skip.split(",") if n}
    unknown = (only | skip) - set(names)
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; there are: {', '.join(names)}")
    names = [n for n in names if (not only or n in only) and n not in skip]

    load = os.getloadavg()[0]
    results = []
    for name in names:
        print(f"\n=== bench_{name}.py", flush=True)
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, str(HERE / f"bench_{name}.py")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"},
        )
        lines = []
        for line in process.stdout:
            print(line, end="", flush=True)
            lines.append(line.rstrip())
        code = process.wait()
        seconds = time.perf_counter() - started
        found = [line.rstrip() for line in lines if not NOISE.search(line)][-SUMMARY_LINES:]
        results.append((name, code, seconds, found or ["(printed nothing)"]))

    machine = f"{platform.node()}, {os.cpu_count()} CPU cores, {platform.processor() or platform.machine()}"
    print(f"\n=== summary: {datetime.date.today()}, {machine}")
    print(f"load average at the start: {load:.1f} (ratios are measured side by side; rates move with the load)\n")
    for name, code, seconds, found in results:
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        print(f"bench_{name}.py  [{status}, {seconds:.0f} s]")
        for line in found:
            print(f"    {line}")
    return 0 if all(code == 0 for _, code, _, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
