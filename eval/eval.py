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
"""

from __future__ import annotations

import importlib.metadata
import logging
import sys
import time
from pathlib import Path

import torch
import transformers
from tqdm import tqdm
from transformers import set_seed

from luacoder.apidocs.json_docs import read_json_docs
from luacoder.apidocs.schema import ApiError
from luacoder.checkpoints import saved_config
from luacoder.config import ConfigError, parse_config
from luacoder.evaluation.backends import BackendError, Decoding, check_backend, load_backend
from luacoder.evaluation.cache import AnswerCache, answers_key
from luacoder.evaluation.checkpoints import CheckpointError, HashMemo, content_hash, find_checkpoints
from luacoder.evaluation.config import EvalConfig
from luacoder.evaluation.prompts import read_eval_prompts
from luacoder.evaluation.report import (
    CheckpointResult,
    plot_metrics,
    results_table,
    summary_text,
    write_best,
    write_report,
    write_results_csv,
    write_samples,
)
from luacoder.files import RowError
from luacoder.grading.answer import grade_answer
from luacoder.grading.api_index import ApiIndex
from luacoder.grading.execution import ExecutionCache, execute_grades
from luacoder.grading.scores import aggregate, best_index

logger = logging.getLogger("eval")


def fail(message: str) -> None:
    logger.error(message)
    sys.exit(2)


# 1. Config. Bad input fails here, in a second, before any model is loaded.
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
    index = ApiIndex(read_json_docs(config.api_path), base=config.standard_library)
    prompts = read_eval_prompts(config.test_data_path, index)
    checkpoints = find_checkpoints(config.base_folder)
except (ApiError, RowError, CheckpointError) as exc:
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
    """Everything besides the checkpoint and the prompts that changes the answers: the cache key's third part.
    Not batch_size: each prompt is sampled with its own seed, so its answer does not depend on its batch."""
    device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
    settings = {
        "report_type": config.report_type,
        "system_prompt": system_prompt,
        "backend": config.backend,
        "decoding": {"max_new_tokens": decoding.max_new_tokens, **decoding.hf_kwargs()},
        "seed": f"{config.seed} + prompt index",
        "dtype": config.dtype,
        "device": device,
        "versions": [torch.__version__, transformers.__version__],
    }
    if config.backend == "vllm":  # split over more GPUs, the sums run in another order
        settings["tensor_parallel_size"] = config.tensor_parallel_size
        settings["versions"].append(importlib.metadata.version("vllm"))
    return settings


# 3. Every checkpoint: answers (from the cache, or generated and cached batch by batch), then grades.
results: list[CheckpointResult] = []
for ref in checkpoints:
    result = CheckpointResult(ref)
    results.append(result)
    if ref.error:
        result.error = ref.error
        logger.warning("%s: %s", ref.name, ref.error)
        continue
    if config.system_prompt is not None:
        system_prompt = config.system_prompt or None  # "" asks for none
    else:
        system_prompt = saved_config(ref.path).get("system_prompt") or None
    try:
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
                batch_size=config.batch_size,
                seed=config.seed,
                tensor_parallel_size=config.tensor_parallel_size,
                gpu_memory_utilization=config.gpu_memory_utilization,
            )
        except Exception as exc:  # a corrupt checkpoint is reported; the run goes on with the others
            result.error = f"cannot load: {type(exc).__name__}: {exc}"
            logger.warning("%s: %s", ref.name, result.error)
            continue
        cache.start({"checkpoint": str(ref.path), "settings": generation_settings(system_prompt)})
        texts = [backend.prompt_text(p.prompt) for p in prompts]
        # Longest first, so batches pad little. vLLM gets every missing prompt at once; hf a batch at a time, each
        # cached as it ends. Answers are seeded per prompt, so a resumed run may batch the rest differently.
        order = [i for i in sorted(range(len(prompts)), key=lambda i: (-len(texts[i]), i)) if i not in cache.answers]
        chunk = len(order) if backend.all_at_once else config.batch_size
        batches = [order[s : s + chunk] for s in range(0, len(order), chunk)]
        backend.complete(texts[:1], Decoding(max_new_tokens=1), [0])  # warm-up: time the model, not its start-up
        with tqdm(total=len(prompts), initial=len(cache.answers), desc=ref.name, unit="prompt") as bar:
            for batch in batches:
                set_seed(config.seed)  # whatever else draws random numbers (the prompts' samplers are seeded)
                started = time.perf_counter()
                completions = backend.complete([texts[i] for i in batch], decoding, [config.seed + i for i in batch])
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
    result.scores = aggregate(grades, cache.generated_tokens, cache.generation_seconds, config.count_undefined_globals)
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
    "undefined globals count as hallucinations": config.count_undefined_globals,
}
write_results_csv(output_dir / "results.csv", results_table(results, best))
write_samples(output_dir / "samples.jsonl", results)
write_best(output_dir / "best.json", results, best)
plot_metrics(output_dir / "accuracy.png", results, best)
write_report(output_dir / "report.md", results, best, index, settings, config.samples_in_report)
print()
print(summary_text(results, best, output_dir))
sys.exit(0 if best is not None else 1)
