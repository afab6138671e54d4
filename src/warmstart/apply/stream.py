"""Tensors larger than the memory budget, written in row chunks without ever holding the whole
tensor: :func:`plan_stream` chooses the row ranges before the verify pass (so that the pass
fingerprints exactly what will be read again), :func:`stream` writes them.

Memory, per chunk of ``R`` rows, ``s`` bytes a source row and ``t`` a target row: the two
read buffers (``2Rs``, one filled while the other is written), a remap's gathered rows
(``Rs``), the fitted value (cut and cast, ``<= 2Rt``), the undo copy of the rows overwritten
(``Rt``) and the two buffers the undo file is written from (``2Rt``), and the row indices
(``16R``). :func:`plan_stream` sizes ``R`` so that ``R (3s + 5t + 16)`` fits the working
memory it is given. A remap also keeps its row pairs
sorted by old row: 16 bytes a carried row, beside the plan's own 16.

Into a sharded variable, a chunk of consecutive rows never straddles a shard (nor a stored
slice of the checkpoint): ``bounds`` split the ranges there, so each range is read from the
slices that hold it and written into one shard. A remap's chunk is split by shard as it is
written: its rows and their positions again (``t + 32`` bytes a row more).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf

from ..entries import nbytes
from ..plan import Step
from ..shards import rows_per_shard
from ..sources.base import RowChecks, Source
from ..targets.distributed import placement
from .preserve import write_zeros
from .transform import CarriedMean, fit, fresh_values
from .undo import Journal

__all__ = ["Streamed", "plan_stream", "stream"]

Tick = Callable[[int], None]


@dataclass(frozen=True)
class Streamed:
    """How one step is streamed: its row ranges and, for a remap, the row pairs by old row
    (``cuts[k]``: the first pair whose old row lies in range ``k``)."""

    step: Step
    nbytes: int  # what reading the whole tensor takes (Source.nbytes)
    ranges: tuple[tuple[int, int], ...]
    rows_per_chunk: int
    old_sorted: np.ndarray | None = field(default=None, repr=False)
    new_sorted: np.ndarray | None = field(default=None, repr=False)
    cuts: tuple[int, ...] = ()


def row_bytes(dtype: str, shape: tuple[int, ...], source_nbytes: int) -> int:
    """Bytes of one row (``source_nbytes`` is the whole tensor's, for dtypes of no fixed size)."""
    return max(1, nbytes(dtype, shape[1:]) or source_nbytes // max(1, shape[0]))


def plan_stream(step: Step, source_nbytes: int, working: int, *, bounds: tuple[int, ...] = (),
                split: bool = False) -> Streamed:
    """Row ranges of about ``working`` bytes of working memory each (see the module's note),
    cut at ``bounds`` (source rows: where the target's shards or the stored slices begin);
    ``split``: the target is sharded, and a remap's chunks are split by shard."""
    s = row_bytes(step.source_dtype, step.source_shape, source_nbytes)
    t = row_bytes(step.dtype, step.shape, source_nbytes)
    rows_per_chunk = max(1, working // (3 * s + 5 * t + 16 + ((t + 32) if split else 0)))
    if step.remap is None:
        end = step.block[0]
        edges = sorted({0, end, *(c for c in bounds if 0 < c < end)})
        ranges = tuple((i, min(b, i + rows_per_chunk))
                       for a, b in itertools.pairwise(edges) for i in range(a, b, rows_per_chunk))
        return Streamed(step, source_nbytes, ranges, rows_per_chunk)
    old_sorted, new_sorted = _by_old_row(step.remap.rows.old_rows, step.remap.rows.new_rows)
    spans: list[tuple[int, int]] = []
    cuts = [0]
    while cuts[-1] < old_sorted.size:
        start = int(old_sorted[cuts[-1]])
        stop = min(step.source_shape[0], start + rows_per_chunk)
        spans.append((start, stop))
        cuts.append(int(np.searchsorted(old_sorted, stop, side="left")))
    return Streamed(step, source_nbytes, tuple(spans), rows_per_chunk, old_sorted, new_sorted, tuple(cuts))


def _by_old_row(old: np.ndarray, new: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pairs sorted by old row, in 16 bytes a pair at most (an argsort would need 24):
    both rows packed into one int64, sorted in place, unpacked."""
    if old.size and max(int(old.max()), int(new.max())) >= 1 << 31:
        order = np.argsort(old, kind="stable")
        return old[order], new[order]
    packed = np.left_shift(old, 32, dtype=np.int64)  # one new array: no copy of old first
    packed |= new
    packed.sort()
    new_sorted = packed & 0xFFFFFFFF
    packed >>= 32
    return packed, new_sorted


def stream(plan: Streamed, checks: RowChecks, source: Source, v: Any, journal: Journal, tick: Tick) -> None:
    """Write ``plan.step`` into ``v``, chunk by chunk, through ``journal``."""
    step = plan.step
    where = placement(v)
    if where.shards and any(s.remote for s in where.shards):
        written = rows_per_shard(step, [s.rows for s in where.shards])
        journal.keep_shards(step.target, v, [k for k, s in enumerate(where.shards) if 2 * written[k] >= s.rows > 0])
    chunks = source.read_rows(checks)
    mean = CarriedMean.of(step)
    try:
        _write_chunks(plan, chunks, v, journal, tick, mean)
    finally:  # a generator left half-read on a failure: its reader thread ends now, not at gc
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    if step.remap is not None and step.remap.initializer is not None and step.remap.rows.fresh:
        fresh = step.remap.rows.fresh_rows
        for i in range(0, fresh.size, plan.rows_per_chunk):
            rows = fresh[i : i + plan.rows_per_chunk]
            journal.rows(step.target, v, rows, fresh_values(step, mean, count=rows.size))
    t = row_bytes(step.dtype, step.shape, plan.nbytes)
    write_zeros(journal, v, step, chunk_bytes=max(1, plan.rows_per_chunk * t))


def _write_chunks(plan: Streamed, chunks: Iterator[Any], v: Any, journal: Journal, tick: Tick,
                  mean: CarriedMean | None) -> None:
    step = plan.step
    where = placement(v)
    origin = step.origin  # source row r goes to row origin[0] + r
    name = step.target
    s = row_bytes(step.source_dtype, step.source_shape, plan.nbytes)
    done = 0
    full_width = tuple(step.block[1:]) == tuple(step.shape[1:])
    for k, chunk in enumerate(chunks):
        start, stop = plan.ranges[k]
        if step.remap is None:
            value = fit(step, chunk, keep=0, rows=(start, stop))
            if full_width:
                journal.rows(name, v, range(origin[0] + start, origin[0] + stop), value)
            else:
                journal.region(name, v, (origin[0] + start, *origin[1:]), value)
        else:
            assert plan.old_sorted is not None and plan.new_sorted is not None
            i, j = plan.cuts[k], plan.cuts[k + 1]
            old, new = plan.old_sorted[i:j] - start, plan.new_sorted[i:j]
            if where.sharded:  # gathered grouped by shard: each shard's rows are a slice, not a second gather
                order = np.argsort(where.owner(new), kind="stable")
                old, new = old[order], new[order]
                del order
            value = fit(step, tf.gather(chunk, old), keep=0, rows=(start, stop))
            if mean is not None:
                mean.add(value, new)
            journal.rows(name, v, new, value)
            del old, new
        del value, chunk
        tick((stop - start) * s)
        done += (stop - start) * s
    tick(max(0, plan.nbytes - done))  # rows not read: beyond the block, or not carried
