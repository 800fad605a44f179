"""The SFTTrainer of every SFT-type stage (deepspeed/chat, deepspeed/main, deepspeed/RL/sft_lora): one set-up, so
that a stage cannot drift from the others (RL/sft_lora once packed with SDPA without keeping rows apart: the 0.58x
of benchmarks/bench_sft_throughput.py). tests/test_main_stage.py fails when a stage script builds one another way.
"""

from __future__ import annotations

from collections.abc import Sequence

from transformers import TrainerCallback
from trl import SFTConfig, SFTTrainer

from luacoder.train.packing import PackingIsolationCheck, keep_packed_rows_apart, refuse_leaking_packing


def sft_trainer(
    model,
    tokenizer,
    args: SFTConfig,
    train_dataset,
    eval_dataset=None,
    callbacks: Sequence[TrainerCallback] = (),
    peft_config=None,
) -> SFTTrainer:
    """An SFTTrainer whose packing keeps conversations apart: `wrapped` packing refused, the isolation probe run
    when training starts, and packed rows kept as rows unless the model uses flash attention."""
    refuse_leaking_packing(args)
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        # Packing must keep conversations apart: checked on the model itself when training starts.
        callbacks=[*callbacks, *([PackingIsolationCheck(len(tokenizer))] if args.packing else [])],
    )
    # TRL joins a batch's packed rows into one flat row, made for flash attention; with SDPA or eager attention that
    # costs (batch x length)^2, so the rows stay rows.
    keep_packed_rows_apart(trainer)
    return trainer
