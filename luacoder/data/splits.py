"""Deterministic train/test splits by group: every row of a group lands in the same split.

Groups are ranked by a seeded hash of their key and the first `round(test_fraction * N)` form the test split (at
least one group when the fraction is above zero and there are two groups or more), so the test size is exact, the
choice depends only on the seed and the keys, and adding a group moves no other group.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def rank_key(key: str, seed: int, salt: str) -> str:
    return hashlib.sha256(f"{seed}:{salt}:{key}".encode()).hexdigest()


def held_out_groups(keys: Iterable[str], seed: int, test_fraction: float, salt: str = "") -> set[str]:
    unique = sorted(set(keys))
    if test_fraction <= 0 or len(unique) < 2:
        return set()
    count = min(max(round(test_fraction * len(unique)), 1), len(unique) - 1)
    ranked = sorted(unique, key=lambda k: rank_key(k, seed, salt))
    return set(ranked[:count])
