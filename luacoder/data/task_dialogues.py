"""Dialogues that ask for a task, not an entry: the user states a goal in one of many wordings, the answer gives a
program that reaches it (luacoder.data.tasks) in one of several shapes.

    writer = TaskDialogueWriter(api)
    writer.dialogue(task, rng, others)   # Dialogue(messages, intent "task_<kind>", entries, key)

The question never has to name an entry; the answer says which documented entries the program uses and what they
do, with the code in one ```lua block: before the code or after it, as a function or as steps, sometimes with what
the program prints (only when two runs in the sandbox printed the same). A second turn may ask for the same task as
a function, or for another way to do it.
"""

from __future__ import annotations

import random

from luacoder.apidocs.schema import ApiSet
from luacoder.data.dialogues import Dialogue, lua_block
from luacoder.data.phrasing import lower_first, starts_with_verb, summary
from luacoder.data.tasks import Task

# -- questions ----------------------------------------------------------------------------------------------------

VERB_GOAL = [
    "How do I {goal}?",
    "How can I {goal} in Lua?",
    "What's the easiest way to {goal}?",
    "I need to {goal}. What should I write?",
    "how to {goal} in lua",
    "Can you show me how to {goal}?",
    "Is there a simple way to {goal}?",
    "I'm trying to {goal}. How would you do it?",
    "Quick question: how would I {goal}?",
    "Write some Lua that will {goal}.",
    "What Lua code lets me {goal}?",
    "Help me {goal}, please.",
    "My script has to {goal}. How?",
    "Could you write a snippet to {goal}?",
    "{Goal}: how is that done?",
    "what's the lua for: {goal}",
    "I'd like to {goal}. Any idea how?",
    "Show how to {goal}.",
]
FUNCTION_GOAL = [
    "Write a function to {goal}.",
    "Can you write a Lua function to {goal}?",
    "I need a helper function to {goal}.",
    "Define a function that can {goal}.",
    "Make me a small function to {goal}.",
    "How would I write a function to {goal}?",
    "write a lua function to {goal}",
    "Give me a reusable function to {goal}.",
]
NOUN_GOAL = [
    "Show me how to do this in Lua: {goal}.",
    "I need Lua code for the following: {goal}.",
    "{Goal}: how would that look in Lua?",
    "Can you write this in Lua? {Goal}.",
    "Task: {goal}. What is the code?",
    "How would you do this: {goal}?",
    "Example needed: {goal}.",
    "lua code for this please: {goal}",
    "I'm stuck on this one: {goal}. Can you help?",
    "What would the Lua look like for this: {goal}?",
]
CHAIN_GOAL = [
    "How do I {a}, then {b}?",
    "I want to {a} and then {b}. How?",
    "First {a}, then {b}: what does the code look like?",
    "Can you write code that will {a} and after that {b}?",
    "In one snippet: {a}, then {b}.",
    "how do i {a} and then {b}",
    "Two steps: {a}; then {b}. How?",
]
PREFIXES = ["", "", "", "", "In Lua, ", "Hi! ", "Hey, ", "One more: "]
FOLLOW_FUNCTION = ["Can you make that a function?", "Could you wrap that in a function I can reuse?", "As a function?"]
FOLLOW_ANOTHER = ["Is there another way?", "Can you show a different approach?", "Any other way to do it?"]

# -- answers ------------------------------------------------------------------------------------------------------

ONE_ENTRY = [
    "`{name}` does this: {clause}",
    "Use `{name}`. {summary}",
    "This is a job for `{name}`; {clause}",
    "You can do it with `{name}`:",
    "`{name}` is what you want. {summary}",
]
SEVERAL_ENTRIES = [
    "This uses {names}.",
    "{names} do the work here.",
    "You need {names}:",
]
FUNCTION_LEAD = [
    "Here is a function `{function}` that does it with `{name}`:",
    "Wrap `{name}` in a small function:",
    "A function that takes {params} and calls `{name}`:",
    "`{function}` below does it; the work is done by `{name}`.",
]
CHAIN_LEAD = [
    "Call `{a}` first and pass its result to `{b}`:",
    "Two calls: `{a}`, then `{b}` on what it returned.",
    "`{a}` gives you the value; `{b}` takes it from there.",
]
STEPS = "1. {one}\n2. {two}"
CODE_FIRST_TAIL = ["", "Here {names} {verb} the work.", "The program above uses {names}."]
OUTPUT = ["It prints:", "Running it prints:", "Output:"]
FOLLOW_FUNCTION_LEAD = ["Sure, as a function:", "Here it is as a function, `{function}`:", "Wrapped in `{function}`:"]
ANOTHER_LEAD = ["Another way:", "You could also do it like this:", "A different approach:"]


def capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def names_text(names: list[str]) -> str:
    quoted = [f"`{n}`" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


class TaskDialogueWriter:
    def __init__(self, api: ApiSet):
        self.api = api

    def clause(self, name: str) -> str:
        """What the entry does as a clause after its name ("returns a copy of ..."), or its summary."""
        entry = self.api.get(name)
        if entry is None:
            return ""
        text = summary(entry)
        return f"it {lower_first(text)}" if starts_with_verb(entry) else text

    def question(self, task: Task, rng: random.Random) -> str:
        if task.kind == "function":
            text = rng.choice(FUNCTION_GOAL).format(goal=task.goal, Goal=capital(task.goal))
        elif task.kind == "chain" and len(task.parts) == 2 and rng.random() < 0.6:
            text = rng.choice(CHAIN_GOAL).format(a=task.parts[0], b=task.parts[1])
        elif task.verb_goal:
            text = rng.choice(VERB_GOAL).format(goal=task.goal, Goal=capital(task.goal))
        else:
            text = rng.choice(NOUN_GOAL).format(goal=task.goal, Goal=capital(task.goal))
        prefix = rng.choice(PREFIXES)
        if prefix and text[:1].isupper() and not text[1:2].isupper() and not text.startswith(("I ", "I'")):
            text = prefix + text[:1].lower() + text[1:]
        return capital(text) if not text.startswith(("how ", "what's", "write ", "lua ")) else text

    def output_note(self, task: Task, rng: random.Random) -> str:
        lines = task.stdout.strip("\n").splitlines()
        if not lines or len(lines) > 4 or any(len(line) > 70 for line in lines):
            return ""
        return f"{rng.choice(OUTPUT)}\n\n```text\n" + "\n".join(lines) + "\n```"

    def answer(self, task: Task, rng: random.Random) -> str:
        entries = [n for n in task.entries if self.api.get(n) is not None]
        code = lua_block(task.code)
        first = entries[0]
        if task.kind == "function":
            params = task.code.split("(", 1)[1].split(")", 1)[0] or "no arguments"
            lead = rng.choice(FUNCTION_LEAD).format(
                function=task.function, name=first, params=f"`{params}`" if params != "no arguments" else params
            )
            tail = capital(self.clause(first))
            body = f"{lead}\n\n{code}\n\n`{first}`: {lower_first(tail)}" if tail else f"{lead}\n\n{code}"
        elif task.kind == "chain" and len(entries) >= 2:
            a, b = entries[:2]
            shape = rng.randrange(3)
            if shape == 0:
                steps = STEPS.format(one=f"`{a}`: {self.clause(a)}", two=f"`{b}`: {self.clause(b)}")
                body = f"{steps}\n\n{code}"
            elif shape == 1:
                body = f"{rng.choice(CHAIN_LEAD).format(a=a, b=b)}\n\n{code}"
            else:
                body = f"{code}\n\nFirst `{a}`: {self.clause(a)} Then `{b}`: {self.clause(b)}"
        elif len(entries) > 1:
            shape = rng.randrange(3)
            lead = rng.choice(SEVERAL_ENTRIES).format(names=names_text(entries[:3]))
            body = f"{capital(lead)}\n\n{code}" if shape < 2 else f"{code}\n\n{capital(lead)}"
        else:
            shape = rng.randrange(4)
            template = rng.choice(ONE_ENTRY)
            entry = self.api.get(first)
            lead = template.format(name=first, clause=self.clause(first), summary=summary(entry) if entry else "")
            if shape in (0, 3):
                body = f"{lead}\n\n{code}"
            elif shape == 1:
                tail = rng.choice(CODE_FIRST_TAIL).format(names=f"`{first}`", verb="does")
                body = f"{code}\n\n{tail}" if tail else code
            else:
                body = f"{code}\n\n{lead.rstrip(':')}"
        note = self.output_note(task, rng) if rng.random() < 0.5 else ""
        return f"{body.rstrip()}\n\n{note}" if note else body.rstrip()

    def dialogue(
        self, task: Task, rng: random.Random, others: list[Task], multi_turn_fraction: float = 0.3
    ) -> Dialogue:
        """A question for the task and its answer; with `multi_turn_fraction`, a follow-up that asks for it as a
        function or another way (one of `others`, tasks about the same entry)."""
        messages = [
            {"role": "user", "content": self.question(task, rng)},
            {"role": "assistant", "content": self.answer(task, rng)},
        ]
        if others and rng.random() < multi_turn_fraction:
            functions = [t for t in others if t.kind == "function" and task.kind != "function"]
            if functions:
                follow = rng.choice(functions)
                question = rng.choice(FOLLOW_FUNCTION)
                reply = rng.choice(FOLLOW_FUNCTION_LEAD).format(function=follow.function)
            else:
                follow = rng.choice(others)
                question = rng.choice(FOLLOW_ANOTHER)
                reply = rng.choice(ANOTHER_LEAD)
            messages += [
                {"role": "user", "content": question},
                {"role": "assistant", "content": f"{reply}\n\n{lua_block(follow.code)}"},
            ]
        return Dialogue(messages, f"task_{task.kind}", list(task.entries), key=task.key)
