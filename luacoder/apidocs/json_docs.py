"""JSON API docs: api.json itself, and the older LuaCoder layout, read into an ApiSet.

The older layout, one object per module (`_G` or `""` for globals):

    {"string": [{"function_name": "format", "description": "...",
                 "args": [{"name": "fmt", "type": "string", "comment": "..."}],
                 "return": "string", "example": "print(string.format('%d', 1))"}]}

Real files written for it vary: `function_name` is short (`format`) or qualified (`string.format`, `file:read`),
`return` is a string, a list of strings or a list of `{"type", "comment"}` objects, and `example` a string or a
list. An argument is optional when it says so (`"optional": true`), when its type ends in `?`, or when its name is
written `[name]`. Anything else is an error that names the file, the module and the function.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from luacoder.apidocs.schema import VARARG, ApiEntry, ApiError, ApiSet, Param, Return, Source, load_json

GLOBAL_MODULES = ("_G", "", "global", "globals")
LEGACY_ENTRY_KEYS = {"function_name", "description", "args", "return", "returns", "example", "examples"}
LEGACY_ARG_KEYS = {"name", "type", "comment", "description", "optional"}


def read_json_docs(path: str | os.PathLike, name: str | None = None) -> ApiSet:
    """An api.json, a file in the older LuaCoder layout, or a folder of either (merged, files sorted)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.rglob("*.json"))
        if not files:
            raise ApiError(f"{path}: no .json files in this folder")
        entries: list[ApiEntry] = []
        for file in files:
            entries += read_json_file(file, root=path).entries
        api = ApiSet(name=name or path.name, entries=entries)
        api.validate()
        return api
    api = read_json_file(path, root=path.parent)
    if name:
        api.name = name
    return api


def read_json_file(path: str | os.PathLike, root: str | os.PathLike | None = None) -> ApiSet:
    path = Path(path)
    data = load_json(path)
    if isinstance(data, dict) and "entries" in data:
        return ApiSet.from_dict(data, where=str(path))
    if not isinstance(data, dict):
        raise ApiError(
            f"{path}: expected an api.json object ({{'name', 'entries'}}) or the older LuaCoder layout "
            f"({{'<module>': [{{'function_name', ...}}]}}), got a JSON {type(data).__name__}"
        )
    shown = str(path.relative_to(root)) if root and path.is_relative_to(root) else str(path)
    entries = [
        _legacy_entry(item, module, f"{path}: module {module!r}, item {i}", shown)
        for module, items in data.items()
        for i, item in enumerate(_legacy_items(items, f"{path}: module {module!r}"))
    ]
    api = ApiSet(name=path.stem, entries=entries)
    api.validate()
    return api


def _legacy_items(items: Any, where: str) -> list[dict]:
    if not isinstance(items, list):
        raise ApiError(f"{where}: expected a list of functions, got a JSON {type(items).__name__}")
    return items


def _legacy_entry(item: Any, module: str, where: str, file: str) -> ApiEntry:
    if not isinstance(item, dict):
        raise ApiError(f"{where}: expected an object with 'function_name', got a JSON {type(item).__name__}")
    raw_name = item.get("function_name")
    if not isinstance(raw_name, str) or not raw_name.strip():
        raise ApiError(f"{where}: missing or empty 'function_name'")
    where = f"{where} ({raw_name})"
    unknown = sorted(set(item) - LEGACY_ENTRY_KEYS)
    if unknown:
        raise ApiError(f"{where}: unknown field(s) {unknown}; known fields are {sorted(LEGACY_ENTRY_KEYS)}")
    module = "" if module in GLOBAL_MODULES else module
    name, kind = _qualified(raw_name.strip(), module)
    params = [_legacy_param(arg, f"{where}: args[{i}]") for i, arg in enumerate(_list(item.get("args"), where))]
    returns = _legacy_returns(item.get("return", item.get("returns")), f"{where}: return")
    examples = _strings(item.get("example", item.get("examples")), f"{where}: example")
    arg_list = ", ".join(f"[{p.name}]" if p.optional else p.name for p in params)
    entry = ApiEntry(
        name=name,
        kind=kind,
        module=module,
        signature=f"{name}({arg_list})",
        params=params,
        returns=returns,
        description=_string(item.get("description", ""), f"{where}: description"),
        examples=[e for e in examples if e.strip()],
        source=Source(file=file, line=0),
    )
    entry.validate(where)
    return entry


def _qualified(raw: str, module: str) -> tuple[str, str]:
    """`format` in module `string` -> `string.format`; names already qualified are kept; `a:b` is a method."""
    name = raw[:-2] if raw.endswith("()") else raw
    kind = "method" if ":" in name else "function"
    if module and not name.startswith((module + ".", module + ":")) and "." not in name and ":" not in name:
        name = f"{module}.{name}"
    return name, kind


def _legacy_param(arg: Any, where: str) -> Param:
    if isinstance(arg, str):
        arg = {"name": arg}
    if not isinstance(arg, dict):
        raise ApiError(f"{where}: expected an object with 'name', got a JSON {type(arg).__name__}")
    unknown = sorted(set(arg) - LEGACY_ARG_KEYS)
    if unknown:
        raise ApiError(f"{where}: unknown field(s) {unknown}; known fields are {sorted(LEGACY_ARG_KEYS)}")
    name = _string(arg.get("name", ""), f"{where}: name").strip()
    type_ = _string(arg.get("type", "any"), f"{where}: type").strip() or "any"
    optional = arg.get("optional", False)
    if not isinstance(optional, bool):
        raise ApiError(f"{where}: 'optional' must be true or false")
    if name.startswith("[") and name.endswith("]"):
        name, optional = name[1:-1].strip(), True
    if type_.endswith("?"):
        type_, optional = type_[:-1], True
    if not name:
        raise ApiError(f"{where}: missing or empty 'name'")
    description = _string(arg.get("comment", arg.get("description", "")), f"{where}: comment")
    if name == VARARG:
        optional = True
    return Param(name=name, type=type_, optional=optional, description=description)


def _legacy_returns(value: Any, where: str) -> list[Return]:
    if value is None or value == "" or value == []:
        return []
    if isinstance(value, str):
        return [Return(type=value.strip())]
    if not isinstance(value, list):
        raise ApiError(f"{where}: expected a string or a list, got a JSON {type(value).__name__}")
    returns = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            returns.append(Return(type=item.strip()))
        elif isinstance(item, dict) and set(item) <= {"type", "name", "comment", "description"}:
            returns.append(
                Return(
                    type=_string(item.get("type", "any"), f"{where}[{i}].type"),
                    name=_string(item.get("name", ""), f"{where}[{i}].name"),
                    description=_string(item.get("comment", item.get("description", "")), f"{where}[{i}].comment"),
                )
            )
        else:
            raise ApiError(f"{where}[{i}]: expected a type string or an object with 'type' and 'comment'")
    return returns


def _list(value: Any, where: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ApiError(f"{where}: 'args' must be a list, got a JSON {type(value).__name__}")
    return value


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ApiError(f"{where}: expected a string, got a JSON {type(value).__name__}")
    return value


def _strings(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise ApiError(f"{where}: expected Lua code as a string or a list of strings")
