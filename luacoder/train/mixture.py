"""Code and chat in one run (deepspeed/multi): a weighted mixture of code-row and conversation files, every sample
kept apart in packing, and a dataset card saying how many tokens of each source trained.

A source is a JSON-lines file of one kind, told by its first row (as deepspeed/main tells them,
`luacoder.train.datasets.load_rows`):

- code rows `{"content": ...}`: every token trains; fill-in-the-middle as in pretraining (`apply_fim`, per sample,
  seeded), then EOS.
- conversations `{"messages": [...]}` (or prompt/completion rows): rendered with the tokenizer's chat template;
  only the assistant's content and its `<|end|>` train (the template's `{% generation %}` mask, exactly the labels
  the chat stage's assistant-only loss gives).

A source's weight is how many times per epoch its rows are seen: 2 repeats every row twice, 0.5 takes a seeded
half of them, 1.5 every row once and a seeded half again. The samples are tokenized and labelled here, one
(input_ids, labels) pair each, so that both kinds can share a dataset: SFTTrainer takes them as they are and packs
them (bfd keeps each sample apart: its own position ids, no attention across samples, checked by the isolation
probe of `luacoder.train.sft`).

Samples are fitted to `max_length` here, as TRL would (split into pieces with bfd_split, cut otherwise), so that the
card's counts are the tokens that really train. A token "trains" when it is the target of a prediction: labelled,
and not the first token of its sample (nothing precedes it in the sample, and packing never lets the previous
sample predict it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from datasets import Dataset

from luacoder.config import ConfigError
from luacoder.train.datasets import IGNORE_INDEX, FimIds, apply_fim, load_rows

CODE, CONVERSATIONS = "code", "conversations"


@dataclass
class MixtureDataArguments:
    train_mixture: dict[str, float] = field(
        metadata={"help": "JSON-lines files and their weights (times each row is seen per epoch), e.g. {a.jsonl: 1}"}
    )
    test_files: list[str] = field(
        default_factory=list, metadata={"help": "held-out files, each of one kind: an eval loss per file"}
    )
    content_field: str = field(default="content", metadata={"help": "the text field of code rows"})
    system_prompt: str | None = field(default=None, metadata={"help": "conversations: added where there is none"})
    fim_rate: float = field(
        default=0.5, metadata={"help": "code rows: share turned into fill-in-the-middle", "range": "[0, 1]"}
    )
    fim_spm_rate: float = field(
        default=0.5, metadata={"help": "share of FIM samples in SPM rather than PSM order", "range": "[0, 1]"}
    )

    def __post_init__(self) -> None:
        if not isinstance(self.train_mixture, dict) or not self.train_mixture:
            raise ConfigError("train_mixture: give at least one file with its weight, e.g. {train.jsonl: 1.0}")
        weights = {}
        for path, weight in self.train_mixture.items():
            try:
                weights[str(path)] = float(weight)
            except (TypeError, ValueError):
                raise ConfigError(f"train_mixture: the weight of {path} must be a number, got {weight!r}") from None
            if not weights[str(path)] > 0 or not math.isfinite(weights[str(path)]):
                raise ConfigError(f"train_mixture: the weight of {path} must be above 0, got {weight!r}")
        self.train_mixture = weights

    def files(self) -> list[str]:
        return [*self.train_mixture, *self.test_files]


def check_training_args(training_args) -> None:
    """The mixture labels every sample itself (all tokens of code, the answers of conversations); TRL's own
    masking options would contradict it, and TRL's `wrapped` packing is refused by the SFT builder."""
    for name in ("assistant_only_loss", "completion_only_loss"):
        if getattr(training_args, name, None):
            raise ConfigError(
                f"{name}: the mixture decides the loss per source (code rows: every token; conversations: the"
                f" assistant's answers); set --{name}=false"
            )


@dataclass
class Source:
    """One file of the mixture, read and validated: its code texts or its conversations."""

    label: str
    path: str
    weight: float
    kind: str
    rows: list


