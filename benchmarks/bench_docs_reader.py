"""How well and how fast `luacoder docs` reads each doc set with no layout, and how it scales on one large file.

    .venv/bin/python benchmarks/bench_docs_reader.py [--repeats 3] [--size_mb 20] [--old REV]

1. Every set (the bundled Lua 5.4 docs and each corpus of ../shared/corpora beside the repository root), read with
   `read_docs([path])` as a user runs it: entries, documented functions found with the right name, parameter counts
   right, false callables (tests/corpora_truth.py derives what each set documents from its raw files), best time of
   --repeats runs, MB/s. A set whose folder is absent is printed as absent.
2. Scale: a Markdown file of --size_mb MB made of renamed copies of the bundled docs, read in a fresh process by this
   tree's reader and by the reader of revision --old (checked out from git into a temporary folder), each
   --scale_repeats times in turns (the run with the least CPU time kept):
   seconds, MB/s, CPU seconds per MB (the process's own CPU time: on a shared machine, steadier than the clock),
   peak memory over the process's memory before the read, and the new/old ratios. The issue's bounds: at least
   1 MB/s and peak memory under 10x the input.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
OLD_REVISION = "8a1d683"  # main before the document model (issue 22): generic Markdown reader and layouts
CHILD = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from luacoder.apidocs import read_docs
def rss_kb():
    return int(next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmRSS")).split()[1])
before = rss_kb()
start, cpu = time.perf_counter(), time.process_time()
result = read_docs([sys.argv[2]])
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "entries": len(result.api), "before_kb": before}))
"""


def best_time(run, repeat: int):
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def corpora(repeat: int) -> None:
    from corpora_truth import SETS, score

    from luacoder.apidocs import read_docs

    print("| set | files | MB | read as | entries | functions found | params right | false | time s | MB/s |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for name, (path, truth) in SETS.items():
        if not path.exists():
            print(f"| {name} | absent: {path} (see ../shared/corpora/README.md) |")
            continue
        seconds, result = best_time(lambda p=path: read_docs([p]), repeat)
        megabytes = sum(Path(f).stat().st_size for f in result.layouts) / 1e6
        got = score(result.api, truth())
        read_as = "+".join(sorted(set(result.layouts.values())))
        print(
            f"| {name} | {result.files:,} | {megabytes:.2f} | {read_as} | {len(result.api):,} |"
            f" {got.found}/{got.expected} | {got.params_right}/{got.with_params} | {len(got.false)}/{got.callables} |"
            f" {seconds:.2f} | {megabytes / seconds:.2f} |"
        )


def big_markdown(path: Path, size_mb: float) -> int:
    """Renamed copies of the bundled docs, one file of about `size_mb` MB; the number of entry headings."""
    files = sorted((REPO / "data" / "docs" / "lua54").glob("*.md"))
    texts = [f.read_text(encoding="utf-8") for f in files]
    written = entries = copy = 0
    with open(path, "w", encoding="utf-8") as out:
        while written < size_mb * 1e6:
            for text in texts:
                # Every copy documents other names: `## string.byte(s)` becomes `## string.byte_7(s)`.
                renamed = re.sub(r"^(## [\w.:]+)", rf"\g<1>_{copy}", text, flags=re.MULTILINE)
                out.write(renamed + "\n")
                written += len(renamed.encode("utf-8")) + 1
                entries += len(re.findall(r"^## ", renamed, re.MULTILINE))
            copy += 1
    return entries


def scale(size_mb: float, old: str, timeout: float, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        doc = tmp / "big.md"
        entries = big_markdown(doc, size_mb)
        megabytes = doc.stat().st_size / 1e6
        old_tree = tmp / "old"
        old_tree.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", old, "luacoder"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(old_tree)], input=archive.stdout, check=True)
        print(f"\n{doc.name}: {megabytes:.1f} MB, {entries:,} entry headings")
        print("| reader | seconds | MB/s | CPU s/MB | peak memory MB | peak / input | entries |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        readers = {"this tree": REPO, f"old ({old})": old_tree}
        runs: dict[str, list[dict]] = {label: [] for label in readers}
        for _ in range(repeat):  # taken in turns, so that both readers see the machine's load alike
            for label, source in readers.items():
                runs[label].append(measure(source, doc, timeout))
        rows = {}
        for label, measured in runs.items():
            done = [r for r in measured if "error" not in r]
            rows[label] = row = min(done, key=lambda r: r["cpu_seconds"]) if done else measured[0]
            if "error" in row:
                print(f"| {label} | {row['error']} |")
                continue
            print(
                f"| {label} | {row['seconds']:.1f} | {megabytes / row['seconds']:.2f} |"
                f" {row['cpu_seconds'] / megabytes:.2f} | {row['peak_mb']:.0f} | {row['peak_mb'] / megabytes:.1f}x |"
                f" {row['entries']:,} |"
            )
        new, previous = rows["this tree"], rows[f"old ({old})"]
        if "error" not in new and "error" not in previous:
            print(
                f"\nnew/old: time {new['seconds'] / previous['seconds']:.3f}x,"
                f" CPU time {new['cpu_seconds'] / previous['cpu_seconds']:.3f}x,"
                f" peak memory {new['peak_mb'] / previous['peak_mb']:.3f}x"
            )


def measure(source: Path, doc: Path, timeout: float) -> dict:
    """One read in a fresh process: its time and its peak resident memory above what it held before the read."""
    process = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(source), str(doc)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    _pid, status, usage = os.wait4(process.pid, 0)  # this child's own peak memory (ru_maxrss, KB)
    timer.cancel()
    out = process.stdout.read().decode()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0 or not out.strip():
        return {"error": f"did not finish in {timeout:.0f} s" if process.returncode < 0 else "failed"}
    data = json.loads(out.strip().splitlines()[-1])
    data["peak_mb"] = max(usage.ru_maxrss - data["before_kb"], 0) / 1024
    return data


def main() -> int:
    from luacoder.cli import add_option

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_option(
        parser, "--repeats", old=["--repeat"], type=int, default=3, help="runs per doc set; the best time is kept (3)"
    )
    parser.add_argument("--size_mb", type=float, default=20.0, help="size of the scale test's Markdown file (20)")
    parser.add_argument("--old", default=OLD_REVISION, help=f"revision whose reader is the baseline ({OLD_REVISION})")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds one scale read may take (900)")
    parser.add_argument("--scale_repeats", type=int, default=1, help="scale reads per reader, in turns (1)")
    parser.add_argument("--skip_corpora", action="store_true", help="only the scale test")
    parser.add_argument("--skip_scale", action="store_true", help="only the doc sets")
    args = parser.parse_args()
    if not args.skip_corpora:
        corpora(args.repeats)
    if not args.skip_scale:
        scale(args.size_mb, args.old, args.timeout, args.scale_repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
