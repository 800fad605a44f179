"""The filters of the dataset builders: duplicates, quality, decontamination, splits and the API call check.

Rows go through them in the builders (luacoder.data.pretrain, luacoder.data.chat, luacoder.data.build) and in
self-instruct's response filter; each says why it removed a row, so the card and the rejects can count it.

## Duplicates

Exact and near-duplicate removal.

Exact: rows whose text is equal once white space is collapsed. Near: MinHash signatures of token shingles in a
MinHashLSH index (datasketch), as BigCode deduplicated The Stack; a candidate the index returns counts as a duplicate
only when its estimated Jaccard similarity really reaches the threshold, so LSH's false positives do not remove rows.
The first row of a cluster is kept, so the result depends only on the input order.

## Quality

Quality filters for code rows, after the Codex and StarCoder data cards: files that are mostly data, minified or
generated teach a code model little. Each filter returns a short reason (the same text for every row it removes, so
the card can count them) and a detail, or None when the row passes.

## Decontamination

Decontamination: training rows that share a word n-gram with an eval prompt are removed.

Texts are compared as lower-case word sequences (punctuation and code marks dropped, so `string.rep` and
"string rep" match). A row is contaminated when it contains one of an eval prompt's n-grams; when either text is
shorter than n words (but at least `min_words` long), when it appears whole inside the other.

## Splits

Deterministic train/test splits by group: every row of a group lands in the same split.

Groups are ranked by a seeded hash of their key and the first `round(test_fraction * N)` form the test split (at
least one group when the fraction is above zero and there are two groups or more), so the test size is exact, the
choice depends only on the seed and the keys, and adding a group moves no other group.

## API call check

The call check a generated answer must pass, with the grader that scores checkpoints (luacoder.grading): valid
Lua, no call of an undocumented name under the API, and every API call with a documented number of arguments.

    checker = ApiChecker(api)
    checker.problems('print(string.rep("ab"))')   # ['1: string.rep takes 2-3 arguments, got 1']
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from datasketch import MinHash, MinHashLSH

from luacoder.apidocs.schema import ApiEntry
from luacoder.data.config import PretrainConfig
from luacoder.grading.answer import AnswerGrade, grade_code
from luacoder.grading.api_index import ApiIndex

# ---------------------------------------------------------------------------------------------------------------
# Duplicates

_TOKEN = re.compile(r"\w+|[^\w\s]")


def normalized(text: str) -> str:
    return " ".join(text.split())


def exact_key(text: str) -> str:
    return hashlib.sha256(normalized(text).encode("utf-8")).hexdigest()


def shingles(text: str, size: int) -> set[bytes]:
    """Overlapping runs of `size` tokens (words and single punctuation marks); a short text is one shingle."""
    tokens = _TOKEN.findall(text)
    if len(tokens) <= size:
        return {" ".join(tokens).encode("utf-8")}
    return {" ".join(tokens[i : i + size]).encode("utf-8") for i in range(len(tokens) - size + 1)}


class ExactDuplicates:
    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def check(self, key: str, text: str) -> str | None:
        """The key of an earlier row with the same normalized text, or None (and the row is remembered)."""
        digest = exact_key(text)
        if digest in self.seen:
            return self.seen[digest]
        self.seen[digest] = key
        return None


class NearDuplicates:
    def __init__(self, threshold: float = 0.85, num_perm: int = 128, shingle_size: int = 5, seed: int = 1):
        self.threshold, self.num_perm, self.shingle_size, self.seed = threshold, num_perm, shingle_size, seed
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self.signatures: dict[str, MinHash] = {}

    def signature(self, text: str) -> MinHash:
        m = MinHash(num_perm=self.num_perm, seed=self.seed)
        m.update_batch(sorted(shingles(text, self.shingle_size)))
        return m

    def check(self, key: str, text: str) -> tuple[str, float] | None:
        """(key, similarity) of the most similar earlier row at or above the threshold, or None (then the row is
        indexed)."""
        m = self.signature(text)
        best: tuple[str, float] | None = None
        for other in self.lsh.query(m):
            similarity = m.jaccard(self.signatures[other])
            if similarity >= self.threshold and (best is None or similarity > best[1]):
                best = (other, similarity)
        if best is None:
            self.lsh.insert(key, m)
            self.signatures[key] = m
        return best


# ---------------------------------------------------------------------------------------------------------------
# Quality


@dataclass
class Issue:
    reason: str  # categorical: "longest line over 1000 characters"
    detail: str  # this row's value: "2811 characters on line 3"


def quality_issue(text: str, cfg: PretrainConfig) -> Issue | None:
    stripped = text.strip()
    if len(stripped) < cfg.min_chars:
        return Issue(f"shorter than {cfg.min_chars} characters", f"{len(stripped)} characters")
    if len(text) > cfg.max_chars:
        return Issue(f"longer than {cfg.max_chars} characters", f"{len(text)} characters")
    lines = text.splitlines() or [""]
    longest = max(range(len(lines)), key=lambda i: len(lines[i]))
    if len(lines[longest]) > cfg.max_line_length:
        return Issue(
            f"a line longer than {cfg.max_line_length} characters",
            f"{len(lines[longest])} characters on line {longest + 1}",
        )
    mean = sum(len(line) for line in lines) / len(lines)
    if mean > cfg.max_mean_line_length:
        return Issue(f"mean line length over {cfg.max_mean_line_length:g}", f"{mean:.1f}")
    alpha = sum(c.isalpha() for c in text) / max(len(text), 1)
    if alpha < cfg.min_alpha_fraction:
        return Issue(f"alphabetic fraction under {cfg.min_alpha_fraction:g}", f"{alpha:.3f}")
    marker = autogenerated_marker(lines[: cfg.autogenerated_scan_lines], cfg.autogenerated_markers)
    if marker is not None:
        return Issue("autogenerated", marker)
    return None


def autogenerated_marker(head: list[str], markers: list[str]) -> str | None:
    """The first marker ("do not edit", "generated by") found in the given lines, with its line number."""
    for number, line in enumerate(head, 1):
        low = line.lower()
        for marker in markers:
            if marker.lower() in low:
                return f"{marker!r} on line {number}"
    return None


# ---------------------------------------------------------------------------------------------------------------
# Decontamination

_WORD = re.compile(r"[a-z0-9_]+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def ngrams(seq: list[str], n: int) -> list[tuple[str, ...]]:
    """In text order, so that the overlap reported is the first one."""
    return [tuple(seq[i : i + n]) for i in range(len(seq) - n + 1)]


class Decontaminator:
    def __init__(self, prompts: Iterable[str], n: int = 8, min_words: int = 4):
        if n < 1:
            raise ValueError(f"the decontamination n-gram size must be at least 1, got {n}")
        self.n, self.min_words = n, min(min_words, n)
        self.prompts = [p for p in prompts if p.strip()]
        self.grams: dict[tuple[str, ...], int] = {}  # n-gram -> index of its prompt
        self.short: dict[int, dict[tuple[str, ...], int]] = {}  # length -> whole short prompt -> index
        self._prompt_words = [words(p) for p in self.prompts]
        self._cache: dict[int, dict[tuple[str, ...], int]] = {}
        for index, seq in enumerate(self._prompt_words):
            if len(seq) >= n:
                for gram in ngrams(seq, n):
                    self.grams.setdefault(gram, index)
            elif len(seq) >= self.min_words:
                self.short.setdefault(len(seq), {}).setdefault(tuple(seq), index)

    def _prompt_grams(self, k: int) -> dict[tuple[str, ...], int]:
        if k not in self._cache:
            found: dict[tuple[str, ...], int] = {}
            for index, seq in enumerate(self._prompt_words):
                for gram in ngrams(seq, k):
                    found.setdefault(gram, index)
            self._cache[k] = found
        return self._cache[k]

    def match(self, text: str) -> tuple[str, str] | None:
        """(the eval prompt, the shared words) when `text` overlaps one, else None."""
        seq = words(text)
        if len(seq) >= self.n:
            for gram in ngrams(seq, self.n):
                if gram in self.grams:
                    return self.prompts[self.grams[gram]], " ".join(gram)
        elif len(seq) >= self.min_words:
            index = self._prompt_grams(len(seq)).get(tuple(seq))
            if index is not None:
                return self.prompts[index], " ".join(seq)
        for k, wholes in self.short.items():
            if k <= len(seq):
                for gram in ngrams(seq, k):
                    if gram in wholes:
                        return self.prompts[wholes[gram]], " ".join(gram)
        return None


# ---------------------------------------------------------------------------------------------------------------
# Splits


def rank_key(key: str, seed: int, salt: str) -> str:
    return hashlib.sha256(f"{seed}:{salt}:{key}".encode()).hexdigest()


def held_out_groups(keys: Iterable[str], seed: int, test_fraction: float, salt: str = "") -> set[str]:
    unique = sorted(set(keys))
    if test_fraction <= 0 or len(unique) < 2:
        return set()
    count = min(max(round(test_fraction * len(unique)), 1), len(unique) - 1)
    ranked = sorted(unique, key=lambda k: rank_key(k, seed, salt))
    return set(ranked[:count])


# ---------------------------------------------------------------------------------------------------------------
# API call check


class ApiChecker:
    def __init__(self, entries: Iterable[ApiEntry]):
        self.index = ApiIndex(entries)

    def grade(self, code: str) -> AnswerGrade:
        return grade_code(code, self.index)

    def problems(self, code: str) -> list[str]:
        """What is wrong with the code's API use, one message per problem ("line: message"); empty when fine."""
        grade = self.grade(code)
        if not grade.has_code:
            return ["no code"]
        if not grade.syntax_valid:
            return [f"syntax error at {e}" for e in grade.syntax_errors]
        out = []
        for call in grade.calls:
            if call.kind == "hallucinated":
                out.append(f"{call.line}: {call.resolved} is not documented ({call.reason})")
            elif call.arity_ok is False:
                out.append(f"{call.line}: {call.entries[0]} takes {call.expected_args} arguments, got {call.args}")
        return out

    def api_calls(self, code: str) -> list[str]:
        """The documented entries the code calls with a fitting number of arguments, sorted."""
        return self.grade(code).used_correctly
