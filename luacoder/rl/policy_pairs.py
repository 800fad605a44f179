"""On-policy preference pairs: the chat checkpoint's own answers, graded by eval's grader, a clean one against a
hallucinating one for the same prompt (TRL's conversational preference rows, for deepspeed/RL/dpo.py).

    luacoder policy-pairs --model_name_or_path outputs/chat --api_path outputs/data/api.json \\
        --prompt_files outputs/data/chat/train.jsonl data/lua54_rl_train_prompts.csv --output_dir outputs/policy_pairs

Synthetic pairs (luacoder.data.preferences) corrupt a correct answer into a mistake the model may never make; these
pairs are the model's own mistakes, so DPO removes what eval counts against this model. For each training prompt
(chat rows up to their last answer, with the APIs that answer calls correctly; or a CSV of prompt, expected_apis:
never eval's prompts) the checkpoint samples `samples_per_prompt` answers (seeded per prompt and sample, so the same
command gives the same pairs), with its own chat template and the system prompt it was trained with. Each answer is
graded against the index eval grades with, and

- a **clean** answer has Lua code that parses, calls only documented names with documented argument counts, and
  calls no undefined global;
- a **hallucinating** answer is one eval counts in its hallucination rate: a hallucinated API call, or an undefined
  global (unless `count_undefined_globals` is off, as eval's key of that name).

The chosen answer is the clean one with the best expected-API recall (the earliest sampled among equals); each
rejected answer is a distinct hallucinating one whose recall is not above the chosen one's, so a pair never rewards
calling less of what was asked. A prompt with no clean or no such hallucinating answer gives no pair; the card
(`README.md` of the output folder, and `summary.json`) counts the prompts that gave a pair, per file, and why the
others did not. `samples.jsonl` keeps every sampled answer with its verdict. The output folder is replaced whole,
never left half-written.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from luacoder.config import DEFAULT_SEED
from luacoder.evaluation.engine import BATCH_SIZE, Decoding
from luacoder.files import atomic_outputs, stable_hash, write_json, write_jsonl, write_text
from luacoder.grading.answer import AnswerGrade, grade_answer
from luacoder.grading.api_index import ApiIndex
from luacoder.grading.rewards import hallucination_free_score

logger = logging.getLogger("luacoder")
Message = dict[str, str]
NO_CLEAN = "no clean answer"
NO_HALLUCINATING = "no hallucinating answer"
NO_LOWER_RECALL = "every hallucinating answer has a higher expected-API recall than the clean one"


@dataclass
class PromptRow:
    conversation: list[Message]  # ends with the user turn; the system prompt first when there is one
    expected_apis: list[str]
    source: str  # the file it came from


@dataclass
class Sample:
    text: str
    new_tokens: int
    grade: AnswerGrade

    def clean(self) -> bool:
        g = self.grade
        return g.has_code and g.syntax_valid and not (g.hallucinated or g.undefined or g.arity_errors)

    def hallucinating(self, count_undefined_globals: bool = True) -> bool:
        return hallucination_free_score(self.grade, count_undefined_globals) == 0.0

    @property
    def recall(self) -> float:
        """Expected-API recall, 0 where the prompt expects nothing (every answer is equal there)."""
        return self.grade.expected_recall or 0.0


def choose_pairs(
    samples: Sequence[Sample], pairs_per_prompt: int = 1, count_undefined_globals: bool = True
) -> tuple[list[tuple[Sample, Sample]], str]:
    """(chosen, rejected) pairs of one prompt's samples, or none and the reason (see the module docstring)."""
    clean = [s for s in samples if s.clean()]
    if not clean:
        return [], NO_CLEAN
    chosen = max(clean, key=lambda s: s.recall)  # max keeps the first of equals: the earliest sampled
    wrong, seen = [], set()
    for sample in samples:
        if sample.hallucinating(count_undefined_globals) and sample.text not in seen:
            seen.add(sample.text)
            wrong.append(sample)
    if not wrong:
        return [], NO_HALLUCINATING
    fair = [s for s in wrong if s.recall <= chosen.recall]
    if not fair:
        return [], NO_LOWER_RECALL
    # Closest in recall first: the pair then differs by the hallucination rather than by what else it calls.
    fair.sort(key=lambda s: -s.recall)  # a stable sort: the earliest sampled first among equals
    return [(chosen, rejected) for rejected in fair[:pairs_per_prompt]], ""


