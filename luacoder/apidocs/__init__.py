"""API documentation: the api.json schema, doc readers and writers."""

from __future__ import annotations

from typing import Any

from luacoder.apidocs.schema import ApiEntry, ApiError, ApiSet, CallForm, Param, Return, Source, load_api, save_api

# The docs readers need markdown-it-py and PyYAML, which the training environment may not have: they load on first
# use, so that `luacoder.apidocs.schema` imports anywhere.
_LAZY = {
    "read_docs": "luacoder.apidocs.docs",
    "DocsResult": "luacoder.apidocs.docs",
    "Skipped": "luacoder.apidocs.reading",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'luacoder.apidocs' has no attribute {name!r}")


__all__ = [
    "ApiEntry",
    "ApiError",
    "ApiSet",
    "CallForm",
    "DocsResult",
    "Param",
    "Return",
    "Skipped",
    "Source",
    "load_api",
    "read_docs",
    "save_api",
]
