"""Code and chat in one run: a weighted mixture of code rows and conversations, one SFT run (TRL SFTTrainer).

    torchrun --nproc_per_node=8 train.py config.yaml --deepspeed=../ds_configs/zero3_bf16.json
    python train.py config_cpu.yaml

train_mixture names the files and their weights (times each row is seen per epoch). A file of code rows
(`{"content": ...}`) trains on every token, with fill-in-the-middle as in ../pretrain; a file of conversations
(`{"messages": [...]}`) trains on the assistant's answers, as ../chat. Samples are packed several to a row, each kept
apart (own position ids, no attention across samples). output_dir/dataset_card.md says how many tokens of each source
trained. Rerunning the same command after a crash resumes from the last checkpoint in output_dir.
"""

import logging
from pathlib import Path

from transformers import set_seed
from trl import SFTConfig

from luacoder.checkpoints import resume_checkpoint
from luacoder.config import parse_config, to_yaml_dict
from luacoder.dialogue import FIM_TOKENS
from luacoder.files import write_text
from luacoder.train.mixture import (
    CODE,
    CONVERSATIONS,
    Fitting,
    MixtureDataArguments,
    build_mixture,
    check_training_args,
    counts_json,
    held_out_datasets,
    mixture_card,
    read_sources,
)
from luacoder.train.model_setup import ModelArguments, ensure_chat_format, ensure_tokens, load_model, load_tokenizer
from luacoder.train.packing import refuse_leaking_packing
from luacoder.train.run import CheckpointMetadata, fingerprint, finish_stage, guard_run, setup_logging
from luacoder.train.sft import sft_trainer

logger = logging.getLogger(__name__)

# 1. Config: YAML, then --key=value overrides. SFTConfig is TrainingArguments plus TRL's data keys.
model_args, data_args, training_args = parse_config([ModelArguments, MixtureDataArguments, SFTConfig])
refuse_leaking_packing(training_args)
check_training_args(training_args)
setup_logging(training_args)
guard_run(training_args)
set_seed(training_args.seed)

# 2. The sources, read and validated before a model loads: their kinds decide the tokens the tokenizer needs.
sources = read_sources(data_args.train_mixture, data_args.content_field, data_args.system_prompt)
kinds = {source.kind for source in sources}
for source in sources:
    logger.info("%s: %d %s rows, weight %g", source.path, len(source.rows), source.kind, source.weight)

# 3. Model and tokenizer: the dialogue tokens and template for conversations, the FIM tokens for code.
tokenizer = load_tokenizer(model_args)
model = load_model(model_args)
if CONVERSATIONS in kinds:
    ensure_chat_format(tokenizer, model)
if CODE in kinds and data_args.fim_rate > 0:
    ensure_tokens(tokenizer, model, FIM_TOKENS)

# 4. Samples: weighted, tokenized and labelled per source, fitted to max_length; the card counts what each put in.
fitting = Fitting.from_training_args(training_args)
with training_args.main_process_first(desc="tokenizing the mixture"):
    train_dataset, counts = build_mixture(sources, tokenizer, data_args, fitting, training_args.seed)
    eval_dataset = held_out_datasets(data_args.test_files, tokenizer, data_args, fitting, training_args.seed) or None
for count in counts:
    logger.info("%s: %d samples, %d trained tokens per epoch", count.source, count.samples, count.trained_tokens)
card = Path(training_args.output_dir) / "dataset_card.md"
if training_args.process_index == 0:
    card.parent.mkdir(parents=True, exist_ok=True)
    write_text(card, mixture_card(counts, data_args, fitting, training_args.seed))

# 5. Train, resuming from the last complete checkpoint of the same output_dir.
metadata = CheckpointMetadata(
    stage="multi",
    parent=model_args.model_name_or_path or model_args.model_config,
    dataset_fingerprint=fingerprint(data_args.files()),
    config=to_yaml_dict(model_args, data_args, training_args),
)
metadata.meta["mixture"] = counts_json(counts)
trainer = sft_trainer(model, tokenizer, training_args, train_dataset, eval_dataset, callbacks=[metadata])
trainer.train(resume_from_checkpoint=resume_checkpoint(training_args.output_dir, model_args.start_over))

# 6. The final model with its tokenizer, loadable without DeepSpeed, and the card with the run's totals.
metadata.save_final(trainer)
if trainer.is_world_process_zero():
    write_text(card, mixture_card(counts, data_args, fitting, training_args.seed, trainer.state))
finish_stage()