def sample_answers(
    checkpoint: str | os.PathLike,
    conversations: Sequence[Sequence[Message]],
    samples_per_prompt: int,
    seed: int,
    decoding: Decoding,
    *,
    dtype: str = "auto",
    device: str | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
) -> list[list[tuple[str, int]]]:
    """(answer, tokens generated) of `samples_per_prompt` sampled answers to each conversation, through eval's
    inference engine: the checkpoint's chat template, its end-of-turn token, seeded sampling. Sample j of a
    conversation is seeded by the conversation's text and j, so it does not depend on the other prompts.
    `progress(n)` is called after each batch with the number of conversations answered so far."""
    from luacoder.evaluation.engine import AskOptions, Engine, format_chat

    # The conversations carry their own system turn: the engine formats them with the chat template and decodes.
    engine = Engine.load(checkpoint, AskOptions(), dtype=dtype, device=device, batch_size=batch_size)
    answers: list[list[tuple[str, int]]] = []
    try:
        per_batch = max(1, batch_size // samples_per_prompt)
        for start in range(0, len(conversations), per_batch):
            chunk = conversations[start : start + per_batch]
            texts = [format_chat(engine.tokenizer, list(c)) for c in chunk for _ in range(samples_per_prompt)]
            seeds = [_sample_seed(seed, conversation, j) for conversation in chunk for j in range(samples_per_prompt)]
            completions = engine.complete(texts, decoding, seeds)
            for i in range(len(chunk)):
                done = completions[i * samples_per_prompt : (i + 1) * samples_per_prompt]
                answers.append([(c.text, c.new_tokens) for c in done])
            if progress is not None:
                progress(len(answers))
    finally:
        engine.close()
    return answers


def _sample_seed(seed: int, conversation: Sequence[Message], sample: int) -> int:
    return int(stable_hash({"seed": seed, "conversation": list(conversation), "sample": sample})[:8], 16)


# Sampled, so that one prompt gets clean and hallucinating answers both: the model's own distribution (temperature 1,
# as on-policy methods sample) with eval's nucleus, and shorter answers than eval's, since each prompt gets several.
SAMPLING = Decoding(max_new_tokens=256, do_sample=True, temperature=1.0)


@dataclass
class PairsSettings:
    samples_per_prompt: int = 4
    pairs_per_prompt: int = 1
    prompts_per_file: int | None = None  # a seeded choice of each file's prompts; None: all
    seed: int = DEFAULT_SEED
    decoding: Decoding = SAMPLING
    count_undefined_globals: bool = True
    system_prompt: str | None = None
    dtype: str = "auto"
    device: str | None = None
    batch_size: int = BATCH_SIZE

    def __post_init__(self) -> None:
        if self.samples_per_prompt < 2 or self.pairs_per_prompt < 1:
            raise ValueError("samples_per_prompt must be at least 2 and pairs_per_prompt at least 1")
        if self.prompts_per_file is not None and self.prompts_per_file < 1:
            raise ValueError("prompts_per_file must be at least 1")
        if not self.decoding.do_sample:
            raise ValueError("on-policy pairs need sampled answers (do_sample): greedy answers would all be the same")


@dataclass
class PairsReport:
    prompts: Counter = field(default_factory=Counter)  # source -> prompts asked
    paired: Counter = field(default_factory=Counter)  # source -> prompts that gave a pair
    pairs: int = 0
    unpaired: Counter = field(default_factory=Counter)  # reason -> prompts
    samples: int = 0
    clean: int = 0
    hallucinating: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompts": sum(self.prompts.values()),
            "prompts_with_a_pair": sum(self.paired.values()),
            "pairs": self.pairs,
            "by_file": {s: {"prompts": n, "prompts_with_a_pair": self.paired[s]} for s, n in self.prompts.items()},
            "unpaired": dict(self.unpaired.most_common()),
            "samples": self.samples,
            "clean_samples": self.clean,
            "hallucinating_samples": self.hallucinating,
            "generated_tokens": self.generated_tokens,
            "seconds": round(self.seconds, 1),
        }


