"""Functional correctness on MultiPL-E (HumanEval-Lua): does the code a model writes pass the problem's tests?

    problems = load_problems("humaneval-lua-reworded.jsonl")          # or a hub id: "nuprl/MultiPL-E:humaneval-lua"
    outcomes = run_completions(problems, {"HumanEval_0_has_close_elements": ["    return false\nend"]})
    summary = summarize(outcomes)                                      # pass@1, pass@k, per-problem rows

A MultiPL-E row has `name`, `prompt` (`--` comment lines, then `local function f(...)`), `tests` (a luaunit
script ending in `os.exit(lu.LuaUnit.run())`) and `stop_tokens`. As MultiPL-E does, a completion is cut at the
first stop token and the program is prompt + completion + "\n" + tests; it passes when it exits with status 0.
Programs run in `luacoder.lua.sandbox` with the "luaunit" allowance (a luaunit-compatible `require('luaunit')`)
and "exit" (`os.exit` ends the program with its status), under a time, instruction and memory limit each; the
outcome keeps MultiPL-E's status (OK, Exception, SyntaxError, Timeout) and the sandbox's reason and message.

pass@k is the unbiased estimator of the Codex paper (Chen et al. 2021): for a problem with n samples of which c
pass, 1 - C(n-c, k) / C(n, k); the score is its mean over the problems. pass@1 with one greedy sample is the share
of problems solved.

The MultiPL-E data is licensed for evaluation only (BSD-3-Clause with a machine-learning restriction): never train
on it; `luacoder.data.filters` can take it as a decontamination source.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from luacoder.files import RowError, read_jsonl
from luacoder.lua.markdown_code import extract_lua_code

# Every HumanEval-Lua row has these; a row without `stop_tokens` gets them.
STOP_TOKENS = ("\nlocal", "\nfunction", "\n--", "\n\n")
KS = (1, 10, 100)
ALLOW = ("luaunit", "exit")
DEFAULT_TIMEOUT = 10.0  # seconds per program, as the limit MultiPL-E's own harness gives a test file
DEFAULT_MEMORY_MB = 128.0
DEFAULT_INSTRUCTIONS = 1_000_000_000  # the time limit binds first; the budget stops a loop that never yields
DEFAULT_HUB_CONFIG = "humaneval-lua"
# The program's output kept in an outcome (luaunit's report of the failed assertion is at its end).
OUTPUT_KEPT = 2000
HUB_ID = re.compile(r"[\w.-]+/[\w.-]+(:[\w.-]+)?")


@dataclass(frozen=True)
class Problem:
    name: str
    prompt: str
    tests: str
    stop_tokens: tuple[str, ...] = STOP_TOKENS


@dataclass
class Outcome:
    """One completion of one problem, run."""

    name: str
    sample: int  # its position among the problem's completions
    completion: str  # after the cut at the stop tokens
    status: str  # MultiPL-E's: "OK", "Exception", "SyntaxError", "Timeout"
    reason: str | None = None  # the sandbox's: "exit", "error", "syntax", "timeout", "instructions", "memory", ...
    exit_code: int | None = None
    error: str | None = None
    output: str = ""  # the tail of stdout + stderr

    @property
    def passed(self) -> bool:
        return self.status == "OK"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


# ---------------------------------------------------------------------------------------------------------------
# Problems


def load_problems(source: str | os.PathLike) -> list[Problem]:
    """MultiPL-E problems from a JSONL file, or from the hub (`nuprl/MultiPL-E:humaneval-lua`, loaded with
    `datasets`; "nuprl/MultiPL-E" alone means its humaneval-lua config) when `source` is not a file."""
    path = Path(source)
    if path.is_file():
        return _problems(read_jsonl(path, required=("name", "prompt", "tests")), str(path))
    if path.suffix in (".jsonl", ".json") or not HUB_ID.fullmatch(str(source)):
        raise RowError(f"{source}: no such MultiPL-E file (nor a hub dataset id, owner/name[:config])")
    return _problems(_hub_rows(str(source)), str(source))


def _hub_rows(source: str) -> list[dict[str, Any]]:
    dataset_id, _, config = source.partition(":")
    config = config or (DEFAULT_HUB_CONFIG if dataset_id.lower() == "nuprl/multipl-e" else "")
    try:
        import datasets

        data = datasets.load_dataset(dataset_id, config or None, split="test")
    except Exception as exc:  # offline, unknown id or config: the datasets error says which
        raise RowError(
            f"{source}: cannot load the hub dataset {dataset_id!r}"
            f"{f' (config {config!r})' if config else ''}: {type(exc).__name__}: {exc}. Offline, download the "
            "JSONL once and give its path."
        ) from None
    missing = [k for k in ("name", "prompt", "tests") if k not in data.column_names]
    if missing:
        raise RowError(f"{source}: the dataset has no {missing} column(s); its columns are {data.column_names}")
    return [dict(row) for row in data]


def _problems(rows: Sequence[dict[str, Any]], where: str) -> list[Problem]:
    problems, seen = [], set()
    for number, row in enumerate(rows, 1):
        for key in ("name", "prompt", "tests"):
            if not isinstance(row[key], str) or not row[key].strip():
                raise RowError(f"{where}: row {number}: {key!r} must be non-empty text")
        if row["name"] in seen:
            raise RowError(f"{where}: row {number}: problem {row['name']!r} appears twice")
        seen.add(row["name"])
        stops = row.get("stop_tokens") or STOP_TOKENS
        if not isinstance(stops, (list, tuple)) or not all(isinstance(s, str) and s for s in stops):
            raise RowError(f"{where}: row {number}: 'stop_tokens' must be a list of non-empty strings")
        problems.append(Problem(row["name"], row["prompt"], row["tests"], tuple(stops)))
    return problems


# ---------------------------------------------------------------------------------------------------------------
# Programs


def cut_at_stop(text: str, stops: Iterable[str]) -> str:
    """`text` up to the first of the stop sequences (as MultiPL-E cuts a completion)."""
    cut = len(text)
    for stop in stops:
        at = text.find(stop)
        if at != -1:
            cut = min(cut, at)
    return text[:cut]


def chat_request(problem: Problem) -> str:
    """What a chat checkpoint is asked: the prompt as a function to complete."""
    return (
        "Complete the following Lua function. Answer with the whole function, in a ```lua code block.\n\n"
        f"```lua\n{problem.prompt.rstrip()}\n```"
    )


def answer_program(problem: Problem, answer: str, report_type: str) -> tuple[str, str]:
    """(completion, program) for a generated answer. A code checkpoint's continuation is cut at the stop tokens
    and follows the prompt. A chat answer's Lua code is the whole program's start when it defines the prompt's
    function, and otherwise the body that follows the prompt."""
    if report_type == "code":
        completion = cut_at_stop(answer, problem.stop_tokens)
        return completion, program(problem, completion)
    completion = "".join(block if block.endswith("\n") else block + "\n" for block in extract_lua_code(answer))
    function = _function_name(problem)
    whole = bool(function) and re.search(rf"\bfunction\s+{re.escape(function)}\s*\(", completion) is not None
    return completion, program(problem, completion, whole)


def program(problem: Problem, completion: str, whole: bool = False) -> str:
    """The test program: prompt + completion + "\\n" + tests (`whole`: the completion already holds the prompt's
    function, as a chat answer does)."""
    return ("" if whole else problem.prompt) + completion + "\n" + problem.tests


def _function_name(problem: Problem) -> str | None:
    found = re.findall(r"^\s*(?:local\s+)?function\s+([\w.:]+)\s*\(", problem.prompt, flags=re.M)
    return found[-1] if found else None


# ---------------------------------------------------------------------------------------------------------------
# Running


@dataclass
class Limits:
    timeout: float = DEFAULT_TIMEOUT
    memory_mb: float = DEFAULT_MEMORY_MB
    instructions: int = DEFAULT_INSTRUCTIONS

    def key(self) -> dict[str, Any]:
        return {**asdict(self), "allow": list(ALLOW)}


def status_of(result: Any) -> str:
    """MultiPL-E's status for a sandbox RunResult."""
    if result.ok:
        return "OK"
    if result.reason == "syntax":
        return "SyntaxError"
    if result.reason in ("timeout", "instructions"):
        return "Timeout"
    return "Exception"


