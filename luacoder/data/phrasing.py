"""Plain-language pieces of an entry for questions and answers: its summary sentence and the task it performs.

    summary(api.get("string.rep"))      # 'Returns a string made of `n` copies of `s`, with `sep` placed between ...'
    task_phrase(api.get("string.rep"))  # 'get a string made of `n` copies of `s`'

A task phrase turns the summary's leading verb into the form a question needs ("How do I get ...?"); entries whose
summary does not start with a verb ("The single entry point ...", "Fires when ...") have none.
"""

from __future__ import annotations

import re

from luacoder.apidocs.schema import VARARG, ApiEntry

MAX_TASK_WORDS = 14
# Verbs whose question form is not the verb itself, and summary openers that are not verbs.
_VERB_BASE = {"returns": "get", "gives": "give", "does": "do", "goes": "go", "has": "have", "reads": "read"}
_NOT_VERBS = {"this", "its", "is", "was", "fires", "as", "has", "like", "unlike", "deprecated", "with", "without"}
_DANGLING = {"that", "which", "and", "or", "to", "of", "the", "a", "an", "with", "when", "where", "by", "for", "in"}
_PARENTHETICAL = re.compile(r"\s*\([^()]*\)")
_SENTENCE_END = re.compile(r"(?<![ .]e\.g)(?<!i\.e)\.(?:\s|$)")


def first_paragraph(text: str) -> str:
    for block in text.split("\n\n"):
        block = block.strip()
        if block and not block.startswith("```"):
            return " ".join(block.split())
    return ""


def summary(entry: ApiEntry) -> str:
    """The description's first sentence, ending with a full stop; the entry's name when it has no description."""
    para = first_paragraph(entry.description)
    if not para:
        return f"`{entry.name}` is documented without a description."
    match = _SENTENCE_END.search(para)
    sentence = para[: match.start()] if match else para.rstrip(".:")
    return sentence.rstrip(":;, ") + "."


def base_verb(word: str) -> str | None:
    low = word.lower()
    if low in _NOT_VERBS or not low.isalpha() or not low.endswith("s") or len(low) < 4:
        return None
    if low in _VERB_BASE:
        return _VERB_BASE[low]
    if low.endswith("ies"):
        return low[:-3] + "y"
    if low.endswith(("sses", "shes", "ches", "xes", "zes", "oes")):
        return low[:-2]
    if low.endswith("ss"):
        return None
    return low[:-1]


def task_phrase(entry: ApiEntry) -> str | None:
    """The summary as an infinitive phrase ("get the length of `s` in bytes"), cut at its first clause."""
    text = summary(entry).rstrip(".")
    words = text.split()
    if len(words) < 3:
        return None
    verbs = [base_verb(words[0])]
    rest = words[1:]
    if len(rest) >= 2 and rest[0] == "or":  # "Gets or sets ...", "Sets or queries ..."
        verbs.append(base_verb(rest[1]))
        rest = rest[2:]
    if any(v is None for v in verbs):
        return None
    clause = _PARENTHETICAL.sub("", " ".join(rest))
    clause = re.split(r",|;|:| - | – ", clause, maxsplit=1)[0].strip()
    clause_words = clause.split()
    if not clause_words or len(clause_words) > MAX_TASK_WORDS or clause.count("`") % 2:
        return None
    if clause_words[-1].lower() in _DANGLING:
        return None
    for i, word in enumerate(clause_words[:-1]):  # "open a file and returns a handle" -> "... and return a handle"
        if word == "and" and (verb := base_verb(clause_words[i + 1])) is not None and clause_words[i + 1].islower():
            clause_words[i + 1] = verb
    clause = " ".join(clause_words)
    return f"{' or '.join(verbs)} {clause}"  # type: ignore[arg-type]


def lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:1].isupper() and not text[1:2].isupper() else text


def starts_with_verb(entry: ApiEntry) -> bool:
    words = summary(entry).split()
    return bool(words) and base_verb(words[0]) is not None


def describe_param(p) -> str:
    name = "`...`" if p.name == VARARG else f"`{p.name}`"
    flag = ", optional" if p.optional and p.name != VARARG else ""
    text = f"- {name} (`{p.type}`{flag})"
    return f"{text}: {_clip(p.description)}" if p.description else text


def describe_return(r) -> str:
    head = f"`{r.name}` (`{r.type}`)" if r.name and r.name != VARARG else f"`{r.type}`"
    if r.name == VARARG:
        head = f"any number of `{r.type}` values"
    return f"- {head}: {_clip(r.description)}" if r.description else f"- {head}"


def arity_text(entry: ApiEntry) -> str:
    fewest, most = entry.arity()
    if most == 0:
        return "no arguments"
    if most == fewest:
        return f"exactly {fewest} argument{'s' if fewest != 1 else ''}"
    if most == float("inf"):
        return f"at least {fewest} argument{'s' if fewest != 1 else ''}"
    return f"{fewest} to {int(most)} arguments"


def _clip(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3].rsplit(" ", 1)[0] + "..."
