"""The checkpoint layout every stage writes and eval, the demo and resuming read.

`output_dir/checkpoint-N/` as the HF Trainer names them, each with `luacoder_meta.json` (stage, parent model,
dataset fingerprint, resolved config, step), written last by `luacoder.train.run.CheckpointMetadata`: its presence
marks the checkpoint complete. A final model saved in `output_dir` itself carries the same file.

How a checkpoint is asked something (its system prompt, chat template, stop tokens) is read in one place,
`generation_settings`, by everything that asks it or trains from it: eval, generate.py, the playground, the RL
stages and the demo.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
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


GENERATION_CONFIG = "generation_config.json"


@dataclass(frozen=True)
class GenerationSettings:
    """What a checkpoint was trained to be asked with, from its luacoder_meta.json and generation_config.json.

    A model LuaCoder did not train (a hub model, `luacoder fetch-model`'s output) has no metadata: no system prompt,
    `chat_template` None (unknown; its tokenizer's template is what there is), `trained` False."""

    system_prompt: str | None = None  # the system turn every training conversation started with; None: none
    chat_template: str | None = None  # "model" (the tokenizer's own) or "luacoder" (the dialogue template)
    stop_token_ids: tuple[int, ...] = ()  # generation_config.json's eos_token_id: what the stage set to stop at
    stage: str | None = None  # chat, pretrain, dpo, grpo, ... (luacoder_meta.json's "stage")
    parent: str | None = None  # the model the stage started from
    trained: bool = False  # the folder has LuaCoder metadata


def generation_settings(folder: str | os.PathLike) -> GenerationSettings:
    """The generation settings a checkpoint (or final model) was trained with. A metadata or generation config file
    that cannot be read is a CheckpointError naming it, as in `saved_config`: asking a checkpoint without its system
    prompt would report answers to prompts it was never trained on."""
    folder = Path(folder)
    config = saved_config(folder)
    meta = read_meta(folder)
    system_prompt = config.get("system_prompt")
    chat_template = config.get("chat_template")
    if system_prompt is not None and not isinstance(system_prompt, str):
        raise CheckpointError(f"{folder / META_FILE}: config.system_prompt must be text, got {system_prompt!r}")
    if chat_template not in (None, "auto", "model", "luacoder"):
        raise CheckpointError(f"{folder / META_FILE}: config.chat_template is {chat_template!r}")
    return GenerationSettings(
        system_prompt=system_prompt or None,
        chat_template=None if chat_template == "auto" else chat_template,
        stop_token_ids=_configured_stops(folder),
        stage=meta.get("stage") if isinstance(meta.get("stage"), str) else None,
        parent=meta.get("parent") if isinstance(meta.get("parent"), str) else None,
        trained=(folder / META_FILE).is_file(),
    )


def _configured_stops(folder: Path) -> tuple[int, ...]:
    path = folder / GENERATION_CONFIG
    if not path.is_file():
        return ()
    try:
        eos = json.loads(path.read_text(encoding="utf-8")).get("eos_token_id")
    except (OSError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"{path}: unreadable generation config ({exc})") from None
    ids = [eos] if isinstance(eos, int) else eos if isinstance(eos, list) else []
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise CheckpointError(f"{path}: eos_token_id must be a token id or a list of them, got {eos!r}")
    return tuple(dict.fromkeys(ids))
