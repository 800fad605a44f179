"""The api.json contract: every documented function, method, field and event of a Lua API.

    {"name": "lua54", "entries": [ApiEntry, ...]}

Optional set-level fields (issue 16, for the grader; absent means the defaults):
    "requires": {"luv": "uv"}   the `require` names that load a module: `local _uv = require('luv')` is `uv`
    "base": "lua54"             the standard library under the API (a bundled docs folder name, a path, or "none")

An entry is validated field by field when it is built from JSON and before it is written, and the error names the
entry (index and name) and the field, so that a hand-edited api.json can be fixed from the message alone.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from luacoder.errors import UserError
from luacoder.files import write_json

KINDS = ("function", "method", "field", "event")
VARARG = "..."
# api.json versions: 1 had one parameter list per entry; 2 adds `forms` (every way to call an entry), `owner` (a
# method's type), and per parameter `default` and `fields` (the keys of an options table). Version 1 files read as
# entries with no forms, whose `params` are the one form.
SCHEMA_VERSION = 2
READ_VERSIONS = (1, 2)


class ApiError(UserError, ValueError):
    """An api.json (or a doc that should become one) is not valid; the message says where and why."""


@dataclass
class Param:
    name: str
    type: str = "any"
    optional: bool = False
    description: str = ""
    default: str = ""
    fields: list[Param] = field(default_factory=list)  # the keys of an options table passed as this parameter

    def to_dict(self) -> dict[str, Any]:
        data = {"name": self.name, "type": self.type, "optional": self.optional, "description": self.description}
        if self.default:
            data["default"] = self.default
        if self.fields:
            data["fields"] = [f.to_dict() for f in self.fields]
        return data


@dataclass
class Return:
    type: str = "any"
    name: str = ""
    description: str = ""


@dataclass
class Source:
    file: str
    line: int


@dataclass
class CallForm:
    """One way to call an entry (`display.newImageRect( [parent,] imageSheet, frameIndex, width, height )`)."""

    signature: str
    params: list[Param] = field(default_factory=list)
    returns: list[Return] = field(default_factory=list)
    callable: bool = True
    name: str = ""  # the name as written in this form (`s:len` under `string.len`); "" when the entry's own

    def arity(self) -> tuple[int, float]:
        return _arity(self.params)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"signature": self.signature, "params": [p.to_dict() for p in self.params]}
        if self.returns:
            data["returns"] = [asdict(r) for r in self.returns]
        return data


def _arity(params: list[Param]) -> tuple[int, float]:
    required = sum(1 for p in params if not p.optional and p.name != VARARG)
    most = math.inf if any(p.name == VARARG for p in params) else len(params)
    return required, most


@dataclass
class ApiEntry:
    name: str
    kind: str
    module: str
    signature: str
    params: list[Param] = field(default_factory=list)
    returns: list[Return] = field(default_factory=list)
    description: str = ""
    examples: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    source: Source | None = None
    # Indices into `examples` of those that need the real host (files on disk, processes): the sandbox runs them
    # with its in-memory file system or not at all.
    needs_host: list[int] = field(default_factory=list)
    # Every documented way to call it, each with its own parameters; a call is right when it fits any. Empty: the
    # one form is `params` (version-1 entries, and entries documented with one signature).
    forms: list[CallForm] = field(default_factory=list)
    owner: str = ""  # a method's type (`ShapeObject` for `ShapeObject:setFillColor`)

    @property
    def short_name(self) -> str:
        """The name without its module or type: `format` for `string.format`, `read` for `file:read`."""
        for sep in (":", "."):
            if sep in self.name:
                return self.name.rsplit(sep, 1)[1]
        return self.name

    def arity(self) -> tuple[int, float]:
        """(fewest, most) arguments a call may pass over all its forms; most is `math.inf` for a variadic entry."""
        ranges = self.arities()
        return min(r[0] for r in ranges), max(r[1] for r in ranges)

    def arities(self) -> list[tuple[int, float]]:
        """(fewest, most) arguments of each call form."""
        return [form.arity() for form in self.forms] if self.forms else [_arity(self.params)]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["params"] = [p.to_dict() for p in self.params]
        for key in ("needs_host", "forms", "owner"):
            if not data[key]:
                del data[key]
        if self.forms:
            data["forms"] = [f.to_dict() for f in self.forms]
        return data

    @classmethod
    def from_dict(cls, data: Any, where: str = "entry") -> ApiEntry:
        if not isinstance(data, dict):
            raise ApiError(f"{where}: expected a JSON object, got {type(data).__name__}")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ApiError(f"{where}: unknown field(s) {unknown}; known fields are {sorted(known)}")
        for key in ("name", "kind"):
            if key not in data:
                raise ApiError(f"{where}: missing required field '{key}'")
        where = f"{where} ({data['name']})" if isinstance(data.get("name"), str) else where
        try:
            entry = cls(
                name=data["name"],
                kind=data["kind"],
                module=data.get("module", ""),
                signature=data.get("signature", data["name"]),
                params=_params(data.get("params", []), f"{where}: params"),
                returns=[
                    _build(Return, r, f"{where}: returns[{i}]") for i, r in enumerate(_list(data, "returns", where))
                ],
                description=data.get("description", ""),
                examples=_list(data, "examples", where),
                aliases=_list(data, "aliases", where),
                source=_build(Source, data["source"], f"{where}: source") if data.get("source") else None,
                needs_host=_list(data, "needs_host", where),
                forms=[_form(f, f"{where}: forms[{i}]") for i, f in enumerate(_list(data, "forms", where))],
                owner=data.get("owner", ""),
            )
        except TypeError as exc:
            raise ApiError(f"{where}: {exc}") from None
        entry.validate(where)
        return entry

    def validate(self, where: str | None = None) -> None:
        problem = self._problem()
        if problem:
            raise ApiError(f"{where or f'entry {self.name!r}'}: {problem}")

    def _problem(self) -> str:
        """What is wrong with the entry ("" when nothing): the first field that breaks the schema. The messages are
        written only for a wrong entry (every entry read is checked, twice)."""
        if not isinstance(self.name, str) or not self.name.strip():
            return "'name' must be a non-empty string"
        if self.kind not in KINDS:
            return f"'kind' is {self.kind!r}, expected one of {', '.join(KINDS)}"
        for key in ("module", "signature", "description"):
            if not isinstance(getattr(self, key), str):
                return f"'{key}' must be a string"
        for i, p in enumerate(self.params):
            if not isinstance(p.name, str) or p.name == "":
                return f"params[{i}].name must be a non-empty string"
            if not isinstance(p.type, str):
                return f"params[{i}].type must be a string"
            if not isinstance(p.optional, bool):
                return f"params[{i}].optional must be true or false"
            if not isinstance(p.description, str):
                return f"params[{i}].description must be a string"
        for i, form in enumerate(self.forms):
            if not isinstance(form.signature, str):
                return f"forms[{i}].signature must be a string"
            if not all(isinstance(p.name, str) and p.name for p in form.params):
                return f"forms[{i}] params need names"
        if not isinstance(self.owner, str):
            return "'owner' must be a string"
        for i, r in enumerate(self.returns):
            if not all(isinstance(v, str) for v in (r.type, r.name, r.description)):
                return f"returns[{i}] fields must be strings"
        if not all(isinstance(e, str) for e in self.examples):
            return "'examples' must be a list of Lua code strings"
        if not all(isinstance(a, str) and a for a in self.aliases):
            return "'aliases' must be a list of names"
        if not all(isinstance(i, int) and 0 <= i < len(self.examples) for i in self.needs_host):
            return "'needs_host' must list indices into 'examples'"
        return ""


def _list(data: dict, key: str, where: str) -> list:
    """A list field's value; anything else is an error: `list("strlen")` would make five one-letter aliases."""
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ApiError(f"{where}: '{key}' must be a list, got a JSON {_json_type(value)} ({value!r:.60})")
    return list(value)


