"""How fast the docs reader turns each doc set into entries: entries/s, files/s and MB/s, in one run.

    .venv/bin/python benchmarks/bench_docs_reader.py [--repeat 3]

For each set (the bundled Lua 5.4 docs, and luv and Solar2D from ../shared/corpora when present) it times
`read_docs` with the layout named (parsing and reading) and with the layout picked by itself (adds the scoring of
every shipped layout on a sample), best of --repeat runs, and prints one row per set.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPORA = REPO.parent / "shared" / "corpora"
SETS = [
    ("bundled lua54", REPO / "data" / "docs" / "lua54", "lua54"),
    ("luv", CORPORA / "luvit-luv" / "docs" / "docs.md", "luv"),
    ("solar2d", CORPORA / "solar2d-corona-docs" / "markdown" / "api", "solar2d"),
]


def best_time(run, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per set; the best time is kept (3)")
    args = parser.parse_args()

    from luacoder.apidocs import read_docs

    print(
        f"{'set':14} {'files':>6} {'MB':>6} {'entries':>8} {'skipped':>8} {'named s':>8} {'entries/s':>10}"
        f" {'files/s':>8} {'MB/s':>6} {'auto s':>7}"
    )
    for label, path, layout in SETS:
        if not path.exists():
            print(f"{label:14} skipped: {path} is absent (see ../shared/corpora/README.md)")
            continue
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.suffix in (".md", ".markdown")]
        megabytes = sum(p.stat().st_size for p in files) / 1e6
        named, result = best_time(lambda p=path, lay=layout: read_docs([p], layout=lay), args.repeat)
        auto, detected = best_time(lambda p=path: read_docs([p]), args.repeat)
        assert len(detected.api) == len(result.api), f"{label}: detection picked {detected.detections}"
        print(
            f"{label:14} {result.files:6d} {megabytes:6.2f} {len(result.api):8d} {len(result.skipped):8d}"
            f" {named:8.2f} {len(result.api) / named:10.0f} {result.files / named:8.0f} {megabytes / named:6.2f}"
            f" {auto:7.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
