"""A documented name and how its signature is written (`string.find(s, pattern [, init [, plain]])`, `file:read(...)`,
`math.pi`; luacoder.apidocs.call_forms reads them): its kind."""

from __future__ import annotations

from dataclasses import dataclass

from luacoder.apidocs.schema import Param


@dataclass
class Signature:
    name: str
    params: list[Param]
    callable: bool  # written with parentheses

    @property
    def kind(self) -> str:
        if self.name.rsplit(".", 1)[-1].rsplit(":", 1)[-1].startswith("__"):
            return "event"
        if ":" in self.name:
            return "method"
        return "function" if self.callable else "field"
