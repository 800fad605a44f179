"""What every training stage does around its trainer: logging, resuming, and checkpoint metadata."""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any, NoReturn

import torch
from transformers import TrainerCallback

from luacoder.checkpoints import META_FILE
from luacoder.files import write_json
from luacoder.locks import FolderLock, exit_with_launcher, hold_folder

logger = logging.getLogger("luacoder")


def setup_logging(training_args) -> None:
    """Readable logs on the main process, warnings only on the others."""
    import datasets
    import transformers

    level = logging.INFO if training_args.process_index == 0 else logging.WARNING
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S", stream=sys.stdout
    )
    for name in ("luacoder", "__main__"):
        logging.getLogger(name).setLevel(level)
    transformers.utils.logging.set_verbosity(logging.WARNING)
    datasets.utils.logging.set_verbosity(logging.WARNING)
    # DeepSpeed 0.19's ZeRO-3 calls the collectives torch 2.13 deprecated: two warnings a step, per process.
    warnings.filterwarnings(
        "ignore", r"`torch\.distributed\.(all_gather_into_tensor|reduce_scatter_tensor)`", FutureWarning
    )
    if training_args.process_index != 0:
        datasets.disable_progress_bars()


_output_lock: FolderLock | None = None  # held for the process's life: released when it ends, however it ends


def guard_run(training_args) -> None:
    """One run per output_dir, and no worker that outlives its torchrun launcher: call it once the config is read.

    Rank 0 holds output_dir's lock (luacoder.locks): a second run of the same command, or one started while
    orphaned workers still train, stops with the holder's host and pid instead of resuming from, and overwriting,
    the other run's checkpoints. Every worker ends when its launcher does."""
    global _output_lock
    exit_with_launcher()
    if training_args.process_index == 0 and _output_lock is None:
        _output_lock = hold_folder(training_args.output_dir, "training")


def close_distributed() -> None:
    """End the run's process group once every rank is done. Left to the interpreter's exit, gloo's worker threads
    can abort a process (SIGABRT) while Python tears down (pytorch#179291): a finished run would fail."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def finish_stage() -> NoReturn:
    """A stage's last call, once its work is saved: all ranks leave the process group together, the exit handlers
    run (logging, temporary folders, writers), and the process ends with status 0 without interpreter teardown.

    Why not a plain return: destroy_process_group drops only torch's own references to the process groups.
    DeepSpeed holds more (every ZeRO-3 parameter's ds_process_group, deepspeed.utils.groups, its comm backend and
    its C++ ops), so gloo's communicator threads (pt_gloo_runloop, gloo_tcp_loop) are still running when Python
    tears the interpreter down and frees those objects in no set order. A native thread that needs the GIL then is
    stopped by pthread_exit, and that unwind through a noexcept frame aborts the process ("terminate called without
    an active exception", SIGABRT): GRPO's rank 1 did so after `saved the final model`, and torchrun reported the
    finished stage as failed. Nothing of a finished stage is left to run, so it ends before that teardown.
    """
    close_distributed()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


def fingerprint(paths: list[str | os.PathLike | list | None]) -> str:
    """A short hash of the dataset files' bytes (an item may be a list of files): two runs with the same fingerprint
    trained on the same data."""
    files = [p for item in paths for p in (item if isinstance(item, list) else [item])]
    digest = hashlib.sha256()
    for path in sorted(str(p) for p in files if p):
        digest.update(Path(path).name.encode())
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


class CheckpointMetadata(TrainerCallback):
    """Writes luacoder_meta.json (stage, parent model, dataset fingerprint, resolved config) into every checkpoint,
    as its last file: its presence marks the checkpoint complete."""

    def __init__(self, stage: str, parent: str, dataset_fingerprint: str, config: dict[str, Any]):
        self.meta = {"stage": stage, "parent": parent, "dataset_fingerprint": dataset_fingerprint, "config": config}

    @classmethod
    def for_stage(cls, stage: str, model_args, data_args, training_args) -> CheckpointMetadata:
        """Metadata of a stage run: its parent model, its data files' fingerprint and every resolved setting."""
        from luacoder.config import to_yaml_dict

        return cls(
            stage=stage,
            parent=model_args.model_name_or_path or model_args.model_config,
            dataset_fingerprint=fingerprint([data_args.train_file, data_args.test_file]),
            config=to_yaml_dict(model_args, data_args, training_args),
        )

    def save_final(self, trainer) -> None:
        """The final model with its tokenizer and metadata in output_dir, loadable without DeepSpeed."""
        trainer.save_model(trainer.args.output_dir)
        if trainer.is_world_process_zero():
            self.write(trainer.args.output_dir, trainer.state.global_step)
            logger.info("saved the final model to %s", trainer.args.output_dir)

    def write(self, folder: str | os.PathLike, step: int) -> None:
        write_json(Path(folder) / META_FILE, {**self.meta, "step": step})

    def on_save(self, args, state, control, **kwargs):
        # Every rank calls this after writing its share of the checkpoint; past the barrier, all have.
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.barrier()
        if state.is_world_process_zero:
            self.write(Path(args.output_dir) / f"checkpoint-{state.global_step}", state.global_step)
