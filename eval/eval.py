"""Score every checkpoint of a training run by how well its Lua code keeps to the documented API.

    python eval.py config.yaml [--key=value ...]
    python eval.py config_cpu.yaml --execute=true --max_new_tokens=128
    python eval.py config.yaml --test_data_path=../outputs/data/eval/prompts.csv,../data/prompts/natural_lua54.csv

For each checkpoint under `base_folder` (`checkpoint-N` by step, then the final model saved in the folder itself,
or the folder alone when it is one model), answer every prompt of every prompt set in `test_data_path` (one CSV or
several: each is reported as its own block), grade each answer against the API docs at `api_path`
(luacoder.grading: the same grader RL uses as its reward) and write to `output_dir`: report.md, results.csv (one
row per checkpoint and prompt set), samples.jsonl, entries.csv (per documented entry, what the best checkpoint did
where it was expected), accuracy.png and best.json (the checkpoint to ship, ranked on `best_prompt_set`). Every
question goes through the one inference engine (luacoder.evaluation.engine) that generate.py and the playground use.

Rows besides each checkpoint's closed-book row: with `few_shot_path` (a JSONL of example dialogues), one model
(`few_shot_base`, by default the one model at base_folder) asked with those dialogues before each question,
"<model> + few-shot"; with `variants` (open_book, constrained, open_book+constrained), the `variants_for`
checkpoints (the best, the last, or all) asked open book (`retrieval: {k: N}`: the N documented entries that fit the
question before it), with decoding constrained to documented member names, or both. With `multipl_e` (a MultiPL-E
JSONL such as HumanEval-Lua, or a hub id), the closed-book rows also answer its problems as a prompt set of its own:
the answers are graded like any others and run against the problems' tests in the Lua sandbox (pass@1, pass@k with
`multipl_e_samples`; per-problem outcomes in multipl_e.jsonl).

Answers are cached under `output_dir/cache/` by checkpoint content, prompt set and settings: a rerun generates only
what is new, and a killed run resumes after its last complete batch. A checkpoint that is incomplete or fails to
load is reported with its error; the others are still scored. Relative paths are relative to the current folder.

What is trusted: weights are loaded from safetensors files only; a checkpoint with only pickled weights
(pytorch_model.bin) is reported as an error, since unpickling runs code the file's author chose. Code shipped with
a model runs only with trust_remote_code=true.
"""

from __future__ import annotations

import importlib.metadata
import logging
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import transformers
from tqdm import tqdm
from transformers import set_seed