def read_prompt_rows(paths: Sequence[str | os.PathLike], index: ApiIndex, settings: PairsSettings) -> list[PromptRow]:
    """Each file's prompts (luacoder.rl.data.read_prompts), with the system prompt, a seeded choice of at most
    `prompts_per_file` of each."""
    from luacoder.rl.data import read_prompts

    rows = []
    for path in paths:
        prompts = read_prompts(path, index, settings.system_prompt)
        if settings.prompts_per_file is not None and len(prompts) > settings.prompts_per_file:
            chosen = random.Random(f"{settings.seed}:{Path(path).name}").sample(
                range(len(prompts)), settings.prompts_per_file
            )
            prompts = [prompts[i] for i in sorted(chosen)]
        rows += [PromptRow(conversation, list(apis), Path(path).name) for conversation, apis in prompts]
    return rows


def build_policy_pairs(
    checkpoint: str | os.PathLike,
    index: ApiIndex,
    prompts: Sequence[PromptRow],
    settings: PairsSettings,
    sampler: Callable[..., list[list[tuple[str, int]]]] = sample_answers,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], PairsReport]:
    """Sample, grade and pair: (preference rows, every sample with its verdict, report)."""
    report = PairsReport()
    started = time.perf_counter()

    def progress(done: int) -> None:
        logger.info("sampled %d/%d prompts (%.0f s)", done, len(prompts), time.perf_counter() - started)

    answers = sampler(
        checkpoint,
        [p.conversation for p in prompts],
        settings.samples_per_prompt,
        settings.seed,
        settings.decoding,
        dtype=settings.dtype,
        device=settings.device,
        batch_size=settings.batch_size,
        progress=progress,
    )
    report.seconds = time.perf_counter() - started
    rows, logged = [], []
    for number, (prompt, sampled) in enumerate(zip(prompts, answers, strict=True)):
        samples = [Sample(text, tokens, grade_answer(text, index, prompt.expected_apis)) for text, tokens in sampled]
        pairs, reason = choose_pairs(samples, settings.pairs_per_prompt, settings.count_undefined_globals)
        report.prompts[prompt.source] += 1
        report.samples += len(samples)
        report.generated_tokens += sum(s.new_tokens for s in samples)
        for sample in samples:
            report.clean += sample.clean()
            report.hallucinating += sample.hallucinating(settings.count_undefined_globals)
            logged.append(_sample_row(number, prompt, sample, settings.count_undefined_globals))
        if pairs:
            report.paired[prompt.source] += 1
        else:
            report.unpaired[reason] += 1
        for chosen, rejected in pairs:
            rows.append(
                {
                    "prompt": [dict(m) for m in prompt.conversation],
                    "chosen": [{"role": "assistant", "content": chosen.text}],
                    "rejected": [{"role": "assistant", "content": rejected.text}],
                    "source": prompt.source,
                    "expected_apis": prompt.expected_apis,
                    "detail": _mistakes(rejected.grade, settings.count_undefined_globals),
                }
            )
    report.pairs = len(rows)
    return rows, logged, report


