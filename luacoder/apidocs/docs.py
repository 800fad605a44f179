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

from luacoder.apidocs.fence_check import fence_problems
from luacoder.apidocs.formats import HTML, LUA, MARKDOWN, RST, odd_paths, other_format_files, read_format, read_head
from luacoder.apidocs.layout import Layout, load_layout, shipped_layout_names
from luacoder.apidocs.layout_reader import FileReading, Skipped, parse_markdown, read_tokens
from luacoder.apidocs.schema import ApiEntry, ApiError, ApiSet
from luacoder.apidocs.structured import looks_structured

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
    text: str | None = None
    fence_rows: list[Skipped] = field(default_factory=list)
    generic: FileReading | None = None  # the generic reader's reading, kept from scoring
    readings: dict[int, FileReading] = field(default_factory=dict)  # by layout, kept from scoring


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
        other = _read_other_formats(path, entries, skipped, layouts) if given is None else 0
        if path.is_dir():
            skipped += odd_paths(path, MARKDOWN + HTML + RST + LUA)
        sources = _sources(path, given, allow_empty=other > 0)
        if not sources:
            continue
        try:
            chosen, detection = _choose_layout(path, sources, given)
        except ApiError as exc:
            if not other:
                raise
            # Beside the HTML/rst/Lua docs, Markdown files with no API in them (a README): rows, not an error.
            for source in sources:
                layouts[str(source.path)] = GENERIC
                skipped.append(Skipped(str(source.path), 1, "file", f"no entry: {exc}"))
            continue
        detections.append(detection)
        log.info("%s", detection)
        if path.is_dir():
            sources = [s for s in sources if _wanted(s.relative, chosen or GENERIC_FILES)]
        for reading, source in _read_all(sources, chosen, progress):
            if reading is None:
                skipped.append(Skipped(str(source.path), 0, "file", source.problem or "cannot be read"))
                continue
            layouts[str(source.path)] = chosen.name if chosen else GENERIC
            entries += [(e, str(source.path)) for e in reading.entries]
            skipped += reading.skipped + source.fence_rows
            if chosen is None:
                log.info("%s: %s", source.path, getattr(reading, "summary", ""))
            if reading.candidates == 0:
                reason = getattr(reading, "summary", "") if chosen is None else _no_entry_reason(chosen)
                skipped.append(Skipped(str(source.path), 1, "file", reason))
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


GENERIC = "generic"  # the generic Markdown reader, in `layouts` and detections
LAYOUT_SHARE = 0.8
GENERIC_FILES = Layout(name=GENERIC)  # the file names the generic reader takes from a folder: the default globs


def _json_docs(path: Path, given: Layout | None) -> list[Path]:
    """The JSON docs a path stands for: a .json file in LuaCoder's own layouts, or a folder holding .json files and no
    other docs (Markdown, HTML, reStructuredText, LuaCATS, LDoc, structured API descriptions): beside those, a .json
    is a manifest (LuaLS' config.json), not the API. Other JSON API descriptions are read by their shape."""
    if path.is_file():
        return [path] if path.suffix.lower() == JSON_SUFFIX and not looks_structured(path, read_head(path)) else []
    if given is None and other_format_files(path):
        return []
    candidates = [given] if given is not None else [_shipped(n) for n in shipped_layout_names()]
    files = sorted(p for p in path.rglob("*") if p.is_file())
    if any(_wanted(p.relative_to(path).as_posix(), c) for p in files for c in candidates):
        return []
    return [p for p in files if p.suffix.lower() == JSON_SUFFIX]


def _read_other_formats(path: Path, entries: list, skipped: list[Skipped], layouts: dict[str, str]) -> int:
    """Read the HTML, reStructuredText, LuaCATS, LDoc and structured files of a path; the number of files found.

    Structured API descriptions are read first: where one folder describes an API twice (Defold's `.script_api`
    beside LuaCATS stubs of it), the data written to describe the API wins each name both hold, the other adds the
    names it lacks, and each name described twice is a `duplicate` row naming both places."""
    found = sorted(other_format_files(path), key=lambda found: found[1] != "structured")
    for file, fmt in found:
        relative = file.name if path.is_file() else file.relative_to(path).as_posix()
        try:
            text = file.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError) as exc:
            reason = f"not valid UTF-8 ({exc.reason})" if isinstance(exc, UnicodeDecodeError) else exc.strerror
            if path.is_file():
                raise ApiError(f"{file}: cannot read: {reason}") from None
            skipped.append(Skipped(str(file), 0, "file", f"cannot be read: {reason}"))
            continue
        reading = read_format(fmt, text, relative, str(file))
        layouts[str(file)] = fmt
        entries += [(e, str(file)) for e in reading.entries]
        skipped += reading.skipped
        log.info("%s: %s reader: %d entries", file, fmt, len(reading.entries))
        if not reading.entries:
            skipped.append(Skipped(str(file), 1, "file", f"no entry: the {fmt} reader found no documented callable"))
    return len(found)