from luacoder.apidocs.json_docs import read_json_docs
from luacoder.apidocs.schema import ApiError
from luacoder.config import ConfigError, parse_config
from luacoder.errors import report
from luacoder.evaluation import multipl_e as benchmark
from luacoder.evaluation.backends import BackendError, check_backend
from luacoder.evaluation.cache import AnswerCache, answers_key
from luacoder.evaluation.checkpoints import CheckpointError, CheckpointRef, HashMemo, content_hash, find_checkpoints
from luacoder.evaluation.code_prompts import code_prompt, graded_prefix
from luacoder.evaluation.config import MULTIPL_E_SET, VARIANTS, EvalConfig
from luacoder.evaluation.engine import AskOptions, Decoding, Engine, PromptBuilder, system_prompt_for
from luacoder.evaluation.entries import entry_table, write_entry_table
from luacoder.evaluation.few_shot import few_shot_name, read_few_shot
from luacoder.evaluation.prompts import EvalPrompt, read_eval_prompts
from luacoder.evaluation.report import (
    CheckpointResult,
    RetrievalRecall,
    SetResult,
    pick_best,
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
from luacoder.grading.api_index import ApiIndex
from luacoder.grading.execution import ExecutionCache, execute_grades
from luacoder.grading.scores import aggregate
from luacoder.locks import FolderLocked, hold_folder
from luacoder.lua.stubs import stub_prelude

logger = logging.getLogger("eval")


def fail(message: str) -> None:
    sys.exit(report("eval.py", message))


# 1. Config. Bad input fails here, in a second, before any model is loaded (--help lists the keys).
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
set_names = config.prompt_set_names()
best_set = config.best_prompt_set or set_names[0]

# 2. The API docs, the prompt sets and the checkpoints.
try:
    api = read_json_docs(config.api_path)
    index = ApiIndex(api, base=config.standard_library)
    prompt_sets = {
        name: read_eval_prompts(path, index) for name, path in zip(set_names, config.test_data_path, strict=True)
    }
    checkpoints = find_checkpoints(config.base_folder)
    problems = benchmark.load_problems(config.multipl_e) if config.multipl_e else []
    few_shot = read_few_shot(config.few_shot_path) if config.few_shot_path else []
except (ApiError, RowError, CheckpointError) as exc:
    fail(str(exc))
problems = problems[: config.multipl_e_limit]
retriever = None
if config.retrieval is not None:  # one index for every open-book row and the recall below
    from luacoder.evaluation.retrieval import ApiRetriever, retrieval_recall

    retriever = ApiRetriever(api)


@dataclass
class Row:
    """A report row to score: a checkpoint and how it is asked."""

    ref: CheckpointRef
    few_shot: list[dict[str, str]] = field(default_factory=list)
    variant: str = ""  # a key of VARIANTS, or "" for closed book


# What is scored first: each checkpoint closed-book, and the prompted baseline (after its model's own row, or first).
plan = [Row(ref) for ref in checkpoints]
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
    own = next((i for i, row in enumerate(plan) if row.ref.path.resolve() == prompted.resolve()), None)
    name = plan[own].ref.name if own is not None else prompted.name
    plan.insert(0 if own is None else own + 1, Row(CheckpointRef(few_shot_name(name), prompted, None), few_shot))
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
    "prompt sets %s, %d documented entries, %d checkpoint(s) in %s",
    ", ".join(f"{name} ({len(prompts)})" for name, prompts in prompt_sets.items()),
    len(index),
    len(checkpoints),
    config.base_folder,
)
memo = HashMemo(cache_dir / "file_hashes.json")
executions = ExecutionCache(cache_dir / "executions.jsonl") if config.execute else None
# Answers run with the API's stubs: code that calls the documented API runs, an undocumented call stops it.
stubs = stub_prelude(index) if config.execute else ""
bench_runs = JsonlLog(cache_dir / "multipl_e_runs.jsonl")


def answer_settings(options: AskOptions, decoding: Decoding) -> dict[str, Any]:
    """Everything besides the checkpoint and the requests that changes the answers: the cache key's third part.
    Not batch_size: each prompt is sampled with its own seed, so its answer does not depend on its batch. The
    retrieved entries are in the requests themselves; the constraint depends on the documented names."""
    device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
    stop = {"stop": list(decoding.stop)} if decoding.stop else {}
    settings = {
        **options.key(),
        "backend": config.backend,
        "decoding": {"max_new_tokens": decoding.max_new_tokens, **decoding.hf_kwargs(), **stop},
        "seed": f"{config.seed} + prompt index",
        "dtype": config.dtype,
        "device": device,
        "versions": [torch.__version__, transformers.__version__],
    }
    if options.constrained:  # what the constraint lets through: the API's names and the standard library under it
        settings["documented_names"] = sorted(index.entries)
        settings["standard_library"] = config.standard_library
    if config.backend == "vllm":  # split over more GPUs, the sums run in another order
        settings["tensor_parallel_size"] = config.tensor_parallel_size
        settings["versions"].append(importlib.metadata.version("vllm"))
    return settings


class Engines:
    """One loaded model at a time: rows of the same checkpoint (its few-shot and variant rows) share it."""

    def __init__(self):
        self.path: Path | None = None
        self.engine: Engine | None = None

    def get(self, path: Path, options: AskOptions) -> Engine:
        if self.engine is not None and self.path == path:
            self.engine = self.engine.with_options(options)
            return self.engine
        self.close()
        self.engine = Engine.load(
            path,
            options,
            api=api,
            api_path=config.api_path,
            base=config.standard_library,
            retriever=retriever,
            backend=config.backend,
            dtype=config.dtype,
            trust_remote_code=config.trust_remote_code,
            device=config.device,
            batch_size=config.batch_size,
            seed=config.seed,
            tensor_parallel_size=config.tensor_parallel_size,
            gpu_memory_utilization=config.gpu_memory_utilization,
        )
        self.path = path
        self.engine.complete([self.engine.message_text("Hello")], Decoding(max_new_tokens=1), [0])  # warm-up
        return self.engine

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
        self.engine, self.path = None, None


