"""The second pass for a tensor larger than the memory budget: row chunks from the file into
the variable, in place, without ever holding the whole tensor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from ..plan import Step
from ..sources.base import RowChecks, Source
from .preserve import write_zeros
from .transform import CarriedMean, fit, fresh_values
from .writers import write_region, write_rows

__all__ = ["row_ranges", "stream"]

Tick = Callable[[int], None]


def _rows_per_chunk(step: Step, chunk: int) -> tuple[int, int]:
    row_bytes = max(1, step.nbytes // max(1, step.source_shape[0]))
    rows_per_chunk = max(1, chunk // row_bytes)
    if step.remap is not None:
        # half the chunk: the row map's index arrays (16 bytes a row, twice) share the budget
        rows_per_chunk = max(1, rows_per_chunk // 2)
    return rows_per_chunk, row_bytes


def row_ranges(step: Step, chunk: int) -> list[tuple[int, int]]:
    """The row ranges :func:`stream` reads for ``step`` (what ``Source.verify`` fingerprints)."""
    rows_per_chunk, _ = _rows_per_chunk(step, chunk)
    if step.remap is not None:
        return _remap_ranges(step, rows_per_chunk)[0]
    block = step.block
    return [(i, min(block[0], i + rows_per_chunk)) for i in range(0, block[0], rows_per_chunk)]


def stream(step: Step, source: Source, v: Any, checks: RowChecks, chunk: int, tick: Tick) -> None:
    """Write ``step`` into ``v`` in chunks of about ``chunk`` bytes, reading the ranges
    ``source.verify`` checked (``checks``)."""
    rows_per_chunk, row_bytes = _rows_per_chunk(step, chunk)
    if step.remap is not None:
        _stream_remap(step, source, v, checks, rows_per_chunk, row_bytes, tick)
        return
    block, origin = step.block, step.origin  # source row r goes to row origin[0] + r
    ranges = list(checks.ranges)
    full_width = tuple(block[1:]) == tuple(step.shape[1:])
    for (start, stop), chunk_value in zip(ranges, source.read_rows(checks), strict=True):
        value = fit(step, chunk_value, keep=0)
        if full_width:
            write_rows(v, np.arange(origin[0] + start, origin[0] + stop, dtype=np.int64), value)
        else:
            write_region(v, (origin[0] + start, *origin[1:]), value)
        tick((stop - start) * row_bytes)
    write_zeros(v, step, chunk_bytes=chunk)
    tick((step.source_shape[0] - block[0]) * row_bytes)  # rows beyond the block are not read


def _remap_ranges(step: Step, rows_per_chunk: int) -> tuple[list[tuple[int, int]], list[int], Any, Any]:
    """Row ranges that hold carried rows (in old-row order), ``cuts[k]`` the first pair in
    range ``k``, and the (old, new) row pairs sorted by old row."""
    assert step.remap is not None
    rows = step.remap.rows
    order = np.argsort(rows.old_rows, kind="stable")
    old_sorted, new_sorted = rows.old_rows[order], rows.new_rows[order]
    del order
    ranges, cuts = [], [0]
    while cuts[-1] < old_sorted.size:
        start = int(old_sorted[cuts[-1]])
        stop = min(step.source_shape[0], start + rows_per_chunk)
        ranges.append((start, stop))
        cuts.append(int(np.searchsorted(old_sorted, stop, side="left")))
    return ranges, cuts, old_sorted, new_sorted


def _stream_remap(step: Step, source: Source, v: Any, checks: RowChecks, rows_per_chunk: int, row_bytes: int,
                  tick: Tick) -> None:
    """Gather old rows chunk by chunk (in old-row order) into their new positions."""
    assert step.remap is not None
    ranges, cuts, old_sorted, new_sorted = _remap_ranges(step, rows_per_chunk)
    if tuple(ranges) != checks.ranges:
        raise AssertionError(f"{step.key!r}: the ranges read are not the ranges verified")
    rows = step.remap.rows
    other = tuple(step.block[1:])
    full_width = other == tuple(step.shape[1:])
    mean = CarriedMean.of(step)
    for k, value in enumerate(source.read_rows(checks)):
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
