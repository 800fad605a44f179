"""How fast `luacoder docs` turns each doc set into entries, with no layout named: entries/s, files/s and MB/s.

    .venv/bin/python benchmarks/bench_docs_reader.py [--repeat 3]

Every set: the bundled Lua 5.4 docs, and from ../shared/corpora (beside the repository root) luv, Solar2D, Luanti,
OpenRA (Markdown), mpv (reStructuredText), the Lua 5.4 manual (HTML), nCine (LuaCATS, and the same API in LDoc) and
Penlight (LDoc). Each is timed with `read_docs([path])` as a user runs it (the format and the layout or the generic
reader picked by itself), best of --repeat runs; where a shipped layout exists it is also timed named, and the row
shows auto/named, the price of detection (the issue's bound for Solar2D's 1,162 pages: under 3x). A set whose folder
is absent is printed as absent, with the path looked for.
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
    ("luanti", CORPORA / "luanti-lua-api" / "doc" / "lua_api.md", None),
    ("openra", CORPORA / "openra-lua-api" / "api" / "lua.md", None),
    ("mpv rst", CORPORA / "mpv-lua-rst" / "DOCS" / "man" / "lua.rst", None),
    ("lua54 html", CORPORA / "lua54-manual-html" / "doc" / "en-us" / "54" / "manual.html", None),
    ("ncine luacats", CORPORA / "ncine-luacats" / "library", None),
    ("ncine ldoc", CORPORA / "ncine-luacats" / "ldoc", None),
    ("penlight ldoc", CORPORA / "penlight-ldoc" / "lua" / "pl", None),
]
SUFFIXES = (".md", ".markdown", ".html", ".rst", ".lua")


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

    if not CORPORA.exists():
        print(f"{CORPORA} is absent: only the bundled docs are timed (see ../shared/corpora/README.md)")
    print(
        f"{'set':14} {'read as':14} {'files':>6} {'MB':>6} {'entries':>8} {'skipped':>8} {'auto s':>7}"
        f" {'entries/s':>10} {'files/s':>8} {'MB/s':>6} {'named s':>8} {'auto/named':>10}"
    )
    for label, path, layout in SETS:
        if not path.exists():
            print(f"{label:14} absent: {path} (see ../shared/corpora/README.md)")
            continue
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.suffix in SUFFIXES]
        megabytes = sum(p.stat().st_size for p in files) / 1e6
        auto, result = best_time(lambda p=path: read_docs([p]), args.repeat)
        read_as = "+".join(sorted(set(result.layouts.values())))
        named_cells = f"{'-':>8} {'-':>10}"
        if layout is not None:
            named, by_layout = best_time(lambda p=path, lay=layout: read_docs([p], layout=lay), args.repeat)
            assert len(by_layout.api) == len(result.api), f"{label}: detection picked {result.detections}"
            named_cells = f"{named:8.2f} {auto / named:10.2f}"
        print(
            f"{label:14} {read_as:14} {result.files:6d} {megabytes:6.2f} {len(result.api):8d} {len(result.skipped):8d}"
            f" {auto:7.2f} {len(result.api) / auto:10.0f} {result.files / auto:8.0f} {megabytes / auto:6.2f}"
            f" {named_cells}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