engines = Engines()


def generate_missing(engine: Engine, cache: AnswerCache, asked: list[str], decoding: Decoding, desc: str) -> int:
    """Generate the answers `cache` lacks; returns how many. Longest first, so batches pad little. vLLM gets every
    missing request at once; hf a batch at a time, each cached as it ends. Request i is sampled with seed + i, so a
    resumed run may batch the rest differently and still give the same answers."""
    texts = [engine.message_text(a) for a in asked]
    order = [i for i in sorted(range(len(asked)), key=lambda i: (-len(texts[i]), i)) if i not in cache.answers]
    chunk = max(1, len(order) if engine.all_at_once else config.batch_size)
    batches = [order[s : s + chunk] for s in range(0, len(order), chunk)]
    generated = 0
    with tqdm(total=len(asked), initial=len(cache.answers), desc=desc, unit="prompt") as bar:
        for batch in batches:
            set_seed(config.seed)  # whatever else draws random numbers (the requests' samplers are seeded)
            started = time.perf_counter()
            completions = engine.complete([texts[i] for i in batch], decoding, [config.seed + i for i in batch])
            seconds = time.perf_counter() - started
            cache.add_batch(batch, [c.text for c in completions], [c.new_tokens for c in completions], seconds)
            generated += len(batch)
            bar.update(len(batch))
    return generated


@dataclass
class SetJob:
    """One prompt set as a row asks it: the requests (user messages, retrieved entries included), their cache."""

    name: str
    requests: list[str]
    decoding: Decoding
    cache: AnswerCache
    settings: dict[str, Any]


def score_row(row: Row) -> CheckpointResult:
    """A row's answers to every prompt set (from the cache, or generated and cached batch by batch), graded."""
    ref = row.ref
    retrieval, constrained = VARIANTS[row.variant] if row.variant else (False, False)
    result = CheckpointResult(ref)
    if ref.error:
        result.error = ref.error
        logger.warning("%s: %s", ref.name, ref.error)
        return result
    try:
        options = AskOptions(
            config.report_type,
            system_prompt_for(ref.path, config.system_prompt),
            row.few_shot,
            config.retrieval["k"] if retrieval else 0,
            constrained,
        )
        checkpoint_hash = content_hash(ref.path, memo)
    except (CheckpointError, OSError) as exc:
        result.error = str(exc)
        logger.warning("%s: %s", ref.name, exc)
        return result
    memo.save()
    result.variant = options.variant
    builder = PromptBuilder(options, api, retriever)
    jobs = []
    for name, prompts in prompt_sets.items():
        if code_mode:
            requests = [code_prompt(p.prompt, config.code_template) for p in prompts]
        else:
            requests = [builder.user_message(p.prompt) for p in prompts]
        settings = answer_settings(options, decoding)
        jobs.append(
            SetJob(
                name,
                requests,
                decoding,
                AnswerCache(cache_dir, answers_key(checkpoint_hash, requests, settings)),
                settings,
            )
        )
    if problems and not row.variant:  # a functional benchmark of general Lua: asked closed-book
        settings = {**answer_settings(options, bench_decoding), "benchmark": "multipl-e"}
        cache = AnswerCache(cache_dir, answers_key(checkpoint_hash, bench_requests, settings))
        jobs.append(SetJob(MULTIPL_E_SET, bench_requests, bench_decoding, cache, settings))
    for job in jobs:
        result.sets[job.name] = SetResult(cached=len(job.cache.answers))
    if any(len(job.cache.answers) < len(job.requests) for job in jobs):
        try:
            engine = engines.get(ref.path, options)
        except Exception as exc:  # a corrupt checkpoint is reported; the run goes on with the others
            engines.close()
            result.error = f"cannot load: {type(exc).__name__}: {exc}"
            logger.warning("%s: %s", ref.name, result.error)
            return result
        for job in jobs:
            job.cache.start({"checkpoint": str(ref.path), "prompt_set": job.name, "settings": job.settings})
            desc = f"{ref.name} {job.name}"
            result.sets[job.name].generated = generate_missing(engine, job.cache, job.requests, job.decoding, desc)

    for job in jobs:
        if job.name == MULTIPL_E_SET:
            grade_benchmark(ref, options, job, result.sets[job.name])
        else:
            grade_prompt_set(ref, options, job, prompt_sets[job.name], result.sets[job.name])
    if config.execute:
        graded = [g for name, s in result.sets.items() if name != MULTIPL_E_SET for g in s.grades]
        execute_grades(
            graded, executions, config.execute_timeout, config.execute_memory_mb, f"{ref.name} sandbox", prelude=stubs
        )
    for job in jobs:
        found = result.sets[job.name]
        for sample, grade in zip(found.samples, found.grades, strict=True):
            sample["grade"] = grade.to_dict()
        found.scores = aggregate(
            found.grades, job.cache.generated_tokens, job.cache.generation_seconds, config.count_undefined_globals
        )
    generated = sum(s.generated for s in result.sets.values())
    cached = sum(s.cached for s in result.sets.values())
    logger.info("%s: %d answers generated, %d from the cache", ref.name, generated, cached)
    return result