def source_labels(paths: list[str]) -> list[str]:
    """Short unique names for files: the fewest trailing path parts (without the suffix) that tell them apart,
    so `data/chat/train.jsonl` and `data/pretrain/train.jsonl` become `chat/train` and `pretrain/train`."""
    parts = [Path(p).with_suffix("").parts for p in paths]
    for depth in range(1, max((len(p) for p in parts), default=1) + 1):
        labels = ["/".join(p[-depth:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
    raise ConfigError(f"the same file is given twice: {paths}")


def read_sources(weights: dict[str, float], content_field: str, system_prompt: str | None) -> list[Source]:
    """Each file read as code rows or conversations (the first row decides; every row must be of its kind)."""
    sources = []
    for label, (path, weight) in zip(source_labels(list(weights)), weights.items(), strict=True):
        rows = load_rows(path, content_field, system_prompt)
        kind = CONVERSATIONS if "messages" in rows.column_names else CODE
        sources.append(Source(label, path, weight, kind, rows["messages" if kind == CONVERSATIONS else content_field]))
    return sources


def weighted_indices(count: int, weight: float, rng: np.random.Generator) -> list[int]:
    """Row indices for one epoch: every row `floor(weight)` times, then a seeded sample (without repeats) of the
    rest of the weight."""
    whole = math.floor(weight)
    extra = round((weight - whole) * count)
    indices = [i for _ in range(whole) for i in range(count)]
    indices += sorted(rng.choice(count, size=extra, replace=False).tolist()) if extra else []
    return indices


def code_sample(ids: list[int], eos_id: int) -> tuple[list[int], list[int]]:
    """A code row as pretraining trains it: the (FIM-arranged) tokens and EOS, every one labelled."""
    input_ids = [*ids, eos_id]
    return input_ids, list(input_ids)


def conversation_sample(tokenizer, messages: list[dict[str, str]]) -> tuple[list[int], list[int]]:
    """A conversation rendered by the chat template; labelled only where the template marks the assistant's tokens
    ({% generation %}: its content and <|end|>), as SFTTrainer's assistant_only_loss labels it."""
    rendered = tokenizer.apply_chat_template(
        messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    input_ids, mask = list(rendered["input_ids"]), list(rendered["assistant_masks"])
    if 1 not in mask:
        raise ValueError(
            "the tokenizer's chat template marks no assistant tokens ({% generation %} missing): conversations would"
            " train on nothing"
        )
    return input_ids, [t if m else IGNORE_INDEX for t, m in zip(input_ids, mask, strict=True)]


def fit_to_length(
    input_ids: list[int], labels: list[int], max_length: int | None, split: bool, keep_end: bool = False
) -> list[tuple[list[int], list[int]]]:
    """One sample within `max_length`: cut into consecutive pieces (`split`, bfd_split) or cut to its start (its end
    with `keep_end`), as TRL would."""
    if max_length is None or len(input_ids) <= max_length:
        return [(input_ids, labels)]
    if split:
        return [
            (input_ids[i : i + max_length], labels[i : i + max_length]) for i in range(0, len(input_ids), max_length)
        ]
    cut = slice(-max_length, None) if keep_end else slice(None, max_length)
    return [(input_ids[cut], labels[cut])]


def trained_tokens(labels: list[int]) -> int:
    """Tokens that are targets of a prediction: labelled, past the sample's first token."""
    return sum(label != IGNORE_INDEX for label in labels[1:])


@dataclass
class SourceCount:
    """What one source put into an epoch: the card's row."""

    source: str
    path: str
    kind: str
    weight: float
    rows: int  # in the file
    samples: int  # per epoch, after weighting (a sample cut into pieces counts once)
    tokens: int  # per epoch, after fitting to max_length
    trained_tokens: int  # per epoch: the tokens that are targets of the loss
    dropped: int  # samples left with no trained token (cut away by max_length)


@dataclass(frozen=True)
class Fitting:
    """How samples meet max_length, from the SFTConfig: split (bfd_split), cut to the start or to the end."""

    max_length: int | None
    split: bool
    keep_end: bool = False

    @classmethod
    def from_training_args(cls, args) -> Fitting:
        packing = bool(args.packing)
        split = packing and args.packing_strategy == "bfd_split"
        # TRL cuts to the end only for unpacked rows (packing's bfd always keeps the start).
        return cls(args.max_length, split, keep_end=not packing and args.truncation_mode == "keep_end")


def build_mixture(
    sources: list[Source],
    tokenizer,
    data_args: MixtureDataArguments,
    fitting: Fitting,
    seed: int,
    weighted: bool = True,
) -> tuple[Dataset, list[SourceCount]]:
    """The tokenized, labelled samples of every source (weighted, or each row once for held-out files) and what
    each source put in. Seeded (row choice and FIM per sample), so a rerun or a resumed run builds the same rows."""
    fim = None
    if data_args.fim_rate > 0 and any(s.kind == CODE for s in sources):
        fim = FimIds.from_tokenizer(tokenizer)
    columns: dict[str, list] = {"input_ids": [], "labels": []}
    counts = []
    for number, source in enumerate(sources):
        rng = np.random.default_rng([seed, number])
        weight = source.weight if weighted else 1.0
        indices = weighted_indices(len(source.rows), weight, rng)
        if not indices:
            raise ConfigError(
                f"train_mixture: the weight {weight:g} of {source.path} takes none of its {len(source.rows)} rows"
            )
        if source.kind == CODE:
            encoded = tokenizer(list(source.rows), add_special_tokens=False)["input_ids"]
        count = SourceCount(source.label, source.path, source.kind, weight, len(source.rows), 0, 0, 0, 0)
        for position, index in enumerate(indices):
            if source.kind == CODE:
                ids = encoded[index]
                if fim is not None:
                    sample_rng = np.random.default_rng([seed, number, position])
                    ids = apply_fim(ids, sample_rng, fim, data_args.fim_rate, data_args.fim_spm_rate)
                sample = code_sample(ids, tokenizer.eos_token_id)
            else:
                sample = conversation_sample(tokenizer, source.rows[index])
            pieces = fit_to_length(*sample, fitting.max_length, fitting.split, fitting.keep_end)
            pieces = [p for p in pieces if trained_tokens(p[1])]
            if not pieces:
                count.dropped += 1
                continue
            count.samples += 1
            for input_ids, labels in pieces:
                columns["input_ids"].append(input_ids)
                columns["labels"].append(labels)
                count.tokens += len(input_ids)
                count.trained_tokens += trained_tokens(labels)
        counts.append(count)
    return Dataset.from_dict(columns), counts


def held_out_datasets(
    paths: Iterable[str], tokenizer, data_args: MixtureDataArguments, fitting: Fitting, seed: int
) -> dict[str, Dataset]:
    """One eval dataset per held-out file (every row once), named by its label: an eval loss per source shows
    whether the code skill is kept while the chat skill is learnt."""
    sources = read_sources(dict.fromkeys(paths, 1.0), data_args.content_field, data_args.system_prompt)
    return {
        source.label.replace("/", "_"): build_mixture([source], tokenizer, data_args, fitting, seed, weighted=False)[0]
        for source in sources
    }


def mixture_card(
    counts: list[SourceCount], data_args: MixtureDataArguments, fitting: Fitting, seed: int, state=None
) -> str:
    """The run's dataset card: per source, rows, samples and tokens per epoch, and the tokens trained so far."""
    from luacoder.data.card import markdown_table

    total = sum(c.trained_tokens for c in counts) or 1
    epochs = state.epoch if state is not None and state.epoch else None
    rows = []
    for c in counts:
        row = {
            "source": c.source,
            "file": c.path,
            "kind": c.kind,
            "weight": f"{c.weight:g}",
            "rows in file": c.rows,
            "samples per epoch": c.samples,
            "tokens per epoch": c.tokens,
            "trained tokens per epoch": c.trained_tokens,
            "share of trained tokens": f"{100 * c.trained_tokens / total:.1f}%",
            "dropped samples": c.dropped,
        }
        if epochs is not None:
            row["trained tokens in the run"] = round(c.trained_tokens * epochs)
        rows.append(row)
    fim = f"fill-in-the-middle rate {data_args.fim_rate:g} (SPM {data_args.fim_spm_rate:g})"
    if fitting.max_length is None:
        length = "no max_length"
    else:
        length = f"samples longer than max_length {fitting.max_length} " + (
            "split into pieces (bfd_split)"
            if fitting.split
            else "cut to their " + ("end" if fitting.keep_end else "start")
        )
    lines = [
        "# Training mixture\n",
        "Code rows train on every token; conversations on the assistant's answers and their `<|end|>`. A trained token"
        " is a target of the loss (the first token of a sample, or of a piece of one, never is). Weight: times each"
        " row is seen per epoch.\n",
        markdown_table(rows),
        f"\nCode rows: {fim}. {length[0].upper() + length[1:]}; a dropped sample had no trained token left."
        f" Seed {seed} (row choice and FIM per sample).\n",
    ]
    if epochs is not None:
        exact = (
            "" if float(epochs).is_integer() else " (a part epoch: its share of each source is the epoch's on average)"
        )
        lines.append(f"\nTrained {state.global_step} steps, {epochs:g} epochs{exact}.\n")
    else:
        lines.append("\nTraining has not finished; the run's totals are added when it does.\n")
    return "\n".join(lines)


def counts_json(counts: list[SourceCount]) -> list[dict]:
    return [asdict(c) for c in counts]
