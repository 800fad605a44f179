"""Tasks: a goal in plain words and a program that reaches it, derived from what an API's entries and examples do.

    finder = TaskFinder(api, writer, seed=42)
    finder.tasks(api.get("string.rep"), partners)   # candidates; the chat builder checks and runs them

Four kinds, for any API (nothing here knows one API's names):

- **example**: a paragraph of a docs example under a comment that says what it does (`-- angle between two 2D
  vectors` over the code that computes it): the comment is the goal, the paragraph is the program.
- **call**: an entry's task phrase (luacoder.data.phrasing) with the values of a concrete call put in for its
  parameters ("get a string made of 3 copies of "ab""); the program keeps the values in named locals or writes them
  in the call, and prints what it gets.
- **function**: the task phrase with its parameters kept ("get a string made of `n` copies of `s`"); the program
  defines a small function with those parameters that does it, and calls it once.
- **chain**: one entry's result passed on to another entry ("get ... of "hello", then get ... of the result"), or
  a value of a documented type made by one entry and used by its method.

A task is only a candidate: the chat builder keeps it when its code passes the API call check, calls the entries it
is about, and runs in the sandbox (luacoder.data.chat.check_tasks).
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field

from luacoder.apidocs.schema import VARARG, ApiEntry, ApiSet, Param
from luacoder.data.phrasing import base_verb, lower_first, task_phrase
from luacoder.data.usage import (
    LUA_KEYWORDS,
    UsageWriter,
    accepts,
    entry_type,
    fresh_name,
    is_identifier,
    is_iterator,
    literal_type,
    passes_on,
)

CALLABLE = ("function", "method")
KINDS = ("example", "call", "function", "chain")
_COMMENT = re.compile(r"^\s*--(?!>|\[)\s?(.*?)\s*$")
_SPAN = re.compile(r"`([^`]+)`")
# Comment openers that explain the code around them rather than state a goal ("it returns the file, so ...").
_NOT_GOALS = {
    "it", "its", "this", "that", "these", "those", "they", "now", "then", "here", "and", "but", "or", "also", "same",
    "note", "see", "still", "again", "otherwise", "else", "because", "so", "which", "when", "if", "as", "e.g",
    "output", "prints", "returns", "error", "fails", "nil", "true", "false", "ok", "result", "results",
}  # fmt: skip
_STOP_WORDS = {
    "a", "an", "the", "of", "to", "in", "into", "from", "for", "with", "by", "on", "at", "as", "and", "or", "that",
    "whether", "its", "their", "is", "are", "be", "given", "new", "all", "each", "every", "which", "some", "any",
    "one", "more", "how", "many", "much", "this", "it", "if", "when",
}  # fmt: skip
# Words after which a parameter's name can give way to "the result" ("copies of `s`"); after a noun ("the
# coroutine `co`") the name is dropped instead.
_BEFORE_VALUE = {"of", "to", "in", "into", "from", "with", "by", "on", "for", "at", "over", "than", "and", "or"}
_COPULAS = {"is", "are", "was", "were", "has", "have"}
MIN_GOAL_WORDS, MAX_GOAL_WORDS = 3, 18


@dataclass
class Task:
    kind: str  # example, call, function, chain
    goal: str  # "get a string made of 3 copies of "ab"", or a comment's noun phrase for an example
    code: str
    entries: list[str]  # the documented entries the program is about, the primary one first
    verb_goal: bool = True  # the goal reads after "How do I ..." (an infinitive phrase); an example's may not
    function: str = ""  # the function the program defines (kind "function")
    parts: list[str] = field(default_factory=list)  # a chain's two goals
    status: str = ""  # the execution verdict, once checked
    stdout: str = ""  # what it printed, when two runs printed the same

    @property
    def key(self) -> str:
        """The dialogue id of the task: rows with the same key ask for the same program."""
        digest = hashlib.sha256(self.code.encode()).hexdigest()[:8]
        return f"{self.entries[0]}#task:{self.kind}:{digest}"


def goal_from_comment(text: str) -> str | None:
    """A comment's text as a goal, or None when it explains the code instead of stating what the code is for."""
    text = text.strip().rstrip(".:;,")
    words = text.split()
    if not MIN_GOAL_WORDS <= len(words) <= MAX_GOAL_WORDS or "-->" in text or "?" in text:
        return None
    first = words[0].lower().strip("(\"'")
    if first in _NOT_GOALS or base_verb(first) is not None or not first.isalpha():
        return None  # "prints ...", "returns ..." describe the output
    if any(w.lower() in _COPULAS for w in words[:6]):
        return None  # "file handles are full userdata ...": a statement about the code, not a goal
    plain = [w for w in words if re.fullmatch(r"[A-Za-z][A-Za-z'-]*[,;]?", w)]
    if len(plain) < 0.6 * len(words):
        return None  # mostly code or numbers
    return text


