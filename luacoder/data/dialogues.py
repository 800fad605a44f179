"""Dialogues about a documented API, generated from api.json: questions in many phrasings, short Markdown answers
with one ```lua block whose code is taken from a bank of checked snippets.

Intents: how to use an entry (by name, or by the task it performs), what it returns, what it takes, fixing a call
with the wrong number of arguments, its optional arguments, its method form, fields and metamethods, combining two
entries, and follow-up questions in a second turn. Every question template has several wordings, and the answer's
opening sentence varies too, so that no single template dominates.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from luacoder.apidocs.call_forms import split_top
from luacoder.apidocs.schema import VARARG, ApiEntry
from luacoder.data.phrasing import (
    arity_text,
    describe_param,
    describe_return,
    lower_first,
    starts_with_verb,
    summary,
    task_phrase,
)
from luacoder.data.usage import UsageWriter, method_aliases

# -- question wordings -------------------------------------------------------------------------------------------

HOW_NAME = [
    "How do I use {name}?",
    "Can you show me how to call `{name}`?",
    "Show me an example of {name} in Lua.",
    "What's the right way to call {name}?",
    "I'm not sure how {name} works. Could you give me a short example?",
    "Give me a Lua snippet that uses {name}.",
    "how to use {name}",
    "Example of `{name}` please",
    "Could you demonstrate {name}?",
    "I need to call {name} from my script. What does that look like?",
    "What does a call to `{name}` look like?",
    "Quick example for {name}?",
]
HOW_TASK = [
    "How do I {task}?",
    "How can I {task} in Lua?",
    "What's the function to {task}?",
    "Is there a way to {task}?",
    "I want to {task}. Which function should I use?",
    "In Lua, how would you {task}?",
    "how can i {task}",
    "Which function lets me {task}?",
    "I need to {task}. How?",
    "What should I call to {task}?",
]
RETURNS = [
    "What does {name} return?",
    "What do I get back from `{name}`?",
    "What are the return values of {name}?",
    "What's the result of calling {name}?",
    "what does {name} give back",
    "Which values does `{name}` return?",
]
PARAMS = [
    "What arguments does {name} take?",
    "What parameters does `{name}` expect?",
    "Explain the parameters of {name}.",
    "What do I pass to {name}?",
    "Which arguments go into `{name}`?",
    "what args does {name} need",
]
FIX = [
    "This call fails:\n\n```lua\n{bad}\n```\n\nWhat is wrong?",
    "Why doesn't this work?\n\n```lua\n{bad}\n```",
    "I wrote this but it errors. Can you fix it?\n\n```lua\n{bad}\n```",
    "Fix this Lua code:\n\n```lua\n{bad}\n```",
    "Is this call to {name} right?\n\n```lua\n{bad}\n```",
    "My {name} call is wrong somewhere:\n\n```lua\n{bad}\n```",
]
OPTIONAL = [
    "Which arguments of {name} are optional?",
    "Can I pass {optional} to {name}?",
    "Show me {name} with its optional arguments.",
    "How do I call `{name}` with {optional}?",
    "What happens if I also give {name} {optional}?",
]
METHOD = [
    "Can I call {name} with method syntax?",
    "How do I write {name} as a method call?",
    "Is there a method form of `{name}`?",
    "Can I use `{alias}` instead of {name}?",
]
FIELD = [
    "What is {name}?",
    "What does {name} hold?",
    "How do I read `{name}`?",
    "What's in {name}?",
    "Tell me about {name}.",
    "Show me how to use {name}.",
]
EVENT = [
    "How do I use the {name} metamethod?",
    "What is `{name}` for in a metatable?",
    "Show me an example of {name}.",
    "When does Lua call {name}?",
    "Explain the `{name}` metamethod with an example.",
]
COMBINE = [
    "How do I use {a} together with {b}?",
    "Show me code that calls {a} and then {b}.",
    "Can you combine `{a}` and `{b}` in one snippet?",
    "Write a short example using both {a} and {b}.",
    "I need {a} and {b} in the same script. How would that look?",
]
COMBINE_TASK = [
    "How do I {task_a} and then {task_b}?",
    "I want to {task_a}, then {task_b}. Can you show me?",
]
FOLLOW_RETURNS = ["And what does it return?", "What does that give back?", "What are its return values?"]
FOLLOW_PARAMS = ["What arguments does it take?", "Which parameters does it have?", "What can I pass to it?"]
FOLLOW_OPTIONAL = [
    "Can I pass the optional arguments too?",
    "How would it look with {optional}?",
    "Thanks! And with {optional}?",
]
FOLLOW_METHOD = ["Can I write that as a method call?", "Is there a shorter method form?"]
FOLLOW_AGAIN = ["Can you show another example?", "One more example, please.", "Could you show it differently?"]

# -- answer openings ----------------------------------------------------------------------------------------------

OPEN_NAME = [
    "`{name}` {summary_vp}",
    "Call it as `{signature}`. {summary}",
    "Here is a short example of `{name}`:",
    "{summary} Its signature is `{signature}`.",
    "You call it as `{signature}`:",
]
OPEN_TASK = [
    "Use `{name}`: it {summary_vp_plain}",
    "`{name}` does that. {summary}",
    "That is `{signature}`.",
    "Call `{name}`. {summary}",
    "You want `{name}`:",
]
ANOTHER = ["Here is another way:", "Another example:", "Sure, here is a different one:"]


def lua_block(code: str) -> str:
    return f"```lua\n{code.strip()}\n```"


@dataclass
class Snippet:
    entry: str
    kind: str  # example, required, optional, method, combined
    code: str
    status: str = "passed"  # the execution verdict: passed, needs-host, not-run


@dataclass
class Dialogue:
    messages: list[dict[str, str]]
    intent: str
    entries: list[str]  # the API entries it is about, the primary one first
    key: str = ""  # the dialogue id: rows with the same key are paraphrases of one another


@dataclass
class DialogueWriter:
    writer: UsageWriter
    bank: dict[str, list[Snippet]]  # checked snippets per entry
    multi_turn_fraction: float = 0.3
    intents: dict[str, Callable] = field(init=False)

    def __post_init__(self) -> None:
        self.intents = {
            "how_name": self.how_name,
            "how_task": self.how_task,
            "returns": self.returns,
            "params": self.params,
            "fix": self.fix,
            "optional": self.optional,
            "method": self.method,
            "field": self.field_entry,
            "event": self.event,
        }

    # -- helpers --------------------------------------------------------------------------------------------------

    def snippets(self, entry: ApiEntry, kinds: tuple[str, ...] = ()) -> list[Snippet]:
        found = self.bank.get(entry.name, [])
        return [s for s in found if s.kind in kinds] if kinds else list(found)

    def pick(self, rng: random.Random, entry: ApiEntry, kinds: tuple[str, ...] = ()) -> Snippet | None:
        found = self.snippets(entry, kinds)
        return rng.choice(found) if found else None

    @staticmethod
    def fill(template: str, entry: ApiEntry, **extra: str) -> str:
        text = summary(entry)
        vp = lower_first(text) if starts_with_verb(entry) else None
        values = {
            "name": entry.name,
            "signature": entry.signature,
            "summary": text,
            "summary_vp": vp or f"works like this. {text}",
            "summary_vp_plain": vp or f"is the one. {text}",
            **extra,
        }
        return template.format(**values)

    def answer(self, rng: random.Random, openings: list[str], entry: ApiEntry, code: str, **extra: str) -> str:
        return f"{self.fill(rng.choice(openings), entry, **extra)}\n\n{lua_block(code)}"

    def applicable(self, entry: ApiEntry) -> list[str]:
        """The intents that make sense for an entry and have checked code to answer with."""
        if not self.snippets(entry):
            return []
        if entry.kind == "field":
            return ["field"]
        if entry.kind == "event":
            return ["event"]
        out = ["how_name", "returns", "params"]
        if task_phrase(entry):
            out.append("how_task")
        if self.broken_call(entry) is not None:
            out.append("fix")
        if self.snippets(entry, ("optional",)):
            out.append("optional")
        if self.snippets(entry, ("method",)):
            out.append("method")
        if not entry.params:
            out.remove("params")
        return out

    def broken_call(self, entry: ApiEntry, rng: random.Random | None = None) -> tuple[str, str] | None:
        """(code with a call that passes a wrong number of arguments, what is wrong) or None."""
        parts = self.writer.call_parts(entry, "required", set())
        if parts is None or "(" not in parts.call:
            return None
        fewest, most = entry.arity()
        callee, _, args = parts.call.partition("(")
        values = [a for a in _split_args(args[:-1])]
        choices = []
        if fewest > 0 and values:
            choices.append(("missing", values[:-1]))
        if most != float("inf") and len(values) == fewest == most:
            choices.append(("extra", [*values, '"extra"']))
        if not choices:
            return None
        what, wrong = (rng or random.Random(0)).choice(choices)
        bad = "\n".join([*parts.setup, f"{callee}({', '.join(wrong)})"])
        return bad, what

    # -- intents: each returns (question, answer) -------------------------------------------------------------------

    def how_name(self, rng: random.Random, entry: ApiEntry) -> tuple[str, str] | None:
        snippet = self.pick(rng, entry)
        if snippet is None:
            return None
        return self.fill(rng.choice(HOW_NAME), entry), self.answer(rng, OPEN_NAME, entry, snippet.code)

    def how_task(self, rng: random.Random, entry: ApiEntry) -> tuple[str, str] | None:
        task = task_phrase(entry)
        snippet = self.pick(rng, entry)
        if task is None or snippet is None:
            return None
        question = rng.choice(HOW_TASK).format(task=task)
        return question[:1].upper() + question[1:], self.answer(rng, OPEN_TASK, entry, snippet.code)

    def returns(self, rng: random.Random, entry: ApiEntry, question: str | None = None) -> tuple[str, str] | None:
        snippet = self.pick(rng, entry, ("required", "optional", "method")) or self.pick(rng, entry)
        if snippet is None:
            return None
        if entry.returns:
            lines = "\n".join(describe_return(r) for r in entry.returns)
            count = len(entry.returns)
            head = f"`{entry.name}` returns {'one value' if count == 1 else f'{count} values'}:\n\n{lines}"
        else:
            head = f"`{entry.name}` returns nothing; you call it for its effect."
        question = question or self.fill(rng.choice(RETURNS), entry)
        return question, f"{head}\n\n{lua_block(snippet.code)}"

    def params(self, rng: random.Random, entry: ApiEntry, question: str | None = None) -> tuple[str, str] | None:
        snippet = self.pick(rng, entry, ("required", "optional", "method")) or self.pick(rng, entry)
        if snippet is None or not entry.params:
            return None
        lines = "\n".join(describe_param(p) for p in entry.params)
        head = f"The signature is `{entry.signature}`; it takes {arity_text(entry)}:\n\n{lines}"
        question = question or self.fill(rng.choice(PARAMS), entry)
        return question, f"{head}\n\n{lua_block(snippet.code)}"

    def fix(self, rng: random.Random, entry: ApiEntry) -> tuple[str, str] | None:
        broken = self.broken_call(entry, rng)
        snippet = self.pick(rng, entry, ("required",)) or self.pick(rng, entry)
        if broken is None or snippet is None:
            return None
        bad, what = broken
        question = self.fill(rng.choice(FIX), entry, bad=bad)
        problem = "an argument is missing" if what == "missing" else "it passes one argument too many"
        head = f"`{entry.name}` takes {arity_text(entry)} (`{entry.signature}`), so {problem}. A correct call:"
        return question, f"{head}\n\n{lua_block(snippet.code)}"

    def optional(self, rng: random.Random, entry: ApiEntry, question: str | None = None) -> tuple[str, str] | None:
        snippet = self.pick(rng, entry, ("optional",))
        names = [p.name for p in entry.params if p.optional and p.name != VARARG]
        if snippet is None or not any(p.optional for p in entry.params):
            return None
        optional_text = " and ".join(f"`{n}`" for n in names) if names else "extra arguments"
        question = question or self.fill(rng.choice(OPTIONAL), entry, optional=optional_text)
        details = "\n".join(describe_param(p) for p in entry.params if p.optional)
        head = f"In `{entry.signature}` the optional arguments are:\n\n{details}\n\nWith them:"
        return question, f"{head}\n\n{lua_block(snippet.code)}"

    def method(self, rng: random.Random, entry: ApiEntry, question: str | None = None) -> tuple[str, str] | None:
        snippet = self.pick(rng, entry, ("method",))
        aliases = method_aliases(entry)
        if snippet is None or not aliases:
            return None
        question = question or self.fill(rng.choice(METHOD), entry, alias=aliases[0])
        head = f"Yes: `{aliases[0]}` is the same call as `{entry.name}`, with the first argument before the colon."
        return question, f"{head}\n\n{lua_block(snippet.code)}"

    def field_entry(self, rng: random.Random, entry: ApiEntry) -> tuple[str, str] | None:
        snippet = self.pick(rng, entry)
        if snippet is None:
            return None
        return self.fill(rng.choice(FIELD), entry), f"{summary(entry)}\n\n{lua_block(snippet.code)}"

    def event(self, rng: random.Random, entry: ApiEntry) -> tuple[str, str] | None:
        snippet = self.pick(rng, entry)
        if snippet is None:
            return None
        return self.fill(rng.choice(EVENT), entry), f"{summary(entry)}\n\n{lua_block(snippet.code)}"

    def follow_up(self, rng: random.Random, entry: ApiEntry, first_code: str) -> tuple[str, str] | None:
        options = []
        if entry.kind in ("function", "method"):
            options.append(("returns", FOLLOW_RETURNS))
            if entry.params:
                options.append(("params", FOLLOW_PARAMS))
            if self.snippets(entry, ("optional",)):
                options.append(("optional", FOLLOW_OPTIONAL))
            if self.snippets(entry, ("method",)):
                options.append(("method", FOLLOW_METHOD))
        others = [s for s in self.snippets(entry) if s.code != first_code]
        if others:
            options.append(("again", FOLLOW_AGAIN))
        if not options:
            return None
        intent, wordings = rng.choice(options)
        names = [p.name for p in entry.params if p.optional and p.name != VARARG]
        question = rng.choice(wordings).format(optional=" and ".join(f"`{n}`" for n in names) or "extra arguments")
        if intent == "again":
            return question, f"{rng.choice(ANOTHER)}\n\n{lua_block(rng.choice(others).code)}"
        return self.intents[intent](rng, entry, question=question)

    # -- dialogues ------------------------------------------------------------------------------------------------

    def dialogues(self, entry: ApiEntry, count: int, rng: random.Random) -> list[Dialogue]:
        """Up to `count` different dialogues about one entry, the intents taken in turn in a shuffled order."""
        intents = self.applicable(entry)
        if not intents or count <= 0:
            return []
        out = []
        seen: set[str] = set()  # an entry with few wordings and snippets gets fewer dialogues, not copies
        order: list[str] = []
        attempts = 0
        while len(out) < count and attempts < count * 4:
            attempts += 1
            if not order:
                order = list(intents)
                rng.shuffle(order)
            intent = order.pop()
            qa = self.intents[intent](rng, entry)
            if qa is None:
                continue
            messages = [{"role": "user", "content": qa[0]}, {"role": "assistant", "content": qa[1]}]
            if intent not in ("fix",) and rng.random() < self.multi_turn_fraction:
                follow = self.follow_up(rng, entry, _code_of(qa[1]))
                if follow is not None:
                    messages += [{"role": "user", "content": follow[0]}, {"role": "assistant", "content": follow[1]}]
            text = "\x00".join(m["content"] for m in messages)
            if text in seen:
                continue
            seen.add(text)
            out.append(Dialogue(messages, intent, [entry.name], key=f"{entry.name}#{intent}"))
        return out

    def combined(self, rng: random.Random, a: ApiEntry, b: ApiEntry, code: str) -> Dialogue:
        task_a, task_b = task_phrase(a), task_phrase(b)
        if task_a and task_b and rng.random() < 0.4:
            question = rng.choice(COMBINE_TASK).format(task_a=task_a, task_b=task_b)
        else:
            question = rng.choice(COMBINE).format(a=a.name, b=b.name)
        head = rng.choice(
            [
                f"Call `{a.name}` first, then `{b.name}`:",
                f"Here `{a.signature}` runs first and `{b.signature}` after it:",
                f"`{a.name}` and `{b.name}` work together like this:",
            ]
        )
        messages = [
            {"role": "user", "content": question[:1].upper() + question[1:]},
            {"role": "assistant", "content": f"{head}\n\n{lua_block(code)}"},
        ]
        return Dialogue(messages, "combine", [a.name, b.name], key=f"{a.name}+{b.name}#combine")


def _split_args(text: str) -> list[str]:
    """Top-level comma-separated arguments of a call we wrote ourselves (literals, tables, functions)."""
    out = [part.strip() for part in split_top(text)]
    if out and not out[-1]:
        out.pop()
    # `function(...) return ... end` has no brackets around its body: rejoin what a comma inside it split.
    joined: list[str] = []
    for part in out:
        if joined and joined[-1].startswith("function") and not joined[-1].endswith("end"):
            joined[-1] += ", " + part
        else:
            joined.append(part)
    return joined


def _code_of(answer: str) -> str:
    start = answer.find("```lua\n")
    end = answer.find("\n```", start + 7)
    return answer[start + 7 : end] if start >= 0 and end > start else ""
