"""A byte-level BPE tokenizer trained with `tokenizers`, carrying the dialogue and FIM special tokens.

Used by the demo and by tests to train from scratch without a model hub; a real run starts from the
tokenizer of a pretrained model instead (StarCoder2's already has the FIM tokens).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from luacoder.dialogue import CHAT_TEMPLATE, DIALOGUE_TOKENS, EOS, FIM_TOKENS

SPECIAL_TOKENS = [EOS, *DIALOGUE_TOKENS, *FIM_TOKENS]


def train_tokenizer(
    texts: Iterable[str], vocab_size: int = 2048, model_max_length: int = 2048
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on `texts`; special tokens get the first ids, EOS is id 0."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=EOS,
        eos_token=EOS,
        unk_token=EOS,
        pad_token=EOS,
        extra_special_tokens=[*DIALOGUE_TOKENS, *FIM_TOKENS],
        model_max_length=model_max_length,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def docs_texts(paths: Iterable[str | os.PathLike]) -> list[str]:
    """The text of every Markdown/Lua/JSON file under `paths`, to train a tokenizer on."""
    texts = []
    for path in map(Path, paths):
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        texts += [f.read_text(encoding="utf-8") for f in files if f.suffix in (".md", ".markdown", ".lua", ".json")]
    if not texts:
        raise ValueError(f"no .md, .markdown, .lua or .json files under {', '.join(map(str, paths))}")
    return texts
