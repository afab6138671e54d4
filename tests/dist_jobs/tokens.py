"""The vocabularies of the distributed jobs, for the jobs and the tests alike (no TensorFlow)."""

from __future__ import annotations

import numpy as np


def tokens(n: int, prefix: str = "t") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def grown(old: list[str], *, seed: int = 0) -> list[str]:
    """Day 2's vocabulary: a tenth of the old tokens dropped, 20% new ones, re-sorted."""
    rng = np.random.default_rng(seed)
    kept = [t for t in old if rng.random() > 0.1]
    new = kept + tokens(len(old) // 5, "n")
    rng.shuffle(new)
    return new
