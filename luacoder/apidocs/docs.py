"""Docs to api.json: read Markdown (any layout) and JSON API docs into one validated ApiSet, listing what was left out.

    result = read_docs(["docs/"])                 # the layout is picked by itself
    result = read_docs(["docs.md"], layout="luv")   # or named, or a user's layout.yaml
    save_api(result.api, "api.json")

JSON docs (api.json, or the older LuaCoder layout) are read from a `.json` path, or from a folder that holds `.json`
files and no Markdown docs. Files named on the command line that cannot be read are errors; a file inside a folder
that cannot be read is a skipped row (one bad file should not stop a thousand-file docs folder). An entry
documented twice keeps its first place; the second is a skipped row.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path

from markdown_it.token import Token

from luacoder.apidocs.layout import Layout, load_layout, shipped_layout_names
from luacoder.apidocs.layout_reader import FileReading, Skipped, parse_markdown, read_tokens
from luacoder.apidocs.schema import ApiEntry, ApiError, ApiSet

log = logging.getLogger(__name__)

JSON_SUFFIX = ".json"
DETECTION_SAMPLE = 24  # files of a folder that the layouts are scored on


@dataclass
class Detection:
    """Which layout a path was read with, and why: the score of each layout (empty when the layout was given)."""

    path: str
    layout: str
    scores: dict[str, int] = field(default_factory=dict)
    sampled: int = 0

    def __str__(self) -> str:
        if not self.scores:
            return f"{self.path}: layout {self.layout} (given)"
        ranked = ", ".join(f"{name} {score}" for name, score in sorted(self.scores.items(), key=lambda kv: -kv[1]))
        return f"{self.path}: layout {self.layout}, picked by entries found in {self.sampled} file(s): {ranked}"


@dataclass
class DocsResult:
    api: ApiSet
    skipped: list[Skipped]
    layouts: dict[str, str]  # file read -> layout used ("json" for JSON docs)
    files: int  # files read
    detections: list[Detection] = field(default_factory=list)


@dataclass
class _Source:
    """One file to read: where it is, its name relative to the docs root, whether the user named it."""

    path: Path
    relative: str
    named: bool
    tokens: list[Token] | None = None
    problem: str | None = None


def read_docs(
    paths: list[str | os.PathLike],
    layout: str | os.PathLike | None = None,
    name: str | None = None,
    *,
    progress: bool = False,
) -> DocsResult:
    """Read every API entry of the given files and folders.

    `layout` is a shipped layout's name or a layout YAML file; without it each path gets the shipped layout that
    finds the most entries in it. `.json` paths are read as JSON API docs. Raises ApiError when a path does not
    exist, a named file cannot be read, or nothing at all is found.
    """
    if not paths:
        raise ApiError("no docs given: name at least one file or folder")
    given = load_layout(layout) if layout is not None else None
    entries: list[tuple[ApiEntry, str]] = []  # with the file to name in a skipped row
    skipped: list[Skipped] = []
    layouts: dict[str, str] = {}
    detections: list[Detection] = []
    for path in map(Path, paths):
        if not path.exists():
            raise ApiError(f"{path}: no such file or folder")
        json_files = _json_docs(path, given)
        if json_files:
            from luacoder.apidocs.json_docs import read_json_docs

            entries += [(e, str(path)) for e in read_json_docs(path)]
            layouts.update(dict.fromkeys(map(str, json_files), "json"))
            continue
        sources = _sources(path, given)
        chosen, detection = _choose_layout(path, sources, given)
        detections.append(detection)
        log.info("%s", detection)
        if path.is_dir():
            sources = [s for s in sources if _wanted(s.relative, chosen)]
        for reading, source in _read_all(sources, chosen, progress):
            layouts[str(source.path)] = chosen.name
            if reading is None:
                skipped.append(Skipped(str(source.path), 0, "file", source.problem or "cannot be read"))
                continue
            entries += [(e, str(source.path)) for e in reading.entries]
            skipped += reading.skipped
            if reading.candidates == 0:
                skipped.append(Skipped(str(source.path), 1, "file", _no_entry_reason(chosen)))
    kept = _drop_duplicates(entries, skipped)
    skipped.sort(key=lambda row: (row.file, row.line))  # a report to read file by file
    if not kept:
        reasons = "".join(f"\n  {row}" for row in skipped[:5])
        raise ApiError(
            f"no API entries found in {', '.join(map(str, paths))}: {len(layouts)} file(s) read,"
            f" {len(skipped)} skipped{reasons}"
        )
    api = ApiSet(name=name or _default_name(paths), entries=kept)
    api.validate()
    return DocsResult(api=api, skipped=skipped, layouts=layouts, files=len(layouts), detections=detections)


def _json_docs(path: Path, given: Layout | None) -> list[Path]:
    """The JSON docs a path stands for: a .json file, or a folder holding .json files and no Markdown docs."""
    if path.is_file():
        return [path] if path.suffix.lower() == JSON_SUFFIX else []
    candidates = [given] if given is not None else [_shipped(n) for n in shipped_layout_names()]
    files = sorted(p for p in path.rglob("*") if p.is_file())
    if any(_wanted(p.relative_to(path).as_posix(), c) for p in files for c in candidates):
        return []
    return [p for p in files if p.suffix.lower() == JSON_SUFFIX]


def _sources(path: Path, given: Layout | None) -> list[_Source]:
    if path.is_file():
        return [_Source(path, path.name, named=True)]
    candidates = [given] if given is not None else [_shipped(n) for n in shipped_layout_names()]
    found = sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and any(_wanted(p.relative_to(path).as_posix(), c) for c in candidates)
    )
    if not found:
        patterns = sorted({g for c in candidates for g in c.files})
        raise ApiError(f"{path}: no documentation files in this folder (looked for {', '.join(patterns)}, *.json)")
    return [_Source(p, p.relative_to(path).as_posix(), named=False) for p in found]


def _wanted(relative: str, layout: Layout) -> bool:
    file_name = relative.rsplit("/", 1)[-1]
    return any(fnmatchcase(file_name, g) for g in layout.files) and not any(
        fnmatchcase(file_name, g) for g in layout.exclude
    )


def _parse(source: _Source) -> list[Token] | None:
    """The file's tokens (kept for a second look), or None with `source.problem` set; a named file raises."""
    if source.tokens is not None or source.problem is not None:
        return source.tokens
    try:
        text = source.path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        source.problem = f"not valid UTF-8 ({exc.reason} at byte {exc.start})"
    except OSError as exc:
        source.problem = f"cannot read ({exc.strerror})"
    if source.problem is not None:
        if source.named:
            raise ApiError(f"{source.path}: {source.problem}")
        return None
    source.tokens = parse_markdown(text)
    return source.tokens


