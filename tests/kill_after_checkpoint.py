"""Run a stage script, SIGKILLing every rank right after checkpoint-N is complete (N from the environment).

    torchrun ... tests/kill_after_checkpoint.py train.py config.yaml ...   # with LUACODER_KILL_AFTER_CHECKPOINT=2

A kill from outside races the run's later checkpoints; this one lands at a chosen point: all ranks have written
checkpoint-N and its metadata file, and none has started the next step.
"""

import os
import runpy
import signal
import sys

import torch.distributed

from luacoder.train import run

KILL_AFTER = int(os.environ["LUACODER_KILL_AFTER_CHECKPOINT"])
save_checkpoint_metadata = run.CheckpointMetadata.on_save


def on_save_then_die(self, args, state, control, **kwargs):
    save_checkpoint_metadata(self, args, state, control, **kwargs)
    if state.global_step == KILL_AFTER:
        torch.distributed.barrier()  # rank 0 has written the metadata file: the checkpoint is complete
        os.kill(os.getpid(), signal.SIGKILL)


run.CheckpointMetadata.on_save = on_save_then_die
script, sys.argv = sys.argv[1], sys.argv[1:]
sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
runpy.run_path(script, run_name="__main__")
