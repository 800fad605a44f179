"""Score every checkpoint of a training run by how well its Lua code keeps to the documented API.

    python eval.py config.yaml [--key=value ...]
    python eval.py config_cpu.yaml --execute=true --max_new_tokens=128

For each checkpoint under `base_folder` (`checkpoint-N` by step, then the final model saved in the folder itself,
or the folder alone when it is one model), answer every prompt of `test_data_path`, grade each answer against the
API docs at `api_path` (luacoder.grading: the same grader RL uses as its reward) and write to `output_dir`:
report.md, results.csv, samples.jsonl, accuracy.png and best.json. Answers are cached under `output_dir/cache/`
by checkpoint content, prompts and settings: a rerun generates only what is new, and a killed run resumes after its
last complete batch. A checkpoint that is incomplete or fails to load is reported with its error; the others are
still scored. Relative paths are relative to the current folder.

What is trusted: weights are loaded from safetensors files only; a checkpoint with only pickled weights
(pytorch_model.bin) is reported as an error, since unpickling runs code the file's author chose. Code shipped with
a model runs only with trust_remote_code=true.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import transformers
from tqdm import tqdm
from transformers import set_seed

from luacoder.apidocs.json_docs import read_json_docs
from luacoder.apidocs.schema import ApiError
from luacoder.files import RowError
from luacoder.grading.answer import REPORT_TYPES, grade_answer
from luacoder.grading.api_index import ApiIndex
from luacoder.grading.backends import BACKENDS, BackendError, Decoding, check_backend, load_backend
from luacoder.grading.checkpoints import CheckpointError, HashMemo, content_hash, find_checkpoints, saved_config
from luacoder.grading.eval_cache import AnswerCache, ExecutionCache, answers_key
from luacoder.grading.execution import execute_grades
from luacoder.grading.prompts import read_eval_prompts
from luacoder.grading.report import (
    CheckpointResult,
    plot_metrics,
    results_table,
    summary_text,
    write_best,
    write_report,
    write_results_csv,
    write_samples,
)
from luacoder.grading.scores import aggregate, best_index
from luacoder.locks import FolderLocked, hold_folder
from luacoder.train.config import ConfigError, parse_config
from luacoder.train.generation import DTYPES

logger = logging.getLogger("eval")


@dataclass
class EvalConfig:
    base_folder: str | None = field(default=None, metadata={"help": "a training output_dir, or one model folder"})
    api_path: str | None = field(default=None, metadata={"help": "api.json, a folder of JSON docs, or the old layout"})
    test_data_path: str | None = field(default=None, metadata={"help": "CSV: prompt, optional expected_apis"})
    output_dir: str | None = field(default=None, metadata={"help": "where the reports and the cache go"})
    report_type: str = field(default="markdown", metadata={"help": "markdown (chat answers) or code (completion)"})
    system_prompt: str | None = field(
        default=None, metadata={"help": "default: the one the checkpoint was trained with (luacoder_meta.json)"}
    )
    backend: str = field(default="hf", metadata={"help": "hf, or vllm where it is installed (GPU)"})
    batch_size: int = 8
    max_new_tokens: int = 512
    do_sample: bool = field(default=False, metadata={"help": "sample instead of greedy decoding"})
    temperature: float = 0.2
    top_p: float = 0.95
    top_k: int = 50
    seed: int = 42
    dtype: str = "auto"
    device: str | None = field(default=None, metadata={"help": "default: cuda when there is a GPU, else cpu"})
    trust_remote_code: bool = False
    execute: bool = field(default=False, metadata={"help": "also run each answer's code in the Lua sandbox"})
    execute_timeout: float = 5.0
    execute_memory_mb: float = 64.0
    samples_in_report: int = 3

    def __post_init__(self) -> None:
        for key in ("base_folder", "api_path", "test_data_path", "output_dir"):
            if not getattr(self, key):
                raise ConfigError(f"set {key} (in the YAML file or as --{key}=...)")
        if self.report_type not in REPORT_TYPES:
            raise ConfigError(f"report_type is {self.report_type!r}: choose one of {', '.join(REPORT_TYPES)}")
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend is {self.backend!r}: choose one of {', '.join(BACKENDS)}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype is {self.dtype!r}: choose one of {', '.join(DTYPES)}")
        if self.batch_size < 1 or self.max_new_tokens < 1:
            raise ConfigError("batch_size and max_new_tokens must be at least 1")
        if self.execute_timeout <= 0 or self.execute_memory_mb <= 0:
            raise ConfigError("execute_timeout and execute_memory_mb must be positive")


def fail(message: str) -> None:
    logger.error(message)
    sys.exit(2)


# 1. Config. Bad input fails here, in a second, before any model is loaded.
if {"-h", "--help"} & set(sys.argv[1:]):
    print(__doc__)
    sys.exit(0)
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
try:
    (config,) = parse_config([EvalConfig])
    check_backend(config.backend)
except (ConfigError, BackendError) as exc:
    fail(str(exc))
output_dir = Path(config.output_dir)
cache_dir = output_dir / "cache"
decoding = Decoding(config.max_new_tokens, config.do_sample, config.temperature, config.top_p, config.top_k)

# 2. The API docs and the prompts.
try:
    index = ApiIndex(read_json_docs(config.api_path))
    prompts = read_eval_prompts(config.test_data_path, index)
    checkpoints = find_checkpoints(config.base_folder)
except (ApiError, RowError, CheckpointError) as exc:
    fail(str(exc))
try:  # two evals on one output_dir would both generate everything and overwrite each other's reports
    output_lock = hold_folder(output_dir, "eval")
except (FolderLocked, OSError) as exc:
    fail(str(exc))
logger.info(
    "%d prompts, %d documented entries, %d checkpoint(s) in %s",
    len(prompts),
    len(index),
    len(checkpoints),
    config.base_folder,
)
memo = HashMemo(cache_dir / "file_hashes.json")
executions = ExecutionCache(cache_dir / "executions.jsonl") if config.execute else None


def generation_settings(system_prompt: str | None) -> dict:
    """Everything besides the checkpoint and the prompts that changes the answers: the cache key's third part."""
    device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
    return {
        "report_type": config.report_type,
        "system_prompt": system_prompt,
        "backend": config.backend,
        "decoding": {"max_new_tokens": decoding.max_new_tokens, **decoding.hf_kwargs()},
        "batch_size": config.batch_size,
        "seed": config.seed,
        "dtype": config.dtype,
        "device": device,
        "versions": [torch.__version__, transformers.__version__],
    }


