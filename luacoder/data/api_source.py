"""The api.json the dataset builders start from: `<output_dir>/api.json`, made from the configured docs if missing."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from luacoder.apidocs.schema import ApiSet, load_api, save_api
from luacoder.data.config import DataConfig
from luacoder.files import atomic_open

log = logging.getLogger(__name__)


def build_api_json(config: DataConfig, output_dir: str | Path | None = None):
    """Read the docs of the config's `docs:` section and write `api.json` and `api.skipped.jsonl` (what was not
    extracted, with file, line and reason) under `output_dir`; returns luacoder.apidocs.DocsResult."""
    from luacoder.apidocs import read_docs  # markdown-it and the layouts load on first use

    out = Path(output_dir) if output_dir is not None else config.out
    paths = [config.path(p) for p in config.docs.paths]
    result = read_docs(paths, layout=config.docs.layout, name=config.docs.name, progress=True)
    save_api(result.api, out / "api.json")
    with atomic_open(out / "api.skipped.jsonl") as handle:
        for row in result.skipped:
            handle.write(json.dumps(row.to_dict(), ensure_ascii=False) + "\n")
    log.info("wrote %s (%d entries, %d skipped)", out / "api.json", len(result.api), len(result.skipped))
    return result


def load_or_build_api(config: DataConfig, output_dir: str | Path | None = None) -> ApiSet:
    """`<output_dir>/api.json` when it exists (data/json.ipynb or `luacoder docs` wrote it); otherwise the configured
    docs are read and api.json is written there first, so that every later stage reads the same file."""
    out = Path(output_dir) if output_dir is not None else config.out
    path = out / "api.json"
    if path.is_file():
        return load_api(path)
    return build_api_json(config, out).api