def run_programs(programs: Sequence[str], limits: Limits, cache: Any | None = None, desc: str = "MultiPL-E"):
    """The run of each program, as dicts (status, reason, exit_code, error, output); each distinct program runs once,
    in one sandbox child. `cache` (a `luacoder.files.JsonlLog`) keeps them between runs."""
    from tqdm import tqdm

    from luacoder.files import stable_hash
    from luacoder.lua.sandbox import LuaJob, iter_run_many

    known: dict[str, dict[str, Any]] = {}
    if cache is not None:
        known = {row["key"]: row["run"] for row in cache.load()}
    keys = [stable_hash({"program": p, "limits": limits.key()}) for p in programs]
    missing = {k: p for k, p in zip(keys, programs, strict=True) if k not in known}
    jobs = (
        LuaJob(p, limits.timeout, limits.memory_mb, limits.instructions, allow=ALLOW, chunkname="program")
        for p in missing.values()
    )
    new = []
    runs = tqdm(iter_run_many(jobs), total=len(missing), desc=desc, unit="program") if missing else []
    for key, result in zip(missing, runs, strict=True):
        output = (result.stdout + result.stderr)[-OUTPUT_KEPT:]
        run = {
            "status": status_of(result),
            "reason": result.reason,
            "exit_code": result.exit_code,
            "error": result.error,
            "output": output,
        }
        known[key] = run
        new.append({"key": key, "run": run})
    if cache is not None and new:
        cache.append(new)
    return [known[k] for k in keys]


