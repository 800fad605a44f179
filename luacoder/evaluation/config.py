"""The keys of eval/eval.py (eval/config.yaml, then --key=value overrides), checked before any model loads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from luacoder.config import DEFAULT_SEED, ConfigError
from luacoder.evaluation import multipl_e as benchmark
from luacoder.evaluation.backends import BACKENDS
from luacoder.evaluation.code_prompts import DEFAULT_STOP, DEFAULT_TEMPLATE, check_template
from luacoder.evaluation.engine import BATCH_SIZE, DEFAULT_DECODING
from luacoder.grading.answer import REPORT_TYPES
from luacoder.lua.sandbox import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT
from luacoder.train.model_setup import DTYPES

MULTIPL_E_SET = "multipl_e"  # the name of the MultiPL-E prompt set in the report
# Extra rows per chosen checkpoint, beside its closed-book row: (retrieval on, constrained decoding on).
VARIANTS = {"open_book": (True, False), "constrained": (False, True), "open_book+constrained": (True, True)}
VARIANTS_FOR = ("best", "last", "all")


@dataclass
class EvalConfig:
    base_folder: str | None = field(default=None, metadata={"help": "a training output_dir, or one model folder"})
    api_path: str | None = field(default=None, metadata={"help": "api.json, a folder of JSON docs, or the old layout"})
    test_data_path: list[str] = field(
        default_factory=list,
        metadata={"help": "prompt sets: one or more CSVs (prompt, optional expected_apis), each its own block"},
    )
    output_dir: str | None = field(default=None, metadata={"help": "where the reports and the cache go"})
    report_type: str = field(default="markdown", metadata={"help": "markdown (chat answers) or code (completion)"})
    system_prompt: str | None = field(
        default=None, metadata={"help": "default: the one the checkpoint was trained with (luacoder_meta.json)"}
    )
    backend: str = field(default="hf", metadata={"help": "hf, or vllm where it is installed (GPU)"})
    batch_size: int = field(default=BATCH_SIZE, metadata={"range": "[1, inf)"})
    max_new_tokens: int = field(default=DEFAULT_DECODING.max_new_tokens, metadata={"range": "[1, inf)"})
    do_sample: bool = field(default=DEFAULT_DECODING.do_sample, metadata={"help": "sample instead of greedy decoding"})
    temperature: float = field(default=DEFAULT_DECODING.temperature, metadata={"range": "(0, inf)"})
    top_p: float = field(default=DEFAULT_DECODING.top_p, metadata={"range": "(0, 1]"})
    top_k: int = field(default=DEFAULT_DECODING.top_k, metadata={"range": "[0, inf)"})
    seed: int = field(
        default=DEFAULT_SEED, metadata={"help": "prompt i is sampled with seed + i", "range": "[0, 4294967295]"}
    )
    tensor_parallel_size: int = field(
        default=1, metadata={"help": "vllm: GPUs one model is split over", "range": "[1, inf)"}
    )
    gpu_memory_utilization: float = field(
        default=0.9, metadata={"help": "vllm: share of GPU memory it may take", "range": "(0, 1]"}
    )
    dtype: str = "auto"
    device: str | None = field(default=None, metadata={"help": "default: cuda when there is a GPU, else cpu"})
    trust_remote_code: bool = False
    execute: bool = field(default=False, metadata={"help": "also run each answer's code in the Lua sandbox"})
    execute_timeout: float = field(default=DEFAULT_TIMEOUT, metadata={"range": "(0, inf)"})
    execute_memory_mb: float = field(default=DEFAULT_MEMORY_MB, metadata={"range": "(0, inf)"})
    samples_in_report: int = field(default=3, metadata={"range": "[0, inf)"})
    count_undefined_globals: bool = field(
        default=True,
        metadata={
            "help": "count answers calling undefined globals as hallucinating (false: APIs that inject globals)"
        },
    )
    standard_library: str | None = field(
        default=None,
        metadata={"help": "Lua standard library under the API: lua54, docs path, none (default: api.json's)"},
    )
    code_template: str = field(
        default=DEFAULT_TEMPLATE,
        metadata={"help": "report_type code: the prompt; {comment} is the question as -- lines, {question} its text"},
    )
    code_stop: list[str] = field(
        default_factory=lambda: list(DEFAULT_STOP),
        metadata={"help": "report_type code: a completion ends at the first of these (MultiPL-E's; [] for none)"},
    )
    multipl_e: str | None = field(
        default=None, metadata={"help": "also score pass@k on a MultiPL-E JSONL, or a hub id (nuprl/MultiPL-E:...)"}
    )
    multipl_e_samples: int = field(
        default=1,
        metadata={
            "help": "completions per problem: 1 is greedy pass@1; more are sampled, for pass@k",
            "range": "[1, inf)",
        },
    )
    multipl_e_k: list[int] = field(
        default_factory=lambda: list(benchmark.KS),
        metadata={"help": "the k of pass@k (those up to the samples)", "range": "[1, inf)"},
    )
    few_shot_path: str | None = field(
        default=None,
        metadata={"help": "JSONL of example dialogues put before each question: an extra '<model> + few-shot' row"},
    )
    few_shot_base: str | None = field(
        default=None, metadata={"help": "the model folder the few-shot row prompts (default: base_folder's model)"}
    )
    multipl_e_timeout: float = field(default=benchmark.DEFAULT_TIMEOUT, metadata={"range": "(0, inf)"})
    multipl_e_memory_mb: float = field(default=benchmark.DEFAULT_MEMORY_MB, metadata={"range": "(0, inf)"})
    multipl_e_limit: int | None = field(
        default=None,
        metadata={"help": "only the first N MultiPL-E problems (file order): a CPU-sized slice", "range": "[1, inf)"},
    )
    best_prompt_set: str | None = field(
        default=None, metadata={"help": "the prompt set the best-checkpoint rule ranks by (default: the first)"}
    )
    retrieval: dict[str, Any] | None = field(
        default=None, metadata={"help": "open book: {k: N}, the N documented entries put before each question"}
    )
    variants: list[str] = field(
        default_factory=list,
        metadata={"help": f"extra rows beside closed-book: {', '.join(VARIANTS)}"},
    )
    variants_for: str = field(
        default="best", metadata={"help": "which checkpoints get the variant rows: best, last or all"}
    )

    def __post_init__(self) -> None:
        for key in ("base_folder", "api_path", "test_data_path", "output_dir"):
            if not getattr(self, key):
                raise ConfigError(f"set {key} (in the YAML file or as --{key}=...)")
        names = self.prompt_set_names()
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ConfigError(f"test_data_path: two prompt sets named {repeated[0]!r}: rename one file")
        if self.best_prompt_set is not None and self.best_prompt_set not in self.all_set_names():
            raise ConfigError(
                f"best_prompt_set is {self.best_prompt_set!r}: choose one of {', '.join(self.all_set_names())}"
            )
        if self.retrieval is not None:
            k = self.retrieval.get("k")
            if set(self.retrieval) != {"k"} or not isinstance(k, int) or isinstance(k, bool) or k < 1:
                raise ConfigError(f"retrieval is {self.retrieval!r}: write {{k: N}} with N at least 1")
        unknown = [v for v in self.variants if v not in VARIANTS]
        if unknown:
            raise ConfigError(f"variants: unknown {unknown[0]!r}: choose from {', '.join(VARIANTS)}")
        if any(VARIANTS[v][0] for v in self.variants) and self.retrieval is None:
            raise ConfigError("the open_book variants need retrieval: {k: N} (how many documented entries)")
        if self.variants and self.report_type != "markdown":
            raise ConfigError("variants ask chat questions: report_type markdown")
        if self.variants_for not in VARIANTS_FOR:
            raise ConfigError(f"variants_for is {self.variants_for!r}: choose one of {', '.join(VARIANTS_FOR)}")
        if self.report_type not in REPORT_TYPES:
            raise ConfigError(f"report_type is {self.report_type!r}: choose one of {', '.join(REPORT_TYPES)}")
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend is {self.backend!r}: choose one of {', '.join(BACKENDS)}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype is {self.dtype!r}: choose one of {', '.join(DTYPES)}")
        if not self.multipl_e_k:
            raise ConfigError("multipl_e_k: give at least one k")
        try:
            check_template(self.code_template)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    def prompt_set_names(self) -> list[str]:
        """Each CSV prompt set's name in the report: its file name without the suffix."""
        names = [Path(p).stem for p in self.test_data_path]
        if self.multipl_e and MULTIPL_E_SET in names:
            raise ConfigError(f"test_data_path: a prompt set may not be named {MULTIPL_E_SET!r} (MultiPL-E's name)")
        return names

    def all_set_names(self) -> list[str]:
        return self.prompt_set_names() + ([MULTIPL_E_SET] if self.multipl_e else [])