def example_tasks(entry: ApiEntry) -> list[Task]:
    """Paragraphs of the entry's examples that open with a comment stating a goal; a comment on the example's first
    line titles the whole example."""
    out = []
    for index, example in enumerate(entry.examples):
        if index in entry.needs_host:
            continue
        paragraphs = re.split(r"\n\s*\n", example.strip("\n"))
        for number, paragraph in enumerate(paragraphs):
            lines = paragraph.splitlines()
            head = []
            for line in lines:
                match = _COMMENT.match(line)
                if match is None:
                    break
                head.append(match.group(1))
            goal = goal_from_comment(" ".join(head)) if head else None
            body = lines[len(head) :]
            if number == 0 and len(paragraphs) > 1:
                body = [*body, "", *"\n\n".join(paragraphs[1:]).splitlines()]
            if goal is None or not any(line.strip() and not _COMMENT.match(line) for line in body):
                continue
            code = "\n".join(body).strip("\n")
            out.append(Task("example", lower_first(goal), code, [entry.name], verb_goal=False))
    return out


# -- concrete calls ------------------------------------------------------------------------------------------------


def mentioned_params(entry: ApiEntry, phrase: str) -> list[Param] | None:
    """The parameters a call must pass so that every parameter the phrase names has a value: the required ones, the
    optional ones it names and the optional ones before those. None when it names a vararg or an unknown name."""
    named = set(_SPAN.findall(phrase))
    params = [p for p in entry.params if p.name != VARARG]
    last = max((i for i, p in enumerate(params) if p.name in named), default=-1)
    chosen = [p for i, p in enumerate(params) if not p.optional or i <= last]
    if any(p.name == VARARG for p in entry.params if p.name in named):
        return None
    return chosen


def fill_phrase(phrase: str, values: dict[str, str], replacements: dict[str, str] | None = None) -> str | None:
    """The phrase with the value of each parameter it names in backticks (`s` -> "ab"); `replacements` put words
    instead (`s` -> "the result"). None when a span names a parameter that has no literal value, or is neither a
    parameter nor plain text (`list[i]`: an expression over a parameter)."""
    replacements = replacements or {}
    failed = False

    def put(match: re.Match) -> str:
        nonlocal failed
        name = match.group(1)
        if name in replacements:
            before = phrase[: match.start()].split()
            if len(before) > 1 and before[-1].lower() not in _BEFORE_VALUE:
                return "\x00"  # after a noun: the noun names the value already
            return replacements[name]
        value = values.get(name)
        if value is None:
            if any(re.search(rf"\b{re.escape(p)}\b", name) for p in values) or is_identifier(name):
                failed = True  # an expression over a parameter, or a parameter not passed
            return match.group(0)
        kind = literal_type(value)
        if kind in ("string", "integer", "number", "boolean"):
            return value
        if kind == "table":
            return f"`{value}`"
        failed = True  # a function or a made value has no plain-words form
        return match.group(0)

    text = _SPAN.sub(put, phrase).replace(" \x00", "").replace("\x00", "")
    return None if failed else text


@dataclass
class ConcreteCall:
    setup: list[str]  # lines that make the values (`local s = "ab"`, `local file = io.open("data.txt")`)
    call: str
    values: dict[str, str]  # parameter -> the literal written for it


