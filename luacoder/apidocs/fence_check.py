"""Code fences that swallow documentation: an unclosed fence, or one whose closing line is missing so that it runs
into the next example, turns every entry after it into code and, read naively, loses them with no message.

Both are read from markdown-it-py's tokens (where each fence starts and ends, what it holds), not by re-parsing:
- a fence that runs to the end of its container without a closing line ("unclosed");
- a fence whose content holds a line that opens a fence with a language (```` ```lua ````): the fence before it
  was not closed where the author meant, and what lies between is lost ("mismatched").
The entry headings inside the swallowed text are named, so that the user knows which entries to look for.
"""

from __future__ import annotations

import re

from markdown_it.token import Token

from luacoder.apidocs.reading import Skipped

_FENCE_OPENER = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*[A-Za-z]")
_HEADING = re.compile(r"^ {0,3}#{1,6}\s+(\S.*?)\s*#*\s*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)\s*$")


def _swallowed(lines: list[str]) -> list[str]:
    names = []
    for i, line in enumerate(lines):
        match = _HEADING.match(line)
        if match:
            names.append(match.group(1).strip("`"))
        elif i and _SETEXT.match(line) and lines[i - 1].strip():
            names.append(lines[i - 1].strip().strip("`"))
    return names


def fence_problems(text: str, tokens: list[Token], report_file: str) -> list[Skipped]:
    """Skipped rows for fences that swallow the text after them; [] for a file whose fences are all closed."""
    lines = text.splitlines()
    rows = []
    for token in tokens:
        if token.type != "fence" or not token.map:
            continue
        start, end = token.map
        marker = token.markup
        closing = lines[end - 1].strip() if end - 1 > start and end - 1 < len(lines) else ""
        closed = closing.startswith(marker[0] * len(marker)) and set(closing) <= {marker[0]}
        body = token.content.splitlines()
        what = f"code fence {marker}{token.info.strip()}"
        if not closed:
            lost = _swallowed(body)
            named = f"; entries it swallowed: {', '.join(lost)}" if lost else ""
            rows.append(
                Skipped(
                    report_file,
                    start + 1,
                    what,
                    f"not closed: the fence opened here with {marker} runs to the end of the file{named}",
                )
            )
            continue
        openers = [i for i, line in enumerate(body) if _FENCE_OPENER.match(line)]
        if openers:
            inner = openers[0]
            lost = _swallowed(body[:inner])
            named = f"; entries it swallowed: {', '.join(lost)}" if lost else ""
            rows.append(
                Skipped(
                    report_file,
                    start + 1,
                    what,
                    f"mismatched: line {start + 2 + inner} opens a fence inside this one, so a closing {marker} is"
                    f" missing before it and the text in between was read as code{named}",
                )
            )
    return rows