def run_completions(
    problems: Sequence[Problem],
    completions: Mapping[str, Sequence[str]],
    limits: Limits | None = None,
    *,
    report_type: str = "code",
    cache: Any | None = None,
) -> list[Outcome]:
    """Run every completion (raw: cut at the stop tokens here; `report_type="markdown"`: chat answers) against its
    problem's tests. A name that is not a problem is a ValueError."""
    by_name = {p.name: p for p in problems}
    unknown = sorted(set(completions) - set(by_name))
    if unknown:
        raise ValueError(f"completions for unknown problem(s): {', '.join(unknown[:5])}")
    items = []
    for name, texts in completions.items():
        for sample, text in enumerate(texts):
            completion, source = answer_program(by_name[name], text, report_type)
            items.append((name, sample, completion, source))
    runs = run_programs([source for *_, source in items], limits or Limits(), cache)
    return [
        Outcome(name, sample, completion, **run)
        for (name, sample, completion, _), run in zip(items, runs, strict=True)
    ]


# ---------------------------------------------------------------------------------------------------------------
# Scores


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased estimate of pass@k from n samples of which c pass (Chen et al. 2021), stable in floats."""
    if n < 1 or not 0 <= c <= n or k < 1:
        raise ValueError(f"pass@k needs n >= 1, 0 <= c <= n and k >= 1; got n={n}, c={c}, k={k}")
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples per problem, got {n}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


@dataclass
class BenchmarkScores:
    problems: int  # problems scored (with at least one completion)
    samples: int  # completions per problem (the smallest n, which bounds k)
    solved: int  # problems with at least one passing completion
    passed: int  # passing completions
    completions: int
    pass_at: dict[int, float] = field(default_factory=dict)  # k -> mean pass@k over the problems
    statuses: dict[str, int] = field(default_factory=dict)  # MultiPL-E status -> completions

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("pass_at")
        data.update({f"pass@{k}": v for k, v in self.pass_at.items()})
        return data


def summarize(outcomes: Sequence[Outcome], ks: Iterable[int] = KS) -> tuple[BenchmarkScores, list[dict[str, Any]]]:
    """The scores, and one row per problem (name, n, passed, pass@k, every outcome), in problem-name order of
    first appearance."""
    by_problem: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by_problem.setdefault(o.name, []).append(o)
    if not by_problem:
        raise ValueError("no completions to score")
    n_min = min(len(v) for v in by_problem.values())
    usable = [k for k in ks if k <= n_min]
    rows, statuses = [], {}
    for name, runs in by_problem.items():
        c = sum(o.passed for o in runs)
        for o in runs:
            statuses[o.status] = statuses.get(o.status, 0) + 1
        row = {"name": name, "n": len(runs), "passed": c}
        row.update({f"pass@{k}": pass_at_k(len(runs), c, k) for k in usable})
        row["outcomes"] = [o.to_dict() for o in runs]
        rows.append(row)
    scores = BenchmarkScores(
        problems=len(rows),
        samples=n_min,
        solved=sum(r["passed"] > 0 for r in rows),
        passed=sum(r["passed"] for r in rows),
        completions=len(outcomes),
        pass_at={k: float(np.mean([r[f"pass@{k}"] for r in rows])) for k in usable},
        statuses=dict(sorted(statuses.items())),
    )
    return scores, rows


def summary_line(scores: BenchmarkScores) -> str:
    shown = ", ".join(f"pass@{k} {100 * v:.2f}" for k, v in scores.pass_at.items())
    return (
        f"{shown} on {scores.problems} problems ({scores.samples} sample(s) each; {scores.solved} solved, "
        f"{scores.passed}/{scores.completions} completions pass; "
        + ", ".join(f"{k} {v}" for k, v in scores.statuses.items())
        + ")"
    )


def read_completions(path: str | os.PathLike) -> dict[str, list[str]]:
    """Rows {"name", "completion"} (several per name for pass@k), grouped by name in file order."""
    out: dict[str, list[str]] = {}
    for number, row in enumerate(read_jsonl(path, required=("name", "completion")), 1):
        if not isinstance(row["name"], str) or not isinstance(row["completion"], str):
            raise RowError(f"{path}: row {number}: 'name' and 'completion' must be text")
        out.setdefault(row["name"], []).append(row["completion"])
    return out
