"""Exact and near-duplicate removal.

Exact: rows whose text is equal once white space is collapsed. Near: MinHash signatures of token shingles in a
MinHashLSH index (datasketch), as BigCode deduplicated The Stack; a candidate the index returns counts as a duplicate
only when its estimated Jaccard similarity really reaches the threshold, so LSH's false positives do not remove rows.
The first row of a cluster is kept, so the result depends only on the input order.
"""

from __future__ import annotations

import hashlib
import re

from datasketch import MinHash, MinHashLSH

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
