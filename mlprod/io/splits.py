"""The one train/holdout rule every capability uses on in-memory arrays (``search``'s validation
rows, ``optimize``'s test rows): a seeded random ``share`` of the rows (at least one) is held out,
the rest trains. Random, not the first rows: a file sorted by time or by class would otherwise
hold out one period or one class.

Example:
    >>> train, held = holdout_indices(10, share=0.2, seed=0)
    >>> len(train), len(held), sorted(set(train) | set(held)) == list(range(10))
    (8, 2, True)
"""
from __future__ import annotations

import numpy as np

HOLDOUT_SHARE = 0.2


def holdout_indices(n: int, share: float = HOLDOUT_SHARE, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, held-out rows) of ``n`` rows: a seeded permutation, ``max(1, int(n * share))`` held out."""
    idx = np.random.default_rng(seed).permutation(n)
    k = max(1, int(n * share))
    return idx[k:], idx[:k]
