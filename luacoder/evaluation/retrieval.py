"""Open book: the documented entries that fit a question, and the prompt that shows them before it.

    retriever = ApiRetriever(api)                      # BM25 (bm25s) over every entry of an api.json
    entries = retriever.search("How do I split a string on commas?", k=5)
    prompt = open_book_prompt(question, entries)       # the entries' cards, then the question
    retrieval_recall(retriever, eval_prompts, k=5)     # share of the expected entries found in the top k

Each entry is indexed as one document: its name split into words (`string.gsub` -> string, gsub; `tcp_bind` ->
tcp, bind; `newRect` -> new, rect) and kept whole, its aliases alike, its signature, description, and its
parameters' names and descriptions. Words are lower-cased, English stop words dropped, and the rest stemmed
(Snowball, through PyStemmer) so that "splitting" finds "Splits". Scores are BM25 (Lucene's variant) from bm25s;
ties are broken by the entry's name, so a fixed index answers a question the same way every time.

A card is one line: the signature, the types of what it returns, and the description's first sentence
(`luacoder.data.phrasing.summary`). The chat builder trains with the same cards (`chat.open_book` in
data/config.yaml), so a model sees at inference the page layout it learned to copy names from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

from luacoder.apidocs.schema import ApiEntry
from luacoder.data.phrasing import summary

if TYPE_CHECKING:
    from luacoder.evaluation.prompts import EvalPrompt

CARDS_HEADER = "Documented API that may help:"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:[.:][A-Za-z_][A-Za-z0-9_]*)+")
_WORD = re.compile(r"[A-Za-z0-9]+")
# camelCase and digit boundaries inside a word: newRect -> new Rect, HTTPServer -> HTTP Server, utf8 -> utf 8
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=[0-9])")
_STOPWORDS = frozenset(STOPWORDS_EN)


class Analyzer:
    """Text to index terms: dotted names kept whole and split into words, words lower-cased, stop words dropped,
    the rest stemmed."""

    def __init__(self) -> None:
        self._stemmer = Stemmer.Stemmer("english")

    def __call__(self, text: str) -> list[str]:
        terms = [name.lower() for name in _NAME.findall(text)]
        words = []
        for word in _WORD.findall(text):
            words += [w.lower() for w in _CAMEL.split(word) if w]
        words = [w for w in words if w not in _STOPWORDS]
        return terms + self._stemmer.stemWords(words)


def entry_text(entry: ApiEntry) -> str:
    """The text an entry is found by: names, signature, description, parameters."""
    parts = [entry.name, *entry.aliases, entry.signature, entry.description]
    for param in entry.params:
        parts += [param.name, param.description]
    # Each name's parts as words too: `string.gsub` is found by "gsub", `tcp_bind` by "bind".
    parts += [" ".join(re.split(r"[._:]+", name)) for name in (entry.name, *entry.aliases)]
    return "\n".join(p for p in parts if p)


class ApiRetriever:
    """BM25 over the entries of an API (an ApiSet or any entries). `k1` and `b` are BM25's parameters."""

    def __init__(self, api: Iterable[ApiEntry], *, k1: float = 1.2, b: float = 0.75):
        self.entries: list[ApiEntry] = sorted(api, key=lambda e: e.name)
        if not self.entries:
            raise ValueError("ApiRetriever: the API has no entries to search")
        self.analyze = Analyzer()
        self._bm25 = bm25s.BM25(k1=k1, b=b, method="lucene")
        # An empty document would make bm25s drop nothing but hold no term; a name always gives one.
        self._bm25.index([self.analyze(entry_text(e)) for e in self.entries], show_progress=False)

    def __len__(self) -> int:
        return len(self.entries)

    def scores(self, question: str) -> np.ndarray:
        """The BM25 score of every entry (in `self.entries`' order, by name) for the question."""
        terms = [t for t in self.analyze(question) if t in self._bm25.vocab_dict]
        if not terms:
            return np.zeros(len(self.entries), dtype=np.float32)
        return self._bm25.get_scores(terms)

    def search(self, question: str, k: int) -> list[ApiEntry]:
        """The `k` entries that fit the question best (fewer when fewer share a word with it), best first; equal
        scores in the order of the entries' names."""
        if k <= 0:
            return []
        scores = self.scores(question)
        # Entries are sorted by name, so a stable sort on the negated score breaks ties by name.
        order = np.argsort(-scores, kind="stable")
        return [self.entries[i] for i in order[:k] if scores[i] > 0]


def card(entry: ApiEntry) -> str:
    """One line a model can copy a name from: `- string.rep(s, n [, sep]) -> string: Returns a string made of ...`."""
    returns = ", ".join(r.type for r in entry.returns if r.type)
    head = f"{entry.signature} -> {returns}" if returns else entry.signature
    return f"- {head}: {summary(entry)}"


def open_book_prompt(question: str, entries: Sequence[ApiEntry]) -> str:
    """The user message: the entries' cards under a header, a blank line, then the question; with no entries, the
    question unchanged."""
    if not entries:
        return question
    return "\n".join([CARDS_HEADER, *(card(e) for e in entries), "", question])


def retrieval_recall(retriever: ApiRetriever, prompts: Iterable[EvalPrompt], k: int = 5) -> float | None:
    """The share of the prompts' expected entries (canonical names) among the top `k` for each prompt's question,
    counted over all expected entries; None when no prompt expects an entry."""
    found = expected = 0
    for prompt in prompts:
        if not prompt.expected_apis:
            continue
        names = {e.name for e in retriever.search(prompt.prompt, k)}
        expected += len(prompt.expected_apis)
        found += sum(1 for name in prompt.expected_apis if name in names)
    return found / expected if expected else None