def sample_row(ref: CheckpointRef, options: AskOptions, prompt_set: str, index_: int, answer: str, tokens: int):
    return {
        "checkpoint": ref.name,
        "prompt_set": prompt_set,
        "variant": options.variant or "closed-book",
        "step": ref.step,
        "index": index_,
        "answer": answer,
        "new_tokens": tokens,
    }


def grade_prompt_set(
    ref: CheckpointRef, options: AskOptions, job: SetJob, prompts: list[EvalPrompt], found: SetResult
) -> None:
    answers = [job.cache.answers[i].answer for i in range(len(prompts))]
    if code_mode:
        answers = [benchmark.cut_at_stop(a, config.code_stop) for a in answers]
    # Code checkpoints are asked in Lua (the question as a comment); the prompt is graded with the completion only
    # where it is Lua.
    prefixes = [graded_prefix(r) if code_mode else "" for r in job.requests]
    found.grades = [
        grade_answer(answers[i], index, p.expected_apis, config.report_type, prompt=prefixes[i])
        for i, p in enumerate(prompts)
    ]
    found.samples = [
        {
            **sample_row(ref, options, job.name, i, answers[i], job.cache.answers[i].new_tokens),
            "prompt": p.prompt,
            "expected_apis": p.expected_apis,
        }
        for i, p in enumerate(prompts)
    ]
    if options.retrieval_k:  # what the model was shown: the user message with the retrieved entries
        for sample, request in zip(found.samples, job.requests, strict=True):
            sample["asked"] = request


