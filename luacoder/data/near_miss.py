"""Questions about functions an API does not have, answered with what it does offer, so that a model learns to say
"there is no such function" instead of inventing one.

    finder = NearMissFinder(api, index)
    misses = finder.misses()      # Miss(fake="string.toUpper", real=["string.upper"], how="synonym", intent=...)

The invented names are the ones models invent (the grader's hallucinations), built for any API from its own names:

- **synonym**: a documented name with a word that other languages use for the same thing (`toUpper` for `upper`,
  `length` for `len`, `join` for `concat`, `create` for `new`, `delete` for `remove`);
- **style**: the same words in another naming style (`new_rect` for `newRect`, `tcpBind` for `tcp_bind`);
- **module**: a documented function under a sibling module (one that documents some of the same names, and works
  on the same kind of value: `utf8.upper` beside `string.upper`, since both have `len` and `char`);
- **common**: a helper many languages have and the API lacks (`split`, `trim`, `startswith`, `contains`, `round`,
  `keys`, ...), under a module whose functions work on that kind of value; the answer names the documented entries
  that come closest (by the words of their descriptions) and shows one of them.

No invented name is documented, an alias, or part of the standard library under the API (luacoder.grading).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field

from luacoder.apidocs.schema import VARARG, ApiEntry, ApiSet
from luacoder.data.phrasing import summary, task_phrase
from luacoder.grading.api_index import ApiIndex

CALLABLE = ("function", "method")
# word -> words other languages use for it (a name's words, split at "_" and at camelCase humps)
SYNONYMS: dict[str, list[str]] = {
    "len": ["length", "size"],
    "length": ["len", "size"],
    "size": ["length", "count"],
    "upper": ["toUpper", "uppercase", "toUpperCase"],
    "lower": ["toLower", "lowercase", "toLowerCase"],
    "rep": ["repeat"],
    "sub": ["substr", "substring", "slice"],
    "concat": ["join"],
    "insert": ["add", "append", "push"],
    "remove": ["delete", "pop", "erase"],
    "find": ["indexOf", "search"],
    "format": ["sprintf", "printf"],
    "gsub": ["replace", "replaceAll"],
    "byte": ["ord", "charCodeAt"],
    "char": ["chr", "fromCharCode"],
    "new": ["create", "make"],
    "create": ["new", "make"],
    "get": ["fetch", "read"],
    "set": ["put", "assign"],
    "tostring": ["toString", "str"],
    "tonumber": ["toNumber", "parseInt", "parseFloat"],
    "type": ["typeof"],
    "max": ["maximum"],
    "min": ["minimum"],
    "abs": ["absolute"],
    "sqrt": ["squareRoot"],
    "random": ["rand", "randint"],
    "lines": ["readLines", "readlines"],
    "print": ["println", "echo"],
    "error": ["throw", "raise"],
    "exit": ["quit"],
    "sort": ["sorted"],
    "reverse": ["reversed"],
    "getenv": ["getEnv", "env"],
    "open": ["fopen"],
    "close": ["fclose"],
    "start": ["begin", "run"],
    "stop": ["end", "halt"],
    "show": ["display"],
    "hide": ["conceal"],
    "destroy": ["delete", "free"],
}
# name -> (what it would do, the kind of value it works on, words its closest documented relatives' docs use)
COMMON: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "split": ("split a string into pieces at a separator", "string", ("split", "separator", "iterator", "matches")),
    "trim": ("remove the white space at both ends of a string", "string", ("space", "captures", "match", "replaced")),
    "strip": ("remove the white space around a string", "string", ("space", "captures", "match", "replaced")),
    "startswith": ("check whether a string starts with a prefix", "string", ("start", "part", "find", "first")),
    "endswith": ("check whether a string ends with a suffix", "string", ("end", "part", "find", "last")),
    "contains": ("check whether a string contains some text", "string", ("find", "first", "match", "occurrence")),
    "capitalize": ("make the first letter of a string upper case", "string", ("upper", "case", "part", "letter")),
    "count": ("count how often a pattern occurs in a string", "string", ("number", "matches", "replaced", "count")),
    "keys": ("get the keys of a table", "table", ("keys", "next", "traverse", "fields")),
    "values": ("get the values of a table as a list", "table", ("values", "elements", "next", "fields")),
    "map": ("apply a function to every element of a list", "table", ("elements", "list", "function", "each")),
    "filter": ("keep the elements of a list that pass a test", "table", ("elements", "remove", "list", "position")),
    "indexOf": ("find the position of a value in a list", "table", ("position", "element", "elements", "list")),
    "contains_value": ("check whether a list holds a value", "table", ("elements", "element", "list", "value")),
    "copy": ("make a copy of a list", "table", ("copy", "elements", "move", "new")),
    "merge": ("add the elements of one list to another", "table", ("elements", "insert", "move", "copy")),
    "sum": ("add up the numbers in a list", "table", ("elements", "list", "values", "numbers")),
    "isEmpty": ("check whether a table is empty", "table", ("next", "empty", "elements", "fields")),
    "round": ("round a number to the nearest integer", "number", ("integer", "nearest", "largest", "smallest")),
    "clamp": ("keep a number between a lower and an upper bound", "number", ("largest", "smallest", "value")),
    "sign": ("get the sign of a number", "number", ("absolute", "value", "negative", "integer")),
    "readAll": ("read a whole file into a string", "file", ("read", "contents", "formats", "whole")),
    "exists": ("check whether a file exists", "file", ("open", "file", "exists", "name")),
    "sleep": ("pause the program for some seconds", "any", ("seconds", "time", "clock", "wait")),
}
# Helpers that the Lua language and its standard library (the base layer under every API here) write in a few
# lines: the answer to a question about a missing helper shows one, so the model learns to write it, not to call it.
HELPERS: dict[str, str] = {
    "split": """local function split(s, sep)
  local parts = {}
  for piece in string.gmatch(s, "([^" .. sep .. "]+)") do
    parts[#parts + 1] = piece
  end
  return parts
end

local parts = split("a,b,c", ",")
print(#parts, parts[1], parts[3])""",
    "trim": """local function trim(s)
  return (string.match(s, "^%s*(.-)%s*$"))
end

print("[" .. trim("  padded  ") .. "]")""",
    "strip": """local function strip(s)
  return (string.gsub(s, "^%s+", ""):gsub("%s+$", ""))
end

print("[" .. strip("  padded  ") .. "]")""",
    "startswith": """local function startswith(s, prefix)
  return string.sub(s, 1, #prefix) == prefix
end

print(startswith("filename.lua", "file"), startswith("filename.lua", "lua"))""",
    "endswith": """local function endswith(s, suffix)
  return suffix == "" or string.sub(s, -#suffix) == suffix
end

print(endswith("filename.lua", ".lua"), endswith("filename.lua", ".txt"))""",
    "contains": """local function contains(s, text)
  return string.find(s, text, 1, true) ~= nil
end

print(contains("hello world", "o w"), contains("hello world", "xyz"))""",
    "capitalize": """local function capitalize(s)
  return (string.gsub(s, "^%l", string.upper))
end

print(capitalize("lua"))""",
    "count": """local function count(s, pattern)
  local _, n = string.gsub(s, pattern, "")
  return n
end

print(count("banana", "a"))""",
    "keys": """local function keys(t)
  local out = {}
  for k in pairs(t) do
    out[#out + 1] = k
  end
  return out
end

print(#keys({x = 1, y = 2}))""",
    "values": """local function values(t)
  local out = {}
  for _, v in pairs(t) do
    out[#out + 1] = v
  end
  return out
end

print(#values({x = 1, y = 2}))""",
    "map": """local function map(list, f)
  local out = {}
  for i, v in ipairs(list) do
    out[i] = f(v)
  end
  return out
end

local doubled = map({1, 2, 3}, function(x) return x * 2 end)
print(doubled[1], doubled[3])""",
    "filter": """local function filter(list, keep)
  local out = {}
  for _, v in ipairs(list) do
    if keep(v) then
      out[#out + 1] = v
    end
  end
  return out
end

local even = filter({1, 2, 3, 4}, function(x) return x % 2 == 0 end)
print(#even, even[1])""",
    "indexOf": """local function indexOf(list, value)
  for i, v in ipairs(list) do
    if v == value then
      return i
    end
  end
  return nil
end

print(indexOf({"a", "b", "c"}, "b"), indexOf({"a"}, "z"))""",
    "contains_value": """local function contains(list, value)
  for _, v in ipairs(list) do
    if v == value then
      return true
    end
  end
  return false
end

print(contains({1, 2, 3}, 2), contains({1, 2, 3}, 5))""",
    "copy": """local function copy(list)
  local out = {}
  for i, v in ipairs(list) do
    out[i] = v
  end
  return out
end

local a = {1, 2, 3}
local b = copy(a)
b[1] = 99
print(a[1], b[1])""",
    "merge": """local function merge(a, b)
  for _, v in ipairs(b) do
    a[#a + 1] = v
  end
  return a
end

print(#merge({1, 2}, {3, 4}))""",
    "sum": """local function sum(list)
  local total = 0
  for _, v in ipairs(list) do
    total = total + v
  end
  return total
end

print(sum({1, 2, 3.5}))""",
    "isEmpty": """local function isEmpty(t)
  return next(t) == nil
end

print(isEmpty({}), isEmpty({1}))""",
    "round": """local function round(x)
  return math.floor(x + 0.5)
end

print(round(2.5), round(-1.2))""",
    "clamp": """local function clamp(x, low, high)
  return math.max(low, math.min(high, x))
end

print(clamp(15, 0, 10), clamp(-3, 0, 10))""",
    "sign": """local function sign(x)
  if x > 0 then return 1 elseif x < 0 then return -1 else return 0 end
end

print(sign(-4), sign(0), sign(2.5))""",
}
_HUMPS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_WORD = re.compile(r"[a-z]+")


@dataclass
class Miss:
    fake: str  # the invented name, as a caller would write it (`string.toUpper`, `file:readAll`)
    how: str  # synonym, style, module, common
    real: list[str]  # the documented entries the answer points to, best first
    intent: str = ""  # what the caller wants, in words (a common helper's task, the real entry's task phrase)
    group: str = field(default="")  # the split group: the first real entry
    helper: str = ""  # for a common helper, a program that writes it in plain Lua (HELPERS)

    def __post_init__(self) -> None:
        self.group = self.group or self.real[0]


def words_of(name: str) -> list[str]:
    """`newImageRect` -> [new, Image, Rect]; `tcp_bind` -> [tcp, bind]."""
    return [w for part in name.split("_") for w in _HUMPS.findall(part)]


def join_like(words: list[str], style_of: str) -> str:
    """The words joined in the naming style of `style_of` (snake_case, camelCase, or run together)."""
    if "_" in style_of:
        return "_".join(w.lower() for w in words)
    if any(c.isupper() for c in style_of[1:]):
        return words[0][:1].lower() + words[0][1:] + "".join(w[:1].upper() + w[1:] for w in words[1:])
    return "".join(w.lower() for w in words) if len(words) > 1 and all(w.islower() for w in words) else words[0]


def split_name(name: str) -> tuple[str, str, str]:
    """(owner, separator, short name): `string.rep` -> (string, ., rep); `file:read` -> (file, :, read)."""
    for sep in (":", "."):
        if sep in name:
            owner, short = name.rsplit(sep, 1)
            return owner, sep, short
    return "", "", name


class NearMissFinder:
    def __init__(self, api: ApiSet, index: ApiIndex, usable: set[str]):
        """`usable`: the entries an answer can show code for (those with checked code). The standard library under
        the API (the index's base layer) takes part in the common helpers, which an answer writes in plain Lua."""
        self.api, self.index = api, index
        self.entries = [e for e in api if e.kind in CALLABLE and e.name in usable]
        self.owners: dict[str, list[ApiEntry]] = {}
        for entry in self.entries:
            owner, _, _ = split_name(entry.name)
            if owner:
                self.owners.setdefault(owner, []).append(entry)
        self.base_owners: dict[str, list[ApiEntry]] = {}
        names = {e.name for e in api}
        for entry in index.base.entries.values() if index.base is not None else ():
            owner, _, _ = split_name(entry.name)
            if owner and entry.kind in CALLABLE and entry.name not in names and owner not in self.owners:
                self.base_owners.setdefault(owner, []).append(entry)

    def taken(self, name: str) -> bool:
        """Whether a caller writing `name` would call something that exists (documented, an alias, standard)."""
        plain = name.replace(":", ".")
        return self.index.known(name) or self.index.known(plain) or self.index.canonical(name) is not None

    def misses(self) -> list[Miss]:
        """Every invented name, each once, in a stable order."""
        found: dict[str, Miss] = {}
        for entry in self.entries:
            for miss in self.variants(entry):
                found.setdefault(miss.fake, miss)
        for miss in self.common():
            found.setdefault(miss.fake, miss)
        return list(found.values())

    def variants(self, entry: ApiEntry) -> list[Miss]:
        owner, sep, short = split_name(entry.name)
        words = words_of(short)
        intent = task_phrase(entry) or ""
        out = []

        def add(new_short: str, how: str) -> None:
            fake = f"{owner}{sep}{new_short}"
            if new_short and new_short != short and not self.taken(fake):
                out.append(Miss(fake, how, [entry.name], intent))

        for i, word in enumerate(words):
            for other in SYNONYMS.get(word.lower(), []):
                if len(words) == 1:
                    add(other, "synonym")  # as other languages write it: `toUpper`, `substring`
                else:
                    add(join_like([*words[:i], *words_of(other), *words[i + 1 :]], short), "synonym")
        if len(words) > 1:
            snake = "_".join(w.lower() for w in words)
            camel = words[0].lower() + "".join(w[:1].upper() + w[1:].lower() for w in words[1:])
            add(camel if "_" in short else snake, "style")
        subject = self.subject(owner)
        if sep == "." and subject != "any":
            # The function under another module that works on the same kind of value (`utf8.format`); one per entry.
            shorts = {e.short_name for e in self.owners[owner]}
            others = [o for o in sorted(self.owners) if o != owner and self.subject(o) == subject]
            # siblings only: modules that document some of the same names (`string.len`, `utf8.len`)
            others = [o for o in others if shorts & {e.short_name for e in self.owners[o]}]
            others = [o for o in others if not any(e.short_name == short for e in self.owners[o])]
            if others:
                other = random.Random(f"module:{entry.name}").choice(others)
                if not self.taken(f"{other}.{short}"):
                    out.append(Miss(f"{other}.{short}", "module", [entry.name], intent))
        return out

    def subject(self, owner: str) -> str:
        """The kind of value an owner's functions mostly take first: string, table, number, a type name, or any."""
        counts: Counter = Counter()
        for entry in self.owners.get(owner) or self.base_owners.get(owner, []):
            if ":" in entry.name:
                counts[owner] += 1
                continue
            first = next((p for p in entry.params if p.name != VARARG), None)
            kind = first.type.split("|")[0].strip() if first is not None else "any"
            counts["number" if kind in ("integer", "float") else kind] += 1
        if not counts:
            return "any"
        kind, n = counts.most_common(1)[0]
        return kind if n * 2 >= sum(counts.values()) else "any"

    def score(self, entry: ApiEntry, keywords: tuple[str, ...]) -> int:
        """How many of the keywords the entry's name and summary use."""
        text = set(_WORD.findall(f"{' '.join(words_of(entry.short_name))} {summary(entry)}".lower()))
        return sum(1 for k in keywords if k in text)

    def closest(self, owner: str, keywords: tuple[str, ...], limit: int = 2) -> list[str]:
        """The entries whose name and summary share the most keywords (at least one; the owner's own count one
        more), best first."""
        scored = []
        for entry in self.entries + self.base_owners.get(owner, []):
            score = self.score(entry, keywords)
            if score:
                scored.append((-(score + (split_name(entry.name)[0] == owner)), entry.name))
        ranked = sorted(scored)
        return [name for score, name in ranked[:limit] if score <= ranked[0][0] + 1]

    def common(self) -> list[Miss]:
        """Each common helper under the owners whose functions work on its kind of value and come closest to it."""
        out = []
        owners = {**self.owners, **self.base_owners}
        for name, (intent, wanted, keywords) in COMMON.items():
            candidates = []
            for owner, members in sorted(owners.items()):
                if wanted != "any" and self.subject(owner) != wanted:
                    continue
                if owner in self.base_owners and name not in HELPERS:
                    continue  # the standard library's own entries have no checked code here
                best = max(self.score(e, keywords) for e in members)
                if best:
                    candidates.append((best, owner))
            top = max((c[0] for c in candidates), default=0)
            for best, owner in candidates:
                if best < top:
                    continue
                short = name.removesuffix("_value")
                sep = ":" if ":" in owners[owner][0].name else "."
                fake = f"{owner}{sep}{short}"
                real = self.closest(owner, keywords)
                if real and not self.taken(fake):
                    out.append(Miss(fake, "common", real, intent, helper=HELPERS.get(name, "")))
        return out


# -- dialogues ------------------------------------------------------------------------------------------------------

ASK = [
    "How do I use `{fake}`?",
    "What does `{fake}` return?",
    "What arguments does {fake} take?",
    "Show me an example of {fake}.",
    "Is there a `{fake}` function?",
    'I called `{fake}` and got "attempt to call a nil value". What is wrong?',
    "Does {fake} exist?",
    "how to use {fake}",
    "Can you explain what {fake} does?",
]
ASK_TASK = [
    "How do I {intent} with `{fake}`?",
    "Can I use `{fake}` to {intent}?",
    "I want to {intent}. Should I call `{fake}`?",
    "What's the {fake} call to {intent}?",
]
NOT_THERE = [
    "There is no `{fake}`.",
    "`{fake}` is not a documented function.",
    "`{fake}` does not exist in this API.",
    "Nothing called `{fake}` is documented.",
    "That function doesn't exist: `{fake}` is not part of the API.",
]
INSTEAD = [
    "The documented function is `{real}`: {clause}",
    "Use `{real}` instead; {clause}",
    "What you want is `{real}`. {summary}",
    "You are probably thinking of `{real}`. {summary}",
]
INSTEAD_COMMON = [
    "To {intent}, use what the API has: {names}.",
    "The documented functions that come closest are {names}.",
    "For that, the API offers {names}.",
]
WRITE_IT = [
    "To {intent}, write a small function yourself:",
    "It takes a few lines of plain Lua to {intent}:",
    "Write it yourself; here is a version that uses only documented functions:",
]
SHOWN = ["For example:", "Here is how it is used:", "", "A working example:"]


def miss_dialogue(miss: Miss, api: ApiSet, code: str, rng: random.Random) -> list[dict[str, str]]:
    """A question about the invented name and an answer that says it does not exist, points to the documented
    entries and shows `code` (which calls them, never the invented name)."""
    from luacoder.data.dialogues import lua_block
    from luacoder.data.phrasing import lower_first, starts_with_verb

    if miss.intent and rng.random() < 0.4:
        question = rng.choice(ASK_TASK).format(fake=miss.fake, intent=miss.intent)
    else:
        question = rng.choice(ASK).format(fake=miss.fake)
    real = api.get(miss.real[0])
    if miss.how == "common" and code == miss.helper:
        names = " and ".join(f"`{n}`" for n in miss.real)
        instead = rng.choice(WRITE_IT).format(intent=miss.intent, names=names)
    elif miss.how == "common":
        names = " and ".join(f"`{n}`" for n in miss.real)
        instead = rng.choice(INSTEAD_COMMON).format(intent=miss.intent, names=names)
    else:
        text = summary(real) if real is not None else ""
        clause = f"it {lower_first(text)}" if real is not None and starts_with_verb(real) else text
        instead = rng.choice(INSTEAD).format(real=miss.real[0], clause=clause, summary=text)
    shown = "" if code == miss.helper else rng.choice(SHOWN)
    answer = f"{rng.choice(NOT_THERE).format(fake=miss.fake)} {instead}"
    answer += f"\n\n{shown}\n\n{lua_block(code)}" if shown else f"\n\n{lua_block(code)}"
    return [{"role": "user", "content": question[:1].upper() + question[1:]}, {"role": "assistant", "content": answer}]
