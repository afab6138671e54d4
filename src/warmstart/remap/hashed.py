"""``Hashed``: the rows of a hashed feature (``keras.layers.Hashing(num_bins)``) follow their keys
when the number of bins changes.

A key with hash ``h`` sits in row ``h % bins``. With ``new_bins`` a multiple of ``old_bins``,
``(h % new) % old == h % old``, so new row ``b`` taking old row ``b % old`` gives every key
exactly its old row. Otherwise the same rule keeps the row of a share ``gcd(new, old) / old``
of the keys (the keys of new row ``b`` are spread evenly over the ``old / gcd`` old rows
congruent to ``b`` modulo ``gcd``), which the report states.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import VocabError
from .rows import RowMap

__all__ = ["Hashed"]


@dataclass(frozen=True)
class Hashed:
    """Remap the rows (``axis=0``) or columns (``axis=1``) of a hashed feature's table from
    ``old_bins`` to ``new_bins``: new row ``b`` takes old row ``b % old_bins``.

    >>> ws.warm_start(model, "runs/v1", vocab={"user_hash_emb/.*": ws.Hashed(100, 200)})  # doctest: +SKIP
    """

    old_bins: int
    new_bins: int
    axis: int = 0

    def __post_init__(self) -> None:
        for name in ("old_bins", "new_bins"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise VocabError(f"Hashed {name} must be a positive int, not {value!r}.")
        if self.axis not in (0, 1):
            raise VocabError(f"Hashed axis must be 0 (rows) or 1 (columns), not {self.axis!r}.")

    @property
    def kept_share(self) -> float:
        """The share of keys whose row is carried to their new row."""
        return math.gcd(self.new_bins, self.old_bins) / self.old_bins

    def row_map(self) -> RowMap:
        new_rows = np.arange(self.new_bins, dtype=np.int64)
        old_rows = new_rows % self.old_bins
        share = self.kept_share
        if share == 1:
            how = "every key keeps its row"
        else:
            how = f"{share:.0%} of keys keep their row ({self.new_bins} is not a multiple of {self.old_bins})"
        return RowMap(new_rows=new_rows, old_rows=old_rows, new_size=self.new_bins, old_size=self.old_bins,
                      new_tokens=self.new_bins, old_tokens=self.old_bins,
                      summary=f"hashed: {self.old_bins} -> {self.new_bins} bins, {how}")