def _sources(path: Path, given: Layout | None, allow_empty: bool = False) -> list[_Source]:
    if path.is_file():
        if given is None and path.suffix.lower() not in MARKDOWN and allow_empty:
            return []
        return [_Source(path, path.name, named=True)]
    candidates = [given] if given is not None else [_shipped(n) for n in shipped_layout_names()]
    found = sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and any(_wanted(p.relative_to(path).as_posix(), c) for c in candidates)
    )
    if not found and allow_empty:
        return []
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
    source.text = text
    source.fence_rows = fence_problems(text, source.tokens, str(source.path))
    return source.tokens


def _read(source: _Source, layout: Layout | None) -> FileReading | None:
    """One file read with a layout, or with the generic Markdown reader when `layout` is None."""
    tokens = _parse(source)
    if tokens is None:
        return None
    if layout is None:
        from luacoder.apidocs.generic_markdown import read_markdown

        if source.generic is not None:  # read while scoring: the same file, the same reading
            return source.generic
        generic = read_markdown(source.text or "", source.relative, str(source.path))
        reading = FileReading(generic.entries, generic.skipped, generic.candidates)
        reading.summary = generic.summary()  # type: ignore[attr-defined]
        source.generic = reading
        return reading
    if id(layout) not in source.readings:  # a file scored with a layout is not read with it twice
        source.readings[id(layout)] = read_tokens(
            tokens, layout, source.relative, str(source.path), folder=source.path.parent.name
        )
    return source.readings[id(layout)]


def _read_all(sources: list[_Source], layout: Layout, progress: bool):
    from tqdm import tqdm

    desc = f"reading ({layout.name if layout else GENERIC})"
    for source in tqdm(sources, desc=desc, unit="file", disable=not progress or len(sources) < 2):
        reading = _read(source, layout)
        source.tokens = source.text = source.generic = None  # parsed files are not kept once read
        source.readings = {}
        yield reading, source


def _choose_layout(path: Path, sources: list[_Source], given: Layout | None) -> tuple[Layout | None, Detection]:
    """The layout to read a path with, or None for the generic Markdown reader.

    A shipped layout written for the convention wins when it finds about as many entries as the generic reader
    (at least LAYOUT_SHARE of them): it also reads what the generic reader cannot guess (Solar2D's metadata rows).
    """
    if given is not None:
        return given, Detection(str(path), given.name)
    step = max(1, len(sources) // DETECTION_SAMPLE)
    sample = sources[::step][:DETECTION_SAMPLE]
    scores = _scores(sample)
    if not any(s[0] for s in scores.values()) and len(sample) < len(sources):
        sample = sources
        scores = _scores(sample)
    best = max((n for n in scores if n != GENERIC), key=lambda n: (scores[n][0], -scores[n][1]))
    if scores[best][0] < LAYOUT_SHARE * scores[GENERIC][0]:
        best = GENERIC
    detection = Detection(str(path), best, {n: s[0] for n, s in scores.items()}, len(sample))
    if best == GENERIC:
        return None, detection
    if scores[best][0] == 0:
        raise ApiError(
            f"{path}: no shipped layout finds an API entry here, nor does the generic reader (no call signature in"
            f" headings, label lines, code blocks, list items or tables) ({detection}); name a layout with --layout,"
            " or describe the convention in a layout YAML (see luacoder/apidocs/layout.py)"
        )
    return _shipped(best), detection


def _scores(sample: list[_Source]) -> dict[str, tuple[int, int]]:
    """(entries found, rows skipped) of each shipped layout, and of the generic reader, on the sample."""
    # (name, layout to read with, what says which files it wants): the generic reader has no layout.
    readers = [(name, layout, layout) for name in shipped_layout_names() for layout in [_shipped(name)]]
    readers.append((GENERIC, None, GENERIC_FILES))
    scores = {}
    for name, layout, wanted in readers:
        found = not_found = 0
        for source in sample:
            if not _wanted(source.relative, wanted) and not source.named:
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
