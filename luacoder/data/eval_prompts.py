"""Eval prompts: `eval/prompts.csv`, questions a user would ask, each with the API entries a good answer calls.

    prompt,expected_apis
    "Give me working Lua code to get the length of `s` in bytes.",string.len
    "Write Lua code that uses both string.upper and string.rep.",string.upper string.rep

`expected_apis` is a space-separated list of qualified entry names from api.json (empty when a prompt expects no
particular entry); `luacoder.evaluation.prompts.read_eval_prompts` reads the file back and checks every name. The
wordings here are used for nothing else: the chat dataset's questions come from other templates, and
decontamination then removes any training row that still shares an n-gram with a prompt.
"""

from __future__ import annotations

import csv
import os
import random

from luacoder.apidocs.schema import ApiSet
from luacoder.data.phrasing import task_phrase

# The eval reads the file with luacoder.evaluation.prompts.read_eval_prompts; the rows are its EvalPrompt.
from luacoder.evaluation.prompts import EvalPrompt, read_eval_prompts  # noqa: F401  (re-exported)
from luacoder.files import atomic_open

EVAL_TASK = [
    "Write a Lua snippet that shows how to {task}.",
    "I'm writing a Lua script and need to {task}. What code should I use?",
    "Give me working Lua code to {task}.",
    "Please write a short Lua example that can {task}.",
    "In my Lua program I have to {task}; how is that done?",
]
EVAL_NAME = [
    "Write a small Lua program that demonstrates {name} and prints the result.",
    "Using {name}, write a short example with sensible arguments.",
    "Show a complete Lua example built around {name}.",
]
EVAL_COMBINE = [
    "Write Lua code that uses both {a} and {b}.",
    "Show one Lua script that calls {a} and also {b}.",
]
COMBINE_SHARE = 0.1
TASK_SHARE = 0.65


def make_eval_prompts(api: ApiSet, count: int, seed: int) -> list[EvalPrompt]:
    """`count` prompts about the API's functions and methods, the same for the same API and seed."""
    callable_entries = sorted((e for e in api if e.kind in ("function", "method")), key=lambda e: e.name)
    if count <= 0 or not callable_entries:
        return []
    rng = random.Random(f"{seed}:eval-prompts")
    order = list(callable_entries)
    rng.shuffle(order)
    combined = min(round(count * COMBINE_SHARE), len(order) // 2) if len(order) >= 2 else 0
    prompts: list[EvalPrompt] = []
    seen: set[str] = set()
    for entry in order:
        if len(prompts) >= count - combined:
            break
        task = task_phrase(entry)
        if task and rng.random() < TASK_SHARE:
            text = rng.choice(EVAL_TASK).format(task=task)
        else:
            text = rng.choice(EVAL_NAME).format(name=entry.name)
        if text not in seen:
            seen.add(text)
            prompts.append(EvalPrompt(text, [entry.name]))
    pairs = list(zip(order[::2], order[1::2], strict=False))
    rng.shuffle(pairs)
    for a, b in pairs[:combined]:
        text = rng.choice(EVAL_COMBINE).format(a=a.name, b=b.name)
        if text not in seen:
            seen.add(text)
            prompts.append(EvalPrompt(text, [a.name, b.name]))
    return prompts


def write_prompts_csv(path: str | os.PathLike, prompts: list[EvalPrompt]) -> None:
    with atomic_open(path) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["prompt", "expected_apis"])
        for p in prompts:
            writer.writerow([p.prompt, " ".join(p.expected_apis)])