class TaskFinder:
    def __init__(self, api: ApiSet, writer: UsageWriter, has_print: bool, roots: set[str], seed: int = 0):
        self.api, self.writer, self.has_print, self.seed = api, writer, has_print, seed
        self.reserved = set(roots) | LUA_KEYWORDS  # names a program's own function must not shadow

    def concrete_call(
        self,
        entry: ApiEntry,
        params: list[Param],
        used: set[str],
        rng: random.Random,
        first_arg: str | None = None,
    ) -> ConcreteCall | None:
        """A call of `entry` passing `params`, each a literal (held in a named local or written inline, as `rng`
        picks) or a value a documented constructor makes; `first_arg` is passed for the first parameter instead."""
        setup: list[str] = []
        if ":" in entry.name:
            receiver = self.writer.construct(entry_type(entry) or "", setup, used)
            if receiver is None:
                return None
            callee = f"{receiver}:{entry.short_name}"
        else:
            callee = entry.name
        args, values = [], {}
        hoist = rng.random() < 0.5
        for i, p in enumerate(params):
            if i == 0 and first_arg is not None:
                args.append(first_arg)
                continue
            value = self.writer.value(p, setup, used)
            if value is None:
                return None
            values[p.name] = value
            if hoist and literal_type(value) in ("string", "integer", "number", "table") and is_identifier(p.name):
                name = fresh_name(p.name, used | self.reserved)
                used.add(name)
                setup.append(f"local {name} = {value}")
                value = name
            args.append(value)
        vararg = next((p for p in entry.params if p.name == VARARG), None)
        if vararg is not None and len(args) == len(params):  # a call of `io.write(...)` that writes nothing is no use
            value = self.writer.value(vararg, setup, used)
            if value is not None:
                args.append(value)
        return ConcreteCall(setup, f"{callee}({', '.join(args)})", values)

    def show(self, entry: ApiEntry, call: str, used: set[str], table_args: list[str]) -> list[str]:
        """Lines that make the call and show what it gives: its results printed (or kept in locals when there is no
        `print`), an iterator's values in a loop, or the table it changed."""
        if is_iterator(entry):
            loop_vars = "key, value" if len(entry.returns) >= 3 else "item"
            body = f"  print({loop_vars})" if self.has_print else "  -- use the values here"
            return [f"for {loop_vars} in {call} do", body, "end"]
        results = self.writer.result_names(entry, used)
        if results:
            lines = [f"local {', '.join(results)} = {call}"]
            return [*lines, f"print({', '.join(results)})"] if self.has_print else lines
        if table_args and self.has_print:
            t = table_args[0]
            return [call, f"for i = 1, #{t} do", f"  print(i, {t}[i])", "end"]
        return [call]

    # -- the kinds --------------------------------------------------------------------------------------------------

    def call_task(self, entry: ApiEntry, rng: random.Random) -> Task | None:
        phrase = task_phrase(entry)
        params = mentioned_params(entry, phrase) if phrase else None
        if phrase is None or params is None or entry.kind not in CALLABLE:
            return None
        used: set[str] = set()
        built = self.concrete_call(entry, params, used, rng)
        if built is None:
            return None
        goal = fill_phrase(phrase, built.values)
        if goal is None:
            return None
        tables = [line.split()[1] for line in built.setup if line.startswith("local ") and "= {" in line]
        if not built.values and not any(r.type for r in entry.returns):
            return None  # a call with nothing in and nothing out shows nothing
        code = "\n".join([*built.setup, *self.show(entry, built.call, used, tables)])
        return Task("call", goal, code, [entry.name])

    def function_task(self, entry: ApiEntry, rng: random.Random) -> Task | None:
        phrase = task_phrase(entry)
        params = mentioned_params(entry, phrase) if phrase else None
        if phrase is None or params is None or entry.kind != "function" or ":" in entry.name:
            return None
        if not all(is_identifier(p.name) and p.name not in self.reserved for p in params):
            return None
        if fill_phrase(phrase, {p.name: "0" for p in params}) is None:
            return None  # the phrase names something the function's parameters cannot stand for
        used = {p.name for p in params}
        name = self.function_name(phrase, used)
        used.add(name)
        vararg = next((p for p in entry.params if p.name == VARARG), None)
        names = ", ".join([*(p.name for p in params), *([VARARG] if vararg is not None else [])])
        inner = f"{entry.name}({names})"
        first_table = params[0].name if params and accepts(params[0].type, "table") else None
        if is_iterator(entry):
            body = [
                "  local out = {}",
                f"  for item in {inner} do",
                "    out[#out + 1] = item",
                "  end",
                "  return out",
            ]
            returns = True
        elif any(r.type for r in entry.returns):
            body, returns = [f"  return {inner}"], True
        elif first_table is not None:
            body, returns = [f"  {inner}", f"  return {first_table}"], True
        else:
            body, returns = [f"  {inner}"], False
        setup: list[str] = []
        args = []
        for p in [*params, *([vararg] if vararg is not None else [])]:
            value = self.writer.value(p, setup, used)
            if value is None:
                return None
            args.append(value)
        demo = f"{name}({', '.join(args)})"
        lines = [f"local function {name}({names})", *body, "end", "", *setup]
        if returns and self.has_print:
            result = fresh_name("result", used)
            lines += [
                f"local {result} = {demo}",
                f"print({result})" if not is_iterator(entry) else f"print(#{result})",
            ]
        else:
            lines.append(demo)
        return Task("function", phrase, "\n".join(lines), [entry.name], function=name)

    def chain_task(self, a: ApiEntry, b: ApiEntry, rng: random.Random) -> Task | None:
        """`a`'s first result passed to `b`: as `b`'s first argument, or as the value `b` (a method) is called on."""
        phrase_a, phrase_b = task_phrase(a), task_phrase(b)
        if not (phrase_a and phrase_b) or a.kind != "function" or b.kind not in CALLABLE or is_iterator(a):
            return None
        if not a.returns or not a.returns[0].type:
            return None
        produced = a.returns[0].type.split("|")[0].strip()
        if produced in ("boolean", "nil", "any", "function", VARARG):
            return None  # a flag or an unknown value is no input a second task would start from
        params_a = mentioned_params(a, phrase_a)
        params_b = mentioned_params(b, phrase_b)
        if params_a is None or params_b is None:
            return None
        used: set[str] = set()
        first = self.concrete_call(a, params_a, used, rng)
        if first is None:
            return None
        goal_a = fill_phrase(phrase_a, first.values)
        result = fresh_name(self.writer.result_names(a, set())[0] if a.returns else "value", used | self.reserved)
        used.add(result)
        lines = [*first.setup, f"local {result} = {first.call}"]
        if ":" in b.name:  # a method of the value `a` made
            if entry_type(b) != produced:
                return None
            second = self.concrete_call(_as_function(b), params_b, used, rng)
            if second is None:
                return None
            call_b = f"{result}:{b.short_name}{second.call[second.call.index('(') :]}"
            goal_b = fill_phrase(phrase_b, second.values)
        else:
            if not params_b or not takes_type(params_b[0], produced) or not passes_on(params_b[0], produced):
                return None
            if f"`{params_b[0].name}`" not in phrase_b:
                return None  # the goal would not say what the result is used for
            second = self.concrete_call(b, params_b, used, rng, first_arg=result)
            if second is None:
                return None
            call_b = second.call
            goal_b = fill_phrase(phrase_b, second.values, {params_b[0].name: rng.choice(["the result", "that"])})
        if goal_a is None or goal_b is None:
            return None
        tables = [line.split()[1] for line in second.setup if line.startswith("local ") and "= {" in line]
        lines += [*second.setup, *self.show(b, call_b, used, tables or ([result] if produced == "table" else []))]
        code = "\n".join(lines)
        return Task("chain", f"{goal_a}, then {goal_b}", code, [a.name, b.name], parts=[goal_a, goal_b])

    def function_name(self, phrase: str, used: set[str]) -> str:
        """verb_noun from the phrase ("get the length of `s`" -> get_length), not shadowing a documented name."""
        words = [w for w in _SPAN.sub(" ", phrase).split() if w.isalpha()]
        verb = words[0].lower() if words else "do"
        noun = next((w.lower() for w in words[1:] if w.lower() not in _STOP_WORDS), "it")
        return fresh_name(f"{verb}_{noun}", used | self.reserved)

    def chains(self, entry: ApiEntry, partners: list[ApiEntry], count: int) -> list[Task]:
        """Up to `count` chains that start at `entry`, partners of the same module first (seeded order)."""
        if count <= 0:
            return []
        rng = random.Random(f"{self.seed}:chains:{entry.name}")
        order = [b for b in partners if b.name != entry.name]
        rng.shuffle(order)
        order.sort(key=lambda b: b.module != entry.module)
        out = []
        for b in order:
            task = self.chain_task(entry, b, rng)
            if task is not None:
                out.append(task)
                if len(out) >= count:
                    break
        return out

    def tasks(self, entry: ApiEntry, partners: list[ApiEntry], chains: int) -> list[Task]:
        """Every candidate task about `entry`: its example paragraphs, its call and function tasks, its chains."""
        rng = random.Random(f"{self.seed}:tasks:{entry.name}")
        found = example_tasks(entry)
        for make in (self.call_task, self.function_task):
            task = make(entry, rng)
            if task is not None:
                found.append(task)
        return found + self.chains(entry, partners, chains)


def takes_type(param: Param, produced: str) -> bool:
    """Whether the parameter's documented type names the produced type (an `any` parameter takes anything, and so
    says nothing about what it is for)."""
    types = {t.strip() for t in param.type.split("|")}
    return produced in types or (produced == "integer" and "number" in types)


def _as_function(entry: ApiEntry) -> ApiEntry:
    """A method entry seen as a plain function (so that its arguments are written without a receiver)."""
    from dataclasses import replace

    return replace(entry, name=entry.short_name, kind="function")
