"""Lua signatures as docs write them: `string.find(s, pattern [, init [, plain]])`, `file:read(...)`, `math.pi`."""

from __future__ import annotations

from dataclasses import dataclass

from luacoder.apidocs.call_forms import parse_call_form
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


def parse_signature(text: str) -> Signature:
    """Split a signature into its qualified name and its parameters, as `call_forms.parse_call_form` reads them
    (`[ ]`, `x?`, `x = default` optional; `...` variadic; `ok, err =` return names are not part of the name)."""
    form = parse_call_form(text)
    return Signature(name=form.name.replace(" ", ""), params=form.params, callable=form.callable)


def name_of(signature_text: str) -> str:
    """The qualified name of a signature, for aliases such as `s:rep(n [, sep])`."""
    return parse_signature(signature_text).name