def grade_benchmark(ref: CheckpointRef, options: AskOptions, job: SetJob, found: SetResult) -> None:
    """MultiPL-E's answers: graded against the API like any answer (no expected APIs), and run against the
    problems' tests (pass@k)."""
    answers = [job.cache.answers[i].answer for i in range(len(job.requests))]
    outcomes = benchmark.run_completions(
        problems,
        {p.name: answers[i * n_samples : (i + 1) * n_samples] for i, p in enumerate(problems)},
        bench_limits,
        report_type=config.report_type,
        cache=bench_runs,
    )
    found.benchmark, rows = benchmark.summarize(outcomes, config.multipl_e_k)
    found.benchmark_rows = [{"checkpoint": ref.name, "step": ref.step, **row} for row in rows]
    logger.info("%s: MultiPL-E %s", ref.name, benchmark.summary_line(found.benchmark))
    for i, answer in enumerate(answers):
        problem = problems[i // n_samples]
        if code_mode:
            answer = benchmark.cut_at_stop(answer, problem.stop_tokens)
        prefix = graded_prefix(problem.prompt) if code_mode else ""
        grade = grade_answer(answer, index, (), config.report_type, prompt=prefix)
        found.grades.append(grade)
        found.samples.append(
            {
                **sample_row(ref, options, job.name, i, answer, job.cache.answers[i].new_tokens),
                "prompt": job.requests[i],
                "problem": problem.name,
                "expected_apis": [],
            }
        )


# 3. Every row: the closed-book checkpoints (and the few-shot row), then the variant rows of the chosen ones.
results = [score_row(row) for row in plan]
if config.variants:
    chosen_best = pick_best(results, best_set)
    plain = [i for i, (r, row) in enumerate(zip(results, plan, strict=True)) if r.scored and not row.few_shot]
    targets = {
        "best": [chosen_best] if chosen_best is not None else [],
        "last": plain[-1:],
        "all": plain,
    }[config.variants_for]
    for position in sorted(targets, reverse=True):  # inserted after their checkpoint's row, last first
        base_row = plan[position]
        extra = []
        for variant in config.variants:
            suffix = AskOptions(retrieval_k=VARIANTS[variant][0], constrained=VARIANTS[variant][1]).variant
            ref = replace(base_row.ref, name=f"{base_row.ref.name} + {suffix}")
            extra.append(score_row(Row(ref, base_row.few_shot, variant)))
        results[position + 1 : position + 1] = extra
engines.close()

# 4. Reports.
all_sets = set_names + ([MULTIPL_E_SET] if problems else [])
best = pick_best(results, best_set)
recall = []
if retriever is not None:  # recall@5 (the measure) and @k (what the open-book rows were shown)
    for name, prompts in prompt_sets.items():
        expecting = [p for p in prompts if p.expected_apis]
        expected_count = sum(len(p.expected_apis) for p in expecting)
        for k in dict.fromkeys([5, config.retrieval["k"]]):
            share = retrieval_recall(retriever, prompts, k)
            found_count = round(share * expected_count) if share is not None else 0
            recall.append(RetrievalRecall(name, k, len(expecting), expected_count, found_count))
entries = []
if best is not None:
    best_grades = [g for name, s in results[best].sets.items() if name != MULTIPL_E_SET for g in s.grades]
    entries = entry_table(best_grades, index)
settings = {
    "base_folder": config.base_folder,
    "api_path": f"{config.api_path} ({len(index)} entries)",
    "test_data_path": ", ".join(
        f"{path} ({name}: {len(prompt_sets[name])} prompts)"
        for name, path in zip(set_names, config.test_data_path, strict=True)
    ),
    "best_prompt_set": best_set,
    "report_type": config.report_type,
    "backend": config.backend,
    "decoding": "sampling" if config.do_sample else "greedy",
    "max_new_tokens": config.max_new_tokens,
    "execute": config.execute,
    "undefined globals count as hallucinations": config.count_undefined_globals,
}
if few_shot:
    settings["few_shot_path"] = f"{config.few_shot_path} ({len(few_shot)} example turns before each question)"
if config.variants:
    settings["variants"] = f"{', '.join(config.variants)} for the {config.variants_for} checkpoint(s)"
if config.retrieval is not None:
    settings["retrieval"] = f"the {config.retrieval['k']} documented entries that fit each question (BM25)"
if problems:
    settings["multipl_e"] = (
        f"{config.multipl_e} ({len(problems)} problems, {n_samples} sample(s) each, "
        f"{'sampled' if bench_decoding.do_sample else 'greedy'})"
    )
    write_benchmark_rows(output_dir / "multipl_e.jsonl", results)
write_results_csv(output_dir / "results.csv", results_table(results, best, all_sets))
write_samples(output_dir / "samples.jsonl", results)
write_entry_table(output_dir / "entries.csv", entries)
write_best(output_dir / "best.json", results, best, best_set)
plot_metrics(output_dir / "accuracy.png", results, best, all_sets)
write_report(
    output_dir / "report.md",
    results,
    best,
    index,
    settings,
    config.samples_in_report,
    all_sets,
    best_set,
    entries,
    recall,
)
print()
print(summary_text(results, best, output_dir, all_sets, best_set))
sys.exit(0 if best is not None else 1)
