"""``RowMap.by_old_row``: the pairs in old-row order, as a stable sort by old row gives them."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from warmstart.remap import Hashed, RowMap, row_map


def stable(rows: RowMap) -> tuple[list[int], list[int]]:
    order = np.argsort(rows.old_rows, kind="stable")
    return rows.old_rows[order].tolist(), rows.new_rows[order].tolist()


@given(st.lists(st.integers(0, 30), max_size=40, unique=True), st.lists(st.integers(0, 30), max_size=40, unique=True),
       st.integers(0, 3))
def test_a_vocabulary_map_in_old_order(old, new, oov):
    rows = row_map([str(t) for t in old] or ["x"], [str(t) for t in new] or ["y"], num_oov_buckets=oov,
                   old_num_oov_buckets=oov)
    got = rows.by_old_row()
    assert [a.tolist() for a in got] == list(stable(rows))
    assert all(a.dtype == np.int64 for a in got)


@given(st.integers(1, 40), st.integers(1, 40))
def test_repeated_old_rows_keep_new_order(old_bins, new_bins):
    rows = Hashed(old_bins, new_bins).row_map()
    assert [a.tolist() for a in rows.by_old_row()] == list(stable(rows))


def test_scrambled_large_map():
    rng = np.random.default_rng(0)
    old_rows = rng.permutation(100_000)[:60_000].astype(np.int64)
    rows = RowMap(new_rows=np.arange(60_000, dtype=np.int64), old_rows=old_rows, new_size=70_000,
                  old_size=100_000, new_tokens=70_000, old_tokens=100_000)
    assert [a.tolist() for a in rows.by_old_row()] == list(stable(rows))
