"""Docs files as text: UTF-8 with or without a byte-order mark, and UTF-16 (with a BOM, or without one when every other
byte of an ASCII text is zero), so that a BOM never hides a file's first heading and a UTF-16 file is read, not
refused. Anything else that is not UTF-8 is an error naming the byte where decoding failed."""

from __future__ import annotations

import codecs
from pathlib import Path

from luacoder.apidocs.schema import ApiError


def decode(data: bytes, where: str) -> str:
    """The text of a file's bytes; ApiError(`where: not valid UTF-8 (... at byte N)`) when it cannot be decoded."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _utf16(data, "utf-16", where)
    elif len(data) >= 4 and data[1:8:2] == b"\0" * len(data[1:8:2]) and data[0:8:2].count(0) == 0:
        return _utf16(data, "utf-16-le", where)
    elif len(data) >= 4 and data[0:8:2] == b"\0" * len(data[0:8:2]) and data[1:8:2].count(0) == 0:
        return _utf16(data, "utf-16-be", where)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(f"{where}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None


def _utf16(data: bytes, encoding: str, where: str) -> str:
    try:
        return data.decode(encoding).removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise ApiError(f"{where}: not valid UTF-16 ({exc.reason} at byte {exc.start})") from None


def read_text(path: Path) -> str:
    """A file's text; ApiError naming the file when it cannot be read or decoded."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ApiError(f"{path}: cannot read ({exc.strerror})") from None
    return decode(data, str(path))


def read_head(path: Path, size: int = 65536) -> str:
    """The first `size` bytes as text, for telling formats apart (undecodable bytes replaced)."""
    with open(path, "rb") as handle:
        data = handle.read(size)
    try:
        return decode(data, str(path))
    except ApiError:
        return data.decode("utf-8", errors="replace")
