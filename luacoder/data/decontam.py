"""Decontamination: training rows that share a word n-gram with an eval prompt are removed.

Texts are compared as lower-case word sequences (punctuation and code marks dropped, so `string.rep` and
"string rep" match). A row is contaminated when it contains one of an eval prompt's n-grams; when either text is
shorter than n words (but at least `min_words` long), when it appears whole inside the other.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

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