# 3. Every checkpoint: answers (from the cache, or generated and cached batch by batch), then grades.
results: list[CheckpointResult] = []
for ref in checkpoints:
    result = CheckpointResult(ref)
    results.append(result)
    if ref.error:
        result.error = ref.error
        logger.warning("%s: %s", ref.name, ref.error)
        continue
    try:
        if config.system_prompt is not None:
            system_prompt = config.system_prompt or None  # "" asks for none
        else:
            system_prompt = saved_config(ref.path).get("system_prompt") or None
        key = answers_key(
            content_hash(ref.path, memo), [p.prompt for p in prompts], generation_settings(system_prompt)
        )
    except (CheckpointError, OSError) as exc:
        result.error = str(exc)
        logger.warning("%s: %s", ref.name, exc)
        continue
    memo.save()
    cache = AnswerCache(cache_dir, key)
    result.cached = len(cache.answers)
    if len(cache.answers) < len(prompts):
        try:
            backend = load_backend(
                config.backend,
                ref.path,
                config.report_type,
                system_prompt=system_prompt,
                dtype=config.dtype,
                trust_remote_code=config.trust_remote_code,
                device=config.device,
                seed=config.seed,
            )
        except Exception as exc:  # a corrupt checkpoint is reported; the run goes on with the others
            result.error = f"cannot load: {type(exc).__name__}: {exc}"
            logger.warning("%s: %s", ref.name, result.error)
            continue
        cache.start({"checkpoint": str(ref.path), "settings": generation_settings(system_prompt)})
        texts = [backend.prompt_text(p.prompt) for p in prompts]
        # Longest first, so batches pad little; fixed batches, so a resumed run generates exactly what was missing.
        order = sorted(range(len(prompts)), key=lambda i: (-len(texts[i]), i))
        batches = [order[s : s + config.batch_size] for s in range(0, len(order), config.batch_size)]
        backend.complete(texts[:1], Decoding(max_new_tokens=1), 1)  # warm-up: time the model, not its start-up
        with tqdm(total=len(prompts), initial=len(cache.answers), desc=ref.name, unit="prompt") as bar:
            for number, batch in enumerate(batches):
                if all(i in cache.answers for i in batch):
                    continue
                set_seed(config.seed + number)
                started = time.perf_counter()
                completions = backend.complete([texts[i] for i in batch], decoding, config.batch_size)
                seconds = time.perf_counter() - started
                cache.add_batch(batch, [c.text for c in completions], [c.new_tokens for c in completions], seconds)
                result.generated += len(batch)
                bar.update(len(batch))
        backend.close()

    grades = [
        grade_answer(cache.answers[i].answer, index, p.expected_apis, config.report_type, prompt=p.prompt)
        for i, p in enumerate(prompts)
    ]
    if config.execute:
        execute_grades(grades, executions, config.execute_timeout, config.execute_memory_mb, f"{ref.name} sandbox")
    result.grades = grades
    result.samples = [
        {
            "checkpoint": ref.name,
            "step": ref.step,
            "index": i,
            "prompt": p.prompt,
            "expected_apis": p.expected_apis,
            "answer": cache.answers[i].answer,
            "new_tokens": cache.answers[i].new_tokens,
            "grade": grades[i].to_dict(),
        }
        for i, p in enumerate(prompts)
    ]
    result.scores = aggregate(grades, cache.generated_tokens, cache.generation_seconds)
    logger.info("%s: %d answers generated, %d from the cache", ref.name, result.generated, result.cached)

# 4. Reports.
best = best_index([r.scores for r in results])
settings = {
    "base_folder": config.base_folder,
    "api_path": f"{config.api_path} ({len(index)} entries)",
    "test_data_path": f"{config.test_data_path} ({len(prompts)} prompts)",
    "report_type": config.report_type,
    "backend": config.backend,
    "decoding": "sampling" if config.do_sample else "greedy",
    "max_new_tokens": config.max_new_tokens,
    "execute": config.execute,
}
write_results_csv(output_dir / "results.csv", results_table(results, best))
write_samples(output_dir / "samples.jsonl", results)
write_best(output_dir / "best.json", results, best)
plot_metrics(output_dir / "accuracy.png", results, best)
write_report(output_dir / "report.md", results, best, index, settings, config.samples_in_report)
print()
print(summary_text(results, best, output_dir))
sys.exit(0 if best is not None else 1)
