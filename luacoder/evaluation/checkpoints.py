"""The checkpoints of a training run, and a fingerprint of what each one generates with.

`find_checkpoints(base_folder)` lists `checkpoint-N` folders by step, then the final model when the run saved one
in the folder itself (or the folder alone, when it is a single model). A checkpoint that is not complete by
`luacoder.checkpoints.complete_checkpoints` (still being saved, or the save died) is listed with its error, so that the
report says why it was not scored. A run whose checkpoints carry no luacoder_meta.json at all was not made by
LuaCoder's stages: there the Trainer's own last file, trainer_state.json, marks a checkpoint complete.

`content_hash(folder)` hashes (xxhash) every file that changes what the checkpoint generates: weights, configs,
tokenizer files, the chat template, remote code. Training state (optimizer, scheduler, RNG, trainer_state.json,
DeepSpeed's global_step folders and conversion scripts), model cards and LuaCoder's metadata are left out, so the
final model saved from the last checkpoint's weights hashes the same as that checkpoint. Hashes are remembered by
file size and modification time, so a rerun reads no weights again.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import xxhash

from luacoder.checkpoints import (  # noqa: F401  CheckpointError: eval.py catches it from here
    META_FILE,
    CheckpointError,
    checkpoint_folders,
    checkpoint_step,
    complete_checkpoints,
    saved_step,
)
from luacoder.files import write_json

TRAINING_STATE_FILES = {
    "trainer_state.json",
    "training_args.bin",
    "optimizer.pt",
    "scheduler.pt",
    "scaler.pt",
    "latest",
    META_FILE,
}
_TRAINING_STATE_PATTERNS = (
    re.compile(r"^rng_state(_\d+)?\.pth$"),
    re.compile(r"^zero_to_\w+\.py$"),  # DeepSpeed's conversion scripts (zero_to_fp32.py, zero_to_torch.py)
    re.compile(r".+\.md$"),  # the model card (README.md) that the Trainer writes beside the final model only
)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
_BLOCK = 8 << 20


@dataclass
class CheckpointRef:
    name: str  # `checkpoint-500`, or `final` for a model saved in the base folder itself
    path: Path
    step: int | None  # None when unknown (a plain model folder)
    error: str | None = None  # set when it cannot be scored


def find_checkpoints(base_folder: str | os.PathLike) -> list[CheckpointRef]:
    base = Path(base_folder)
    if not base.is_dir():
        raise CheckpointError(f"{base}: no such folder")
    found = checkpoint_folders(base)
    luacoder_run = any((path / META_FILE).is_file() for _, path in found)
    complete = set(complete_checkpoints(base))
    refs = []
    for step, path in found:
        ref = CheckpointRef(path.name, path, step)
        if luacoder_run and path not in complete:
            ref.error = f"incomplete: no trainer_state.json or {META_FILE} (still being saved, or the save died)"
        elif not luacoder_run and not (path / "trainer_state.json").is_file():
            ref.error = "incomplete: no trainer_state.json (still being saved, or the save died)"
        refs.append(ref)
    if (base / "config.json").is_file():
        step = saved_step(base)
        if not refs and step is None:
            step = checkpoint_step(base.name)
        refs.append(CheckpointRef("final" if refs else base.name, base, step))
    if not refs:
        raise CheckpointError(f"{base}: no checkpoint-N folders and no model (config.json) in this folder")
    return refs


def model_files(folder: str | os.PathLike) -> list[Path]:
    """The files that decide what a checkpoint generates (see the module docstring), sorted by name."""
    folder = Path(folder)
    files = []
    for path in sorted(folder.iterdir()):
        name = path.name
        if not path.is_file() or name.startswith("."):
            continue
        if name in TRAINING_STATE_FILES or any(p.match(name) for p in _TRAINING_STATE_PATTERNS):
            continue
        files.append(path)
    return files


def check_files(folder: str | os.PathLike) -> list[Path]:
    """model_files, after checking that there is a config and weights: the cheap part of "is it complete"."""
    files = model_files(folder)
    names = {p.name for p in files}
    if "config.json" not in names:
        raise CheckpointError(f"{folder}: no config.json")
    if not any(name.endswith(WEIGHT_SUFFIXES) for name in names):
        raise CheckpointError(f"{folder}: no weight files ({', '.join('*' + s for s in WEIGHT_SUFFIXES)})")
    return files


def hash_file(path: str | os.PathLike) -> str:
    digest = xxhash.xxh3_128()
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


class HashMemo:
    """File hashes remembered by (path, size, mtime), in a JSON file."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self.known: dict[str, list] = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.known = {}
        self.changed = False

    def file_hash(self, path: Path) -> str:
        stat = path.stat()
        key = str(path.resolve())
        remembered = self.known.get(key)
        if remembered and remembered[:2] == [stat.st_size, stat.st_mtime_ns]:
            return remembered[2]
        digest = hash_file(path)
        self.known[key] = [stat.st_size, stat.st_mtime_ns, digest]
        self.changed = True
        return digest

    def save(self) -> None:
        if self.changed:
            write_json(self.path, self.known)
            self.changed = False


def content_hash(folder: str | os.PathLike, memo: HashMemo | None = None) -> str:
    """A hex digest of the checkpoint's model files, names and contents (CheckpointError when it has none)."""
    digest = xxhash.xxh3_128()
    for path in check_files(folder):
        file_hash = memo.file_hash(path) if memo is not None else hash_file(path)
        digest.update(f"{path.name}\0{file_hash}\n".encode())
    return digest.hexdigest()
