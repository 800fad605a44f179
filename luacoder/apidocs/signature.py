"""Lua signatures as docs write them: `string.find(s, pattern [, init [, plain]])`, `file:read(...)`, `math.pi`."""

from __future__ import annotations

from dataclasses import dataclass

from luacoder.apidocs.schema import VARARG, ApiError, Param


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
    """Split a signature into its qualified name and its parameters; `[ ]` marks optional parameters."""
    text = text.strip().strip("`").strip()
    if "(" not in text:
        if not text or any(c.isspace() for c in text):
            raise ApiError(f"cannot read a name from the signature {text!r}")
        return Signature(name=text, params=[], callable=False)
    name, _, rest = text.partition("(")
    name = name.strip()
    if not name or any(c.isspace() for c in name):
        raise ApiError(f"cannot read a name from the signature {text!r}")
    depth_paren, depth_bracket, current, params = 1, 0, "", []
    starts_optional = False  # whether the parameter being read began inside [ ]
    for ch in rest:
        if ch == "(":
            depth_paren += 1
        elif ch == ")":
            depth_paren -= 1
            if depth_paren == 0:
                break
        if depth_paren == 1 and ch in "[],":
            _add_param(params, current, starts_optional)
            current = ""
            depth_bracket += {"[": 1, "]": -1, ",": 0}[ch]
            depth_bracket = max(depth_bracket, 0)
            continue
        if not current.strip() and not ch.isspace():
            starts_optional = depth_bracket > 0
        current += ch
    else:
        raise ApiError(f"unbalanced parentheses in the signature {text!r}")
    _add_param(params, current, starts_optional)
    return Signature(name=name, params=params, callable=True)


def _add_param(params: list[Param], raw: str, optional: bool) -> None:
    raw = raw.strip()
    if not raw:
        return
    # "key = value" defaults and "name: type" annotations keep only the name.
    name = raw.split("=", 1)[0].split(":", 1)[0].strip()
    params.append(Param(name=name, optional=optional or name == VARARG))


def name_of(signature_text: str) -> str:
    """The qualified name of a signature, for aliases such as `s:rep(n [, sep])`."""
    return parse_signature(signature_text).name
