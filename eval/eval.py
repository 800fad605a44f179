"""Score every checkpoint of a training run by how well its Lua code keeps to the documented API.

    python eval.py config.yaml [--key=value ...]
    python eval.py config_cpu.yaml --execute=true --max_new_tokens=128

For each checkpoint under `base_folder` (`checkpoint-N` by step, then the final model saved in the folder itself,
or the folder alone when it is one model), answer every prompt of `test_data_path`, grade each answer against the
API docs at `api_path` (luacoder.grading: the same grader RL uses as its reward) and write to `output_dir`:
report.md, results.csv, samples.jsonl, accuracy.png and best.json. With `multipl_e` (a MultiPL-E JSONL such as
HumanEval-Lua, or a hub id), each checkpoint also completes its problems, which run against their tests in the Lua
sandbox: pass@1 (and pass@k with `multipl_e_samples`) beside the API-match columns, per-problem outcomes in
multipl_e.jsonl. With `few_shot_path` (a JSONL of example dialogues), one model (`few_shot_base`, by default the one
model at base_folder) is scored a second time with those dialogues before each question, as its own row
"<model> + few-shot": prompting against fine-tuning on the same prompts. Answers are cached under `output_dir/cache/`
by checkpoint content, prompts and settings: a rerun generates only what is new, and a killed run resumes after its
last complete batch. A checkpoint that is incomplete or fails to load is reported with its error; the others are
still scored. Relative paths are relative to the current folder.

What is trusted: weights are loaded from safetensors files only; a checkpoint with only pickled weights
(pytorch_model.bin) is reported as an error, since unpickling runs code the file's author chose. Code shipped with
a model runs only with trust_remote_code=true.
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

from luacoder.apidocs.schema import ApiError
from luacoder.checkpoints import saved_config
from luacoder.config import ConfigError, parse_config
from luacoder.evaluation import multipl_e as benchmark
from luacoder.evaluation.backends import BackendError, Decoding, check_backend, load_backend
from luacoder.evaluation.cache import AnswerCache, answers_key
from luacoder.evaluation.checkpoints import CheckpointError, CheckpointRef, HashMemo, content_hash, find_checkpoints
from luacoder.evaluation.code_prompts import code_prompt, graded_prefix
from luacoder.evaluation.config import EvalConfig
from luacoder.evaluation.few_shot import few_shot_name, read_few_shot
from luacoder.evaluation.prompts import read_eval_prompts
from luacoder.evaluation.report import (
    CheckpointResult,
    plot_metrics,
    results_table,
    summary_text,
    write_benchmark_rows,
    write_best,
    write_report,
    write_results_csv,
    write_samples,
)
from luacoder.files import JsonlLog, RowError
from luacoder.grading.answer import grade_answer
from luacoder.grading.api_index import load_index
from luacoder.grading.execution import ExecutionCache, execute_grades
from luacoder.grading.scores import aggregate, best_index
from luacoder.locks import FolderLocked, hold_folder

logger = logging.getLogger("eval")


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
code_mode = config.report_type == "code"
decoding = Decoding(
    config.max_new_tokens,
    config.do_sample,
    config.temperature,
    config.top_p,
    config.top_k,
    tuple(config.code_stop) if code_mode else (),
)

# 2. The API docs and the prompts.
try:
    index = load_index(config.api_path, config.standard_library)
    prompts = read_eval_prompts(config.test_data_path, index)
    checkpoints = find_checkpoints(config.base_folder)
    problems = benchmark.load_problems(config.multipl_e) if config.multipl_e else []
    few_shot = read_few_shot(config.few_shot_path) if config.few_shot_path else []
except (ApiError, RowError, CheckpointError) as exc:
    fail(str(exc))
# What is scored: each checkpoint with no examples, and the prompted baseline (after its model's own row, or first).
runs: list[tuple[CheckpointRef, list[dict[str, str]]]] = [(ref, []) for ref in checkpoints]
if few_shot:
    if config.few_shot_base:
        prompted = Path(config.few_shot_base)
        if not (prompted / "config.json").is_file():
            fail(f"few_shot_base {prompted}: not a model folder (no config.json)")
    elif len(checkpoints) == 1 and checkpoints[0].path == Path(config.base_folder):
        prompted = checkpoints[0].path
    else:
        fail(
            f"few_shot_path is set but base_folder {config.base_folder} holds checkpoints, not one model: "
            "set few_shot_base to the model folder to prompt (the untrained model, usually)"
        )
    own = next((i for i, (ref, _) in enumerate(runs) if ref.path.resolve() == prompted.resolve()), None)
    name = runs[own][0].name if own is not None else prompted.name
    runs.insert(0 if own is None else own + 1, (CheckpointRef(few_shot_name(name), prompted, None), few_shot))
# Code checkpoints are asked in Lua (the question as a comment); the prompt is graded with the completion only
# where it is Lua.
requests = [code_prompt(p.prompt, config.code_template) if code_mode else p.prompt for p in prompts]
prefixes = [graded_prefix(r) if code_mode else "" for r in requests]
# MultiPL-E: each problem `multipl_e_samples` times (sampled when more than once), as a prompt to complete (code)
# or a request for the function (chat).
n_samples = config.multipl_e_samples
bench_requests = [p.prompt if code_mode else benchmark.chat_request(p) for p in problems for _ in range(n_samples)]
bench_decoding = Decoding(
    config.max_new_tokens,
    config.do_sample or n_samples > 1,
    config.temperature,
    config.top_p,
    config.top_k,
    tuple(dict.fromkeys(s for p in problems for s in p.stop_tokens)) if code_mode else (),
)
bench_limits = benchmark.Limits(config.multipl_e_timeout, config.multipl_e_memory_mb)
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
bench_runs = JsonlLog(cache_dir / "multipl_e_runs.jsonl")


def generation_settings(
    system_prompt: str | None, decoding: Decoding = decoding, examples: list | None = None
) -> dict:
    """Everything besides the checkpoint and the prompts that changes the answers: the cache key's third part.
    Not batch_size: each prompt is sampled with its own seed, so its answer does not depend on its batch."""
    device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
    stop = {"stop": list(decoding.stop)} if decoding.stop else {}
    settings = {
        "report_type": config.report_type,
        "system_prompt": system_prompt,
        "backend": config.backend,
        "decoding": {"max_new_tokens": decoding.max_new_tokens, **decoding.hf_kwargs(), **stop},
        "seed": f"{config.seed} + prompt index",
        "dtype": config.dtype,
        "device": device,
        "versions": [torch.__version__, transformers.__version__],
    }
    if examples:  # the few-shot row: its prefix is part of what it answered
        settings["few_shot"] = examples
    if config.backend == "vllm":  # split over more GPUs, the sums run in another order
        settings["tensor_parallel_size"] = config.tensor_parallel_size
        settings["versions"].append(importlib.metadata.version("vllm"))
    return settings


def generate_missing(backend, cache: AnswerCache, asked: list[str], decoding: Decoding, desc: str) -> int:
    """Generate the answers `cache` lacks; returns how many. Longest first, so batches pad little. vLLM gets every
    missing request at once; hf a batch at a time, each cached as it ends. Request i is sampled with seed + i, so a
    resumed run may batch the rest differently and still give the same answers."""
    texts = [backend.prompt_text(a) for a in asked]
    order = [i for i in sorted(range(len(asked)), key=lambda i: (-len(texts[i]), i)) if i not in cache.answers]
    chunk = max(1, len(order) if backend.all_at_once else config.batch_size)
    batches = [order[s : s + chunk] for s in range(0, len(order), chunk)]
    generated = 0
    with tqdm(total=len(asked), initial=len(cache.answers), desc=desc, unit="prompt") as bar:
        for batch in batches:
            set_seed(config.seed)  # whatever else draws random numbers (the requests' samplers are seeded)
            started = time.perf_counter()
            completions = backend.complete([texts[i] for i in batch], decoding, [config.seed + i for i in batch])
            seconds = time.perf_counter() - started
            cache.add_batch(batch, [c.text for c in completions], [c.new_tokens for c in completions], seconds)
            generated += len(batch)
            bar.update(len(batch))
    return generated


# 3. Every checkpoint: answers (from the cache, or generated and cached batch by batch), then grades.
results: list[CheckpointResult] = []
for ref, examples in runs:
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
        checkpoint_hash = content_hash(ref.path, memo)
    except (CheckpointError, OSError) as exc:
        result.error = str(exc)
        logger.warning("%s: %s", ref.name, exc)
        continue
    memo.save()
    answer_settings = generation_settings(system_prompt, examples=examples)
    cache = AnswerCache(cache_dir, answers_key(checkpoint_hash, requests, answer_settings))
    bench_settings = {**generation_settings(system_prompt, bench_decoding, examples), "benchmark": "multipl-e"}
    bench_cache = AnswerCache(cache_dir, answers_key(checkpoint_hash, bench_requests, bench_settings))
    result.cached = len(cache.answers) + len(bench_cache.answers)
    if len(cache.answers) < len(prompts) or len(bench_cache.answers) < len(bench_requests):
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
                few_shot=examples,
            )
        except Exception as exc:  # a corrupt checkpoint is reported; the run goes on with the others
            result.error = f"cannot load: {type(exc).__name__}: {exc}"
            logger.warning("%s: %s", ref.name, result.error)
            continue
        cache.start({"checkpoint": str(ref.path), "settings": answer_settings})
        backend.complete(
            [backend.prompt_text(requests[0])], Decoding(max_new_tokens=1), [0]
        )  # warm-up: time the model
        result.generated = generate_missing(backend, cache, requests, decoding, ref.name)
        if problems:
            bench_cache.start({"checkpoint": str(ref.path), "settings": bench_settings})
            result.generated += generate_missing(backend, bench_cache, bench_requests, bench_decoding, "MultiPL-E")
        backend.close()

    answers = [cache.answers[i].answer for i in range(len(prompts))]
    if code_mode:
        answers = [benchmark.cut_at_stop(a, config.code_stop) for a in answers]
    grades = [
        grade_answer(answers[i], index, p.expected_apis, config.report_type, prompt=prefixes[i])
        for i, p in enumerate(prompts)
    ]
    if problems:
        outcomes = benchmark.run_completions(
            problems,
            {
                p.name: [bench_cache.answers[i * n_samples + j].answer for j in range(n_samples)]
                for i, p in enumerate(problems)
            },
            bench_limits,
            report_type=config.report_type,
            cache=bench_runs,
        )
        result.benchmark, rows = benchmark.summarize(outcomes, config.multipl_e_k)
        result.benchmark_rows = [{"checkpoint": ref.name, "step": ref.step, **row} for row in rows]
        logger.info("%s: MultiPL-E %s", ref.name, benchmark.summary_line(result.benchmark))
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
            "answer": answers[i],
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
if few_shot:
    settings["few_shot_path"] = f"{config.few_shot_path} ({len(few_shot)} example turns before each question)"
if problems:
    settings["multipl_e"] = (
        f"{config.multipl_e} ({len(problems)} problems, {n_samples} sample(s) each, "
        f"{'sampled' if bench_decoding.do_sample else 'greedy'})"
    )
    write_benchmark_rows(output_dir / "multipl_e.jsonl", results)
write_results_csv(output_dir / "results.csv", results_table(results, best))
write_samples(output_dir / "samples.jsonl", results)
write_best(output_dir / "best.json", results, best)
plot_metrics(output_dir / "accuracy.png", results, best)
write_report(output_dir / "report.md", results, best, index, settings, config.samples_in_report)
print()
print(summary_text(results, best, output_dir))
sys.exit(0 if best is not None else 1)
