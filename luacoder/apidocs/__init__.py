"""API documentation: the api.json schema, doc readers and writers."""

from luacoder.apidocs.schema import ApiEntry, ApiError, ApiSet, Param, Return, Source, load_api, save_api

__all__ = ["ApiEntry", "ApiError", "ApiSet", "Param", "Return", "Source", "load_api", "save_api"]
