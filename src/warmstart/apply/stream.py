"""The second pass for a tensor larger than the memory budget: row chunks from the file into
the variable, in place, without ever holding the whole tensor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from ..plan import Step
from ..sources.base import Source
from .preserve import write_zeros
from .transform import CarriedMean, fit, fresh_values
from .writers import write_region, write_rows

__all__ = ["stream"]

Tick = Callable[[int], None]


def stream(step: Step, source: Source, v: Any, chunk: int, tick: Tick) -> None:
    """Write ``step`` into ``v`` in chunks of about ``chunk`` bytes (``source.verify`` ran first)."""
    row_bytes = max(1, step.nbytes // max(1, step.source_shape[0]))
    rows_per_chunk = max(1, chunk // row_bytes)
    if step.remap is not None:
        # half the chunk: the row map's index arrays (16 bytes a row, twice) share the budget
        _stream_remap(step, source, v, max(1, rows_per_chunk // 2), row_bytes, tick)
        return
    block, origin = step.block, step.origin  # source row r goes to row origin[0] + r
    ranges = [(i, min(block[0], i + rows_per_chunk)) for i in range(0, block[0], rows_per_chunk)]
    full_width = tuple(block[1:]) == tuple(step.shape[1:])
    for (start, stop), chunk_value in zip(ranges, source.read_rows(step.key, ranges), strict=True):
        value = fit(step, chunk_value, keep=0)
        if full_width:
            write_rows(v, np.arange(origin[0] + start, origin[0] + stop, dtype=np.int64), value)
        else:
            write_region(v, (origin[0] + start, *origin[1:]), value)
        tick((stop - start) * row_bytes)
    write_zeros(v, step, chunk_bytes=chunk)
    tick((step.source_shape[0] - block[0]) * row_bytes)  # rows beyond the block are not read


def _stream_remap(step: Step, source: Source, v: Any, rows_per_chunk: int, row_bytes: int, tick: Tick) -> None:
    """Gather old rows chunk by chunk (in old-row order) into their new positions."""
    assert step.remap is not None
    rows = step.remap.rows
    order = np.argsort(rows.old_rows, kind="stable")
    old_sorted, new_sorted = rows.old_rows[order], rows.new_rows[order]
    del order
    other = tuple(step.block[1:])
    full_width = other == tuple(step.shape[1:])
    ranges, cuts = [], [0]  # row ranges that hold carried rows; cuts[k]: first pair in range k
    while cuts[-1] < old_sorted.size:
        start = int(old_sorted[cuts[-1]])
        stop = min(step.source_shape[0], start + rows_per_chunk)
        ranges.append((start, stop))
        cuts.append(int(np.searchsorted(old_sorted, stop, side="left")))
    mean = CarriedMean.of(step)
    for k, value in enumerate(source.read_rows(step.key, ranges)):
        (start, stop), i, j = ranges[k], cuts[k], cuts[k + 1]
        value = fit(step, tf.gather(value, old_sorted[i:j] - start), keep=0)
        if mean is not None:
            mean.add(value)
        if full_width:
            write_rows(v, new_sorted[i:j], value)
        else:
            for n, row in enumerate(new_sorted[i:j]):  # narrower rows: one region each
                write_region(v, (int(row),) + (0,) * len(other), value[n : n + 1])
        tick((stop - start) * row_bytes)
    fresh = fresh_values(step, mean)
    if fresh is not None:
        write_rows(v, rows.fresh_rows, fresh)
    write_zeros(v, step)