def _json_type(value: Any) -> str:
    names = {str: "string", bool: "boolean", int: "number", float: "number", dict: "object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _params(data: Any, where: str) -> list[Param]:
    if not isinstance(data, list):
        raise ApiError(f"{where}: must be a list of parameters, got a JSON {_json_type(data)} ({data!r:.60})")
    out = []
    for i, item in enumerate(data):
        param = _build(
            Param,
            {k: v for k, v in item.items() if k != "fields"} if isinstance(item, dict) else item,
            f"{where}[{i}]",
        )
        param.fields = _params(item.get("fields", []), f"{where}[{i}].fields")
        out.append(param)
    return out


def _form(data: Any, where: str) -> CallForm:
    if not isinstance(data, dict):
        raise ApiError(f"{where}: expected a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - {"signature", "params", "returns"})
    if unknown:
        raise ApiError(f"{where}: unknown field(s) {unknown}")
    if not isinstance(data.get("signature"), str):
        raise ApiError(f"{where}: 'signature' must be a string")
    returns = [_build(Return, r, f"{where}: returns[{i}]") for i, r in enumerate(_list(data, "returns", where))]
    return CallForm(
        signature=data["signature"], params=_params(data.get("params", []), f"{where}: params"), returns=returns
    )


def _build(cls, data: Any, where: str):
    if not isinstance(data, dict):
        raise ApiError(f"{where}: expected a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - set(cls.__dataclass_fields__))
    if unknown:
        raise ApiError(f"{where}: unknown field(s) {unknown}")
    try:
        return cls(**data)
    except TypeError as exc:
        raise ApiError(f"{where}: {exc}") from None


@dataclass
class ApiSet:
    name: str
    entries: list[ApiEntry] = field(default_factory=list)
    # -- grader settings (issue 16): which `require` names load which module, and the standard-library base layer
    requires: dict[str, str] = field(default_factory=dict)
    base: str | None = None  # None: the grader's default (lua54)

    def __post_init__(self) -> None:
        self._by_name: dict[str, ApiEntry] | None = None

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self):
        return iter(self.entries)

    def get(self, name: str) -> ApiEntry | None:
        if self._by_name is None:
            self._by_name = {e.name: e for e in self.entries}
        return self._by_name.get(name)

    def validate(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ApiError("api.json: 'name' must be a non-empty string")
        seen: dict[str, int] = {}
        for i, entry in enumerate(self.entries):
            entry.validate(f"entry {i} ({entry.name})")
            if entry.name in seen:
                first = self.entries[seen[entry.name]]
                raise ApiError(
                    f"entry {i} ({entry.name}) duplicates entry {seen[entry.name]}"
                    f" (from {_where(entry)} and {_where(first)})"
                )
            seen[entry.name] = i

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "version": SCHEMA_VERSION}
        data["entries"] = [e.to_dict() for e in self.entries]
        data.update(_grader_settings(self))
        return data

    @classmethod
    def from_dict(cls, data: Any, where: str = "api.json") -> ApiSet:
        if not isinstance(data, dict) or "entries" not in data:
            raise ApiError(f"{where}: expected an object with 'name' and 'entries'")
        if not isinstance(data["entries"], list):
            raise ApiError(f"{where}: 'entries' must be a list")
        version = data.get("version", 1)
        if version not in READ_VERSIONS:
            raise ApiError(
                f"{where}: api.json version {version!r} is not one this LuaCoder reads"
                f" ({', '.join(map(str, READ_VERSIONS))})"
            )
        entries = [ApiEntry.from_dict(e, f"{where}: entry {i}") for i, e in enumerate(data["entries"])]
        api = cls(name=data.get("name", ""), entries=entries)
        api.requires, api.base = _read_grader_settings(data, where)
        api.validate()
        return api


# -- grader settings (issue 16) --------------------------------------------------------------------------------


def _grader_settings(api: ApiSet) -> dict[str, Any]:
    """The optional set-level fields, only where set, so that an api.json without them is written unchanged."""
    data: dict[str, Any] = {}
    if api.requires:
        data["requires"] = dict(api.requires)
    if api.base is not None:
        data["base"] = api.base
    return data


def _read_grader_settings(data: dict, where: str) -> tuple[dict[str, str], str | None]:
    requires = data.get("requires", {})
    if not isinstance(requires, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in requires.items()
    ):
        raise ApiError(f'{where}: \'requires\' must map require names to module names, e.g. {{"luv": "uv"}}')
    base = data.get("base")
    if base is not None and (not isinstance(base, str) or not base):
        raise ApiError(f'{where}: \'base\' must be a standard library name such as "lua54", a path, or "none"')
    return dict(requires), base


def _where(entry: ApiEntry) -> str:
    return f"{entry.source.file}:{entry.source.line}" if entry.source else "unknown source"


def load_api(path: str | os.PathLike) -> ApiSet:
    """Read and validate an api.json file."""
    return ApiSet.from_dict(load_json(path), where=str(path))


def load_json(path: str | os.PathLike) -> Any:
    """A JSON docs file's data; an unreadable or malformed file is an ApiError naming it (and line, column)."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ApiError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise ApiError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ApiError(f"{path}:{exc.lineno}:{exc.colno}: malformed JSON: {exc.msg}") from None


def save_api(api: ApiSet, path: str | os.PathLike) -> None:
    """Validate, then write atomically."""
    api.validate()
    write_json(path, api.to_dict())
