"""Continued pretraining of a causal LM on Lua code: fill-in-the-middle, packing, DeepSpeed.

    torchrun --nproc_per_node=8 train.py config.yaml --deepspeed=../ds_configs/zero2.json

Reads {"content": lua} rows (data/lua.ipynb, `luacoder build-pretrain`). Rerunning the same command after a crash
resumes from the last checkpoint in output_dir (start_over=true begins again).
"""

import logging

from datasets import Dataset
from transformers import Trainer, TrainingArguments, default_data_collator, set_seed

from luacoder.checkpoints import resume_checkpoint
from luacoder.config import parse_config
from luacoder.dialogue import FIM_TOKENS
from luacoder.files import read_jsonl
from luacoder.train.datasets import PretrainDataArguments, build_pretrain_rows
from luacoder.train.model_setup import ModelArguments, ensure_tokens, load_model, load_tokenizer
from luacoder.train.run import CheckpointMetadata, finish_stage, guard_run, setup_logging

logger = logging.getLogger(__name__)

# 1. Config: YAML, then --key=value overrides. TrainingArguments come first to the model: with a ZeRO-3 config,
#    they make from_pretrained load the weights already partitioned.
model_args, data_args, training_args = parse_config([ModelArguments, PretrainDataArguments, TrainingArguments])
setup_logging(training_args)
guard_run(training_args)
set_seed(training_args.seed)

# 2. Model and tokenizer; FIM tokens found by name (StarCoder, StarCoder2) or added.
tokenizer = load_tokenizer(model_args)
model = load_model(model_args)
if data_args.fim_rate > 0:
    ensure_tokens(tokenizer, model, FIM_TOKENS)

# 3. Data: tokenize, FIM per document, pack into seq_length rows with EOS between documents.
with training_args.main_process_first(desc="packing"):
    splits = {}
    for split, path in (("train", data_args.train_file), ("test", data_args.test_file)):
        if path:
            texts = [row[data_args.content_field] for row in read_jsonl(path, required=(data_args.content_field,))]
            splits[split] = Dataset.from_dict(build_pretrain_rows(texts, tokenizer, data_args, training_args.seed))
            logger.info(
                "%s: %d documents -> %d rows of %d tokens", path, len(texts), len(splits[split]), data_args.seq_length
            )

# 4. Train, resuming from the last complete checkpoint of the same output_dir.
metadata = CheckpointMetadata.for_stage("pretrain", model_args, data_args, training_args)
trainer = Trainer(
    model=model,
    args=training_args,
    train_dataset=splits["train"],
    eval_dataset=splits.get("test"),
    processing_class=tokenizer,
    data_collator=default_data_collator,
    callbacks=[metadata],
)
trainer.train(resume_from_checkpoint=resume_checkpoint(training_args.output_dir, model_args.start_over))

# 5. The final model, loadable without DeepSpeed, beside the checkpoints.
metadata.save_final(trainer)
finish_stage()
