"""Preference pairs for the reward model and DPO, built from the chat dataset and the API docs.

    pairs, report = build_preferences(chat_rows, api, seed=42)
    save_preference_splits("outputs/data/preferences", train=pairs, test=test_pairs)

    luacoder synthetic-pairs --api_path outputs/data/api.json --chat_dir outputs/data/chat -o outputs/data/preferences

A pair keeps a chat row's conversation up to an assistant answer that uses the API correctly (the chosen answer) and
the same answer with one API call corrupted (the rejected answer), in TRL's conversational preference format:

    {"prompt": [messages before the answer], "chosen": [answer], "rejected": [corrupted answer],
     "corruption": kind, "detail": "string.rep -> string.repeat"}

The corruptions are the mistakes eval counts, so the pairs teach what eval measures:

- `hallucinated_name`: a plausible name the module does not have (`string.split`, `table.contains`);
- `wrong_module`: the function under another documented module that lacks it (`table.format`);
- `wrong_arity`: the same call with fewer arguments than documented, or more (`string.rep("ab")`).

Both answers are graded with `luacoder.grading` (the eval grader): the chosen answer must parse and make only
documented calls with documented argument counts, and the rejected one must differ by exactly the intended mistake,
so a pair never rewards the wrong thing. Rows that cannot be used are counted with the reason. The choice of call
and corruption is seeded per row: the same rows and seed give the same pairs.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from luacoder.apidocs.schema import ApiSet
from luacoder.config import DEFAULT_SEED
from luacoder.files import write_jsonl
from luacoder.grading.answer import AnswerGrade, grade_answer, grade_code
from luacoder.grading.api_index import ApiIndex
from luacoder.lua.calls import Call, extract_calls, parse
from luacoder.lua.markdown_code import extract_lua_blocks

CORRUPTIONS = ("hallucinated_name", "wrong_module", "wrong_arity")
_PLAIN_VALUES = ("string", "number", "identifier", "true", "false", "nil")

# Names models invent for Lua modules, mostly borrowed from other languages' standard libraries.
INVENTED_NAMES = (
    "split", "trim", "strip", "contains", "startswith", "endswith", "startsWith", "endsWith", "join", "length",
    "size", "count", "map", "filter", "reduce", "keys", "values", "indexOf", "copy", "merge", "exists", "append",
    "push", "round", "clamp", "sign", "isEmpty", "toString", "parse", "readAll", "writeLine", "sleep",
)  # fmt: skip


@dataclass
class Corruption:
    kind: str
    code: str  # the corrupted code
    detail: str  # what changed: "string.rep -> string.repeat", "string.rep: 2 -> 1 arguments"


@dataclass
class PreferenceReport:
    rows: int = 0
    pairs: int = 0
    by_kind: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)  # reason -> rows

    def summary(self) -> str:
        lines = [f"{self.pairs} pairs from {self.rows} chat rows"]
        lines += [f"  {kind}: {n}" for kind, n in sorted(self.by_kind.items())]
        if self.skipped:
            lines.append(f"{sum(self.skipped.values())} rows skipped:")
            lines += [f"  {n} {reason}" for reason, n in self.skipped.most_common()]
        return "\n".join(lines)


def build_preferences(
    rows: Iterable[dict[str, Any]],
    api: ApiSet | ApiIndex,
    seed: int = DEFAULT_SEED,
    kinds: Sequence[str] = CORRUPTIONS,
    per_row: int = 1,
) -> tuple[list[dict[str, Any]], PreferenceReport]:
    """Preference pairs from chat rows (`{"messages": [...]}`): up to `per_row` pairs per row, each with another
    corruption kind, tried in a seeded order. Returns the pairs and a report of what was made and skipped."""
    unknown = [k for k in kinds if k not in CORRUPTIONS]
    if unknown or not kinds:
        raise ValueError(f"unknown corruption kinds {unknown}: choose from {', '.join(CORRUPTIONS)}")
    index = api if isinstance(api, ApiIndex) else ApiIndex(api)
    pairs: list[dict[str, Any]] = []
    report = PreferenceReport()
    for number, row in enumerate(rows):
        report.rows += 1
        made, reason = pairs_for_row(row, index, random.Random(f"{seed}:{number}"), kinds, per_row)
        if not made:
            report.skipped[reason] += 1
        for pair in made:
            report.by_kind[pair["corruption"]] += 1
        pairs += made
    report.pairs = len(pairs)
    return pairs, report


def pairs_for_row(
    row: dict[str, Any], index: ApiIndex, rng: random.Random, kinds: Sequence[str], per_row: int = 1
) -> tuple[list[dict[str, Any]], str]:
    """The pairs of one chat row, or none and the reason."""
    messages = row.get("messages")
    if not isinstance(messages, list):
        return [], "not a {'messages': [...]} row"
    turn = next(
        (
            i
            for i in range(len(messages) - 1, -1, -1)
            if messages[i].get("role") == "assistant" and extract_lua_blocks(messages[i].get("content", ""))
        ),
        None,
    )
    if turn is None:
        return [], "no assistant answer with a Lua code block"
    if turn == 0 or messages[turn - 1].get("role") != "user":
        return [], "the answer does not follow a user turn"
    answer = messages[turn]["content"]
    problem = _not_clean(grade_answer(answer, index))
    if problem:
        return [], problem
    block = next(b for b in extract_lua_blocks(answer) if grade_code(b.code, index).api_calls)
    order = list(kinds)
    rng.shuffle(order)
    pairs, reasons = [], []
    for kind in order:
        corruption = corrupt_code(block.code, index, kind, rng)
        if corruption is None:
            reasons.append(kind)
            continue
        rejected = _replace_block(answer, block.line, block.code, corruption.code)
        pairs.append(
            {
                "prompt": [dict(m) for m in messages[:turn]],
                "chosen": [{"role": "assistant", "content": answer}],
                "rejected": [{"role": "assistant", "content": rejected}],
                "corruption": corruption.kind,
                "detail": corruption.detail,
            }
        )
        if len(pairs) == per_row:
            break
    return pairs, "" if pairs else f"no call can be corrupted ({', '.join(k for k in kinds if k in reasons)})"


def _not_clean(grade: AnswerGrade) -> str:
    if not grade.syntax_valid:
        return "the answer's code does not parse"
    if not grade.api_calls:
        return "the answer makes no API call"
    if grade.hallucinated or grade.arity_errors:
        return "the answer itself misuses the API"
    return ""


def _replace_block(answer: str, line: int, old: str, new: str) -> str:
    """The answer with the code block starting on Markdown line `line` replaced."""
    lines = answer.split("\n")
    start = sum(len(text) + 1 for text in lines[: line - 1])
    if answer[start : start + len(old)] != old:
        raise ValueError(f"the code block is not at line {line} of the answer")
    return answer[:start] + new + answer[start + len(old) :]


# ---------------------------------------------------------------------------------------------------------------
# Corruptions of one call, each checked with the grader


def corrupt_code(code: str, index: ApiIndex, kind: str, rng: random.Random) -> Corruption | None:
    """`code` with one documented call corrupted as `kind`, verified with the grader; None when no call can be."""
    calls = [c for c in extract_calls(code).calls if index.classify(c).kind == "matched"]
    api_calls = grade_code(code, index).api_calls
    rng.shuffle(calls)
    for call in calls:
        node = _call_node(code, call)
        if node is None:
            continue
        if kind == "wrong_arity":
            edit = _wrong_arity(code, node, call, index, rng)
        else:
            edit = _wrong_name(node, call, index, kind, rng)
        if edit is None:
            continue
        (start, end, text), detail, target = edit
        data = code.encode("utf-8")
        corrupted = (data[:start] + text.encode("utf-8") + data[end:]).decode("utf-8")
        if _is_exactly(grade_code(corrupted, index), kind, target, api_calls):
            return Corruption(kind, corrupted, detail)
    return None


def _is_exactly(grade: AnswerGrade, kind: str, target: str, api_calls: int) -> bool:
    """The corrupted code parses, makes as many API calls as before and has exactly the one intended mistake."""
    if not grade.syntax_valid or grade.api_calls != api_calls:
        return False
    if kind == "wrong_arity":
        return grade.hallucinated == 0 and grade.arity_error_names == [target]
    return grade.arity_errors == 0 and grade.hallucinated_names == [target]


def _call_node(code: str, call: Call):
    """The tree-sitter function_call node of `call` (matched by the position of its called name)."""
    stack = [parse(code).root_node]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.type != "function_call":
            continue
        callee = node.child_by_field_name("name")
        where = {"method_index_expression": "method", "dot_index_expression": "field"}.get(callee.type)
        point = callee.child_by_field_name(where) if where else callee
        if (point.start_point[0] + 1, point.start_point[1] + 1) == (call.line, call.column):
            return node
    return None


def _modules(index: ApiIndex) -> dict[str, set[str]]:
    """Documented module -> the short names of its functions: {"string": {"format", "rep", ...}, ...}."""
    out: dict[str, set[str]] = {}
    for name in index.callables:
        if "." in name:
            module, short = name.rsplit(".", 1)
            out.setdefault(module, set()).add(short)
    return out


def _wrong_name(node, call: Call, index: ApiIndex, kind: str, rng: random.Random):
    callee = node.child_by_field_name("name")
    # Only a call written as module.function: renaming an alias or a method would not change what it calls.
    if callee.type != "dot_index_expression" or call.is_method or call.name != call.resolved:
        return None
    module, short = call.name.rsplit(".", 1)
    modules = _modules(index)
    if module not in modules:
        return None
    if kind == "hallucinated_name":
        documented = set().union(*modules.values())
        candidates = sorted({n for n in _invented(short) if n not in documented})
        names = [f"{module}.{n}" for n in candidates]
    else:
        names = sorted(
            f"{other}.{short}" for other, shorts in modules.items() if other != module and short not in shorts
        )
    if not names:
        return None
    new = rng.choice(names)
    return (callee.start_byte, callee.end_byte, new), f"{call.name} -> {new}", new


def _invented(short: str) -> list[str]:
    """Plausible names a model might write instead of `short`: generic ones and variations of `short` itself."""
    capital = short[:1].upper() + short[1:]
    return [*INVENTED_NAMES, f"{short}s", f"{short}All", f"get{capital}", f"to{capital}", f"{short}_ex"]


def _wrong_arity(code: str, node, call: Call, index: ApiIndex, rng: random.Random):
    arguments = node.child_by_field_name("arguments")
    # `f"text"` and `f{...}` pass one argument without parentheses: left alone. A last argument that is `...` or
    # a call passes any number of values, so no count is wrong for sure.
    if arguments is None or not arguments.text.startswith(b"(") or call.open_ended:
        return None
    nodes = [a for a in arguments.named_children if a.type != "comment"]
    args = [a.text.decode("utf-8") for a in nodes]
    match = index.classify(call)
    entries = [index.entries[name] for name in match.entries]
    fewest = min(e.arity()[0] for e in entries)
    most = max(e.arity()[1] for e in entries)
    # Counts in the call's own form: a method call's `self` is implicit, an entry named Type:m excludes it.
    offset = (1 if call.is_method else 0) - (1 if any(":" in e.name for e in entries) else 0)
    options = []
    if fewest - offset > 0:
        options.append(args[: fewest - offset - 1])
    if most != float("inf"):
        extra = int(most) - offset + 1 - len(args)
        # The last argument again when it is a plain value (a copy of a call would add an API call), else a number.
        filler = args[-1] if nodes and nodes[-1].type in _PLAIN_VALUES else "1"
        options.append(args + [filler] * extra)
    if not options:
        return None
    new_args = rng.choice(options)
    text = "(" + ", ".join(new_args) + ")"
    detail = f"{call.resolved}: {len(args)} -> {len(new_args)} arguments"
    return (arguments.start_byte, arguments.end_byte, text), detail, call.resolved


# ---------------------------------------------------------------------------------------------------------------
# Files


def write_pairs(path: str | Path, pairs: Iterable[dict[str, Any]]) -> None:
    """JSON lines, written atomically (a run that dies leaves the old file or none, never half a file)."""
    write_jsonl(path, pairs)


def save_preference_splits(output_dir: str | Path, **splits: list[dict[str, Any]]) -> dict[str, Path]:
    """`<output_dir>/<split>.jsonl` for each split given (train=..., test=...); returns the paths."""
    paths = {}
    for split, pairs in splits.items():
        if not re.fullmatch(r"[A-Za-z0-9_-]+", split):
            raise ValueError(f"invalid split name {split!r}")
        paths[split] = Path(output_dir) / f"{split}.jsonl"
        write_pairs(paths[split], pairs)
    return paths