def _read(source: _Source, layout: Layout) -> FileReading | None:
    tokens = _parse(source)
    if tokens is None:
        return None
    return read_tokens(tokens, layout, source.relative, str(source.path), folder=source.path.parent.name)


def _read_all(sources: list[_Source], layout: Layout, progress: bool):
    from tqdm import tqdm

    for source in tqdm(
        sources, desc=f"reading ({layout.name})", unit="file", disable=not progress or len(sources) < 2
    ):
        reading = _read(source, layout)
        source.tokens = None  # parsed files are not kept once read
        yield reading, source


def _choose_layout(path: Path, sources: list[_Source], given: Layout | None) -> tuple[Layout, Detection]:
    if given is not None:
        return given, Detection(str(path), given.name)
    step = max(1, len(sources) // DETECTION_SAMPLE)
    sample = sources[::step][:DETECTION_SAMPLE]
    scores = _scores(sample)
    if not any(scores.values()) and len(sample) < len(sources):
        sample = sources
        scores = _scores(sample)
    best = max(scores, key=lambda n: (scores[n][0], -scores[n][1]))
    detection = Detection(str(path), best, {n: s[0] for n, s in scores.items()}, len(sample))
    if scores[best][0] == 0:
        raise ApiError(
            f"{path}: no shipped layout finds an API entry here ({detection}); name one with --layout, or describe"
            " the convention in a layout YAML (see luacoder/apidocs/layout.py)"
        )
    return _shipped(best), detection


def _scores(sample: list[_Source]) -> dict[str, tuple[int, int]]:
    """(entries found, rows skipped) of each shipped layout on the sample."""
    scores = {}
    for name in shipped_layout_names():
        layout = _shipped(name)
        found = not_found = 0
        for source in sample:
            if not _wanted(source.relative, layout) and not source.named:
                continue
            reading = _read(source, layout)
            if reading is not None:
                found += len(reading.entries)
                not_found += len(reading.skipped)
        scores[name] = (found, not_found)
    return scores


@cache
def _shipped(name: str) -> Layout:
    return load_layout(name)


def _no_entry_reason(layout: Layout) -> str:
    rule = layout.entry
    kind = " that is one code span" if rule.code_heading else ""
    return f"no entry: the file has no level-{rule.heading} heading{kind} (layout {layout.name})"


def _drop_duplicates(entries: list[tuple[ApiEntry, str]], skipped: list[Skipped]) -> list[ApiEntry]:
    first: dict[str, ApiEntry] = {}
    kept = []
    for entry, report_file in entries:
        if entry.name in first:
            other = first[entry.name]
            where = f"{other.source.file}:{other.source.line}" if other.source else "an earlier file"
            line = entry.source.line if entry.source else 0
            skipped.append(
                Skipped(
                    report_file, line, f"entry {entry.name!r}", f"duplicate: {entry.name} is documented at {where}"
                )
            )
            continue
        first[entry.name] = entry
        kept.append(entry)
    return kept


def _default_name(paths: list[str | os.PathLike]) -> str:
    path = Path(paths[0]).resolve()
    return (path.name if path.is_dir() else path.stem) or "api"
