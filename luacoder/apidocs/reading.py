"""What reading one docs file gives: its entries, and a row for everything in it that did not become one."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from luacoder.apidocs.schema import ApiEntry


@dataclass
class Skipped:
    """Something in the docs that did not become (part of) an entry, and why."""

    file: str
    line: int
    what: str
    reason: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.what}: {self.reason}"


@dataclass
class Rejected:
    """A line that looked like a signature but was left out, and why (what `luacoder docs` explains)."""

    line: int
    text: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.text!r}: {self.reason}"


@dataclass
class FileReading:
    entries: list[ApiEntry]
    skipped: list[Skipped]
    candidates: int  # signatures (or entries, for readers without candidates) that the file offered
    rejected: list[Rejected] = field(default_factory=list)
    summary: str = ""