def _mistakes(grade: AnswerGrade, count_undefined_globals: bool) -> str:
    parts = [f"{name} (hallucinated)" for name in dict.fromkeys(grade.hallucinated_names)]
    if count_undefined_globals:
        parts += [f"{name} (undefined global)" for name in grade.undefined_globals]
    return "rejected calls " + ", ".join(parts)


def _sample_row(number: int, prompt: PromptRow, sample: Sample, count_undefined_globals: bool) -> dict[str, Any]:
    g = sample.grade
    return {
        "prompt_number": number,
        "source": prompt.source,
        "question": prompt.conversation[-1]["content"],
        "expected_apis": prompt.expected_apis,
        "answer": sample.text,
        "new_tokens": sample.new_tokens,
        "clean": sample.clean(),
        "hallucinating": sample.hallucinating(count_undefined_globals),
        "hallucinated_names": g.hallucinated_names,
        "undefined_globals": g.undefined_globals,
        "arity_error_names": g.arity_error_names,
        "has_code": g.has_code,
        "syntax_valid": g.syntax_valid,
        "expected_recall": g.expected_recall,
    }


def save_policy_pairs(
    output_dir: str | os.PathLike,
    rows: list[dict[str, Any]],
    samples: list[dict[str, Any]],
    report: PairsReport,
    about: dict[str, Any],
) -> Path:
    """train.jsonl (the pairs), samples.jsonl, summary.json and the card README.md, replacing output_dir whole."""
    output_dir = Path(output_dir)
    with atomic_outputs(output_dir.parent, [output_dir.name]) as staging:
        folder = staging / output_dir.name
        folder.mkdir()
        write_jsonl(folder / "train.jsonl", rows)
        write_jsonl(folder / "samples.jsonl", samples)
        write_json(folder / "summary.json", {**about, **report.to_dict()})
        write_text(folder / "README.md", pairs_card(report, about))
    return output_dir / "train.jsonl"


def pairs_card(report: PairsReport, about: dict[str, Any]) -> str:
    summary = report.to_dict()
    lines = [
        "# On-policy preference pairs",
        "",
        f"The answers of `{about['checkpoint']}` to training prompts, graded with luacoder.grading against"
        f" `{about['api_path']}`, built by `luacoder policy-pairs` (luacoder.rl.policy_pairs). Each pair is a clean"
        " answer (code that parses, documented calls with documented argument counts, no undefined global; the best"
        " expected-API recall) against a hallucinating one (what eval counts in its hallucination rate"
        + ("" if about["count_undefined_globals"] else ", undefined globals left out")
        + ") sampled for the same prompt, whose recall is not higher.",
        "",
        f"Sampling: {about['samples_per_prompt']} answers per prompt, temperature {about['temperature']}, top-p"
        f" {about['top_p']}, top-k {about['top_k']}, at most {about['max_new_tokens']} new tokens, seed"
        f" {about['seed']}; system prompt: {json.dumps(about['system_prompt'])}.",
        "",
        "| file | prompts | prompts with a pair |",
        "| --- | --- | --- |",
    ]
    for source, counts in summary["by_file"].items():
        lines.append(f"| {source} | {counts['prompts']} | {counts['prompts_with_a_pair']} |")
    lines.append(f"| all | {summary['prompts']} | {summary['prompts_with_a_pair']} |")
    lines += [
        "",
        f"{summary['pairs']} pairs (at most {about['pairs_per_prompt']} per prompt) in `train.jsonl`. Of"
        f" {summary['samples']} sampled answers ({summary['generated_tokens']} tokens in {summary['seconds']} s),"
        f" {summary['clean_samples']} are clean and {summary['hallucinating_samples']} hallucinate; every one is in"
        " `samples.jsonl` with its verdict.",
    ]
    if summary["unpaired"]:
        lines += ["", "| prompts without a pair | count |", "| --- | --- |"]
        lines += [f"| {reason} | {n} |" for reason, n in summary["unpaired"].items()]
    return "\n".join(lines) + "\n"
