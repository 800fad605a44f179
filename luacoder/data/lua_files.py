"""Your own Lua code for the code dataset: every `.lua` file under the given folders, read as UTF-8."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


class DataError(ValueError):
    """Input the dataset builders cannot use at all (a missing folder, an import with no usable column)."""


@dataclass
class LuaFile:
    path: Path
    text: str | None  # None when it could not be read
    error: str | None = None  # why it could not be read: "invalid UTF-8 (...)", "cannot read (...)"


def lua_files(folders: list[str | os.PathLike]) -> Iterator[LuaFile]:
    """Every `.lua` file under each folder (recursively, sorted); a missing folder is an error."""
    for folder in map(Path, folders):
        if folder.is_file() and folder.suffix == ".lua":
            paths = [folder]
        elif folder.is_dir():
            paths = sorted(p for p in folder.rglob("*.lua") if p.is_file())
        else:
            raise DataError(f"{folder}: no such folder of .lua files")
        for path in paths:
            yield read_lua_file(path)


def read_lua_file(path: Path) -> LuaFile:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return LuaFile(path, None, f"cannot read ({exc.strerror or exc})")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return LuaFile(path, None, f"invalid UTF-8 ({exc.reason} at byte {exc.start})")
    if text.startswith("\ufeff"):
        text = text[1:]
    return LuaFile(path, text.replace("\r\n", "\n"))
