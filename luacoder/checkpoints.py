"""The checkpoint layout every stage writes and eval, the demo and resuming read.

`output_dir/checkpoint-N/` as the HF Trainer names them, each with `luacoder_meta.json` (stage, parent model,
dataset fingerprint, resolved config, step), written last by `luacoder.train.run.CheckpointMetadata`: its presence
marks the checkpoint complete. A final model saved in `output_dir` itself carries the same file.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from luacoder.errors import UserError

logger = logging.getLogger("luacoder")
META_FILE = "luacoder_meta.json"
CHECKPOINT_NAME = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_step(name: str) -> int | None:
    """N of a `checkpoint-N` folder name, else None."""
    match = CHECKPOINT_NAME.match(name)
    return int(match.group(1)) if match else None


def checkpoint_folders(output_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """Every `checkpoint-N` folder of output_dir as (N, path), by step; complete or not."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return []
    found = [(step, p) for p in folder.iterdir() if (step := checkpoint_step(p.name)) is not None and p.is_dir()]
    return sorted(found)


def complete_checkpoints(output_dir: str | os.PathLike) -> list[Path]:
    """`checkpoint-N` folders every rank finished writing, by step.

    The metadata file is written last, once all ranks are done (`CheckpointMetadata.on_save`): trainer_state.json
    alone is not enough, rank 0 writes it while other ranks may still be writing their RNG states.
    """
    return [
        p
        for _, p in checkpoint_folders(output_dir)
        if (p / "trainer_state.json").is_file() and (p / META_FILE).is_file()
    ]


def resume_checkpoint(output_dir: str | os.PathLike, start_over: bool) -> str | None:
    """The checkpoint a rerun of the same command continues from, unless the user asked to start over."""
    checkpoints = complete_checkpoints(output_dir)
    if start_over or not checkpoints:
        if start_over and checkpoints:
            logger.warning("start_over: ignoring %d checkpoint(s) in %s", len(checkpoints), output_dir)
        return None
    logger.info("resuming from %s (set start_over=true to begin again)", checkpoints[-1])
    return str(checkpoints[-1])


def read_meta(folder: str | os.PathLike) -> dict[str, Any]:
    """The folder's luacoder_meta.json, or {} when it has none (or it cannot be read)."""
    try:
        meta = json.loads((Path(folder) / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def saved_step(folder: str | os.PathLike) -> int | None:
    """The training step LuaCoder recorded with a checkpoint or final model, or None."""
    step = read_meta(folder).get("step")
    return step if isinstance(step, int) else None


class CheckpointError(UserError, ValueError):
    """A checkpoint that cannot be used as it is (scored, resumed); the message names it and says why."""


def saved_config(folder: str | os.PathLike) -> dict:
    """The resolved training config LuaCoder saved with a checkpoint (luacoder_meta.json), or {} for a model that
    has no such file. A metadata file that cannot be read is a CheckpointError: scoring the checkpoint without its
    training settings (its system prompt) would report numbers for prompts it was never trained on."""
    path = Path(folder) / META_FILE
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable LuaCoder metadata ({exc})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("config", {}), dict):
        raise CheckpointError(f"{path}: LuaCoder metadata must be a JSON object with a 'config' object")
    return meta.get("config", {})
