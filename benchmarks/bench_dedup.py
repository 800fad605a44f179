"""Near-duplicate removal (luacoder.data.filters, MinHash LSH): rows/s, and how many planted near copies it finds.

    .venv/bin/python benchmarks/bench_dedup.py [--files 5000] [--copies 0.2] [--threshold 0.85]

Writes --files synthetic Lua modules (different names, bodies and sizes, seeded), then adds --copies of them again
with one or two lines edited (a near copy), shuffles, and runs `NearDuplicates` over all rows as the pretrain
builder does. Prints rows/s; the planted copies found among those whose true Jaccard similarity (of the same
shingles) reaches the threshold, and among those below it (MinHash estimates, so a few on either side of the line
go the other way); and the rows flagged that are not planted copies (false positives).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from luacoder.data.filters import NearDuplicates, shingles  # noqa: E402

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "count",
    "total",
    "value",
    "index",
    "name",
    "item",
    "list",
    "buffer",
    "state",
    "config",
    "handler",
    "node",
]


def module(rng: random.Random, i: int) -> str:
    lines = [f"local M{i} = {{}}"]
    for f in range(rng.randint(4, 12)):
        a, b = rng.sample(WORDS, 2)
        lines += [
            f"function M{i}.{a}_{b}_{f}({a}, {b})",
            f"  local {a}_{f} = {a} * {rng.randint(2, 99)} + {b}",
            f"  if {a}_{f} > {rng.randint(100, 999)} then return '{rng.choice(WORDS)}' end",
            f"  return string.format('%d {b}', {a}_{f})",
            "end",
        ]
    lines.append(f"return M{i}")
    return "\n".join(lines) + "\n"


def edit(rng: random.Random, text: str) -> str:
    lines = text.splitlines()
    for _ in range(rng.randint(1, 2)):
        k = rng.randrange(1, len(lines) - 1)
        lines[k] = lines[k] + f" -- edited {rng.randint(0, 9999)}"
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--copies", type=float, default=0.2, help="share of the files added again, edited")
    parser.add_argument("--threshold", type=float, default=0.85)
    parser.add_argument("--num_perm", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    originals = [(f"file{i}", module(rng, i)) for i in range(args.files)]
    planted = [
        (f"copy-of-file{i}", edit(rng, text)) for i, (_n, text) in enumerate(originals) if rng.random() < args.copies
    ]
    rows = originals + planted
    rng.shuffle(rows)
    finder = NearDuplicates(args.threshold, args.num_perm, shingle_size=5)
    start = time.perf_counter()
    flagged = {}
    for key, text in rows:
        found = finder.check(key, text)
        if found is not None:
            flagged[key] = found[0]
    seconds = time.perf_counter() - start
    # A pair counts as found whichever of the two came first in the shuffled order.
    text_of = dict(originals)
    above, below = set(), set()
    for key, text in planted:
        original = key.replace("copy-of-", "")
        a, b = shingles(text, 5), shingles(text_of[original], 5)
        (above if len(a & b) / len(a | b) >= args.threshold else below).add(original)

    def same(key: str, other: str) -> bool:
        return key.replace("copy-of-", "") == other.replace("copy-of-", "")

    found = {k.replace("copy-of-", "") for k, o in flagged.items() if same(k, o)}
    false = sum(1 for k, o in flagged.items() if not same(k, o))
    print(f"rows: {len(rows)} ({len(originals)} files + {len(planted)} edited copies), threshold {args.threshold}")
    print(f"time: {seconds:.2f} s ({len(rows) / seconds:.0f} rows/s, num_perm {args.num_perm})")
    print(f"copies at or above the threshold found: {len(found & above)} of {len(above)}")
    print(f"copies below the threshold flagged: {len(found & below)} of {len(below)}; false positives: {false}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
