"""Tables in pieces: a model's shards (``ParameterServerStrategy``) and a checkpoint's stored
slices, as the report shows them (``3 shards of 4M rows ← 2 slices of 6M rows``), and the
checkpoint bytes each shard takes.

Pure Python: the report and its tests use it without TensorFlow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .entries import nbytes
from .plan import Step

__all__ = ["ShardLayout", "bytes_per_shard", "layout_text", "rows_per_shard", "rows_text", "size_text"]


@dataclass(frozen=True, slots=True)
class ShardLayout:
    """One table (or optimizer slot) that is sharded in the model or stored in slices."""

    target: str
    """The model's variable (``variable@slot`` for a slot)."""
    shards: tuple[int, ...]
    """Rows of each of the model's shards (one number when it is not sharded)."""
    slices: tuple[int, ...]
    """Rows of each stored slice (one number when it is stored whole)."""
    read: tuple[int, ...]
    """Checkpoint bytes each shard takes: its rows that come from the checkpoint, at the
    stored row size (a shard of only new rows takes none)."""

    def text(self) -> str:
        return layout_text(self.shards, self.slices)


def bytes_per_shard(step: Step, shards: Sequence[int]) -> tuple[int, ...]:
    """The checkpoint bytes that go into each shard (rows ``shards[k]`` each, in order):
    for a vocabulary remap the carried rows whose new row lies in the shard, otherwise the
    block's rows there, each read whole (``source_shape[1:]``) from the checkpoint."""
    row = nbytes(step.source_dtype, tuple(step.source_shape[1:])) or 0
    return tuple(n * row for n in rows_per_shard(step, shards))


def rows_per_shard(step: Step, shards: Sequence[int]) -> tuple[int, ...]:
    """How many rows of each shard the step writes from the checkpoint (see
    :func:`bytes_per_shard`)."""
    stops = np.cumsum(np.asarray(shards, np.int64))
    starts = stops - np.asarray(shards, np.int64)
    if step.remap is not None and step.remap.axis == 0:
        new = np.sort(step.remap.rows.new_rows)
        counts = np.searchsorted(new, stops, side="left") - np.searchsorted(new, starts, side="left")
        return tuple(int(n) for n in counts)
    first = step.origin[0] if step.shape else 0
    last = first + (step.block[0] if step.shape else 0)
    return tuple(max(0, min(int(b), last) - max(int(a), first)) for a, b in zip(starts, stops, strict=True))


def layout_text(shards: Sequence[int], slices: Sequence[int]) -> str:
    """``3 shards of 4M rows ← 2 slices of 6M rows``; ``unsharded (10 rows) ← unsliced``."""
    model = rows_text(shards, "shard") if len(shards) > 1 else f"unsharded ({rows_text(shards, '')})"
    stored = rows_text(slices, "slice") if len(slices) > 1 else "unsliced"
    return f"{model} ← {stored}"


def rows_text(parts: Sequence[int], noun: str) -> str:
    """``3 shards of 4M rows``, ``3 shards of 13,334/13,333/13,333 rows``, ``12 shards of
    9-10 rows``; with no noun, the rows of one part (``10 rows``)."""
    if not noun:
        return f"{_count(parts[0] if parts else 0)} rows"
    sizes = sorted(set(parts))
    if len(sizes) == 1:
        each = _count(sizes[0])
    elif len(parts) <= 4:
        each = "/".join(f"{p:,}" for p in parts)
    else:
        each = f"{sizes[0]:,}-{sizes[-1]:,}"
    return f"{len(parts)} {noun}s of {each} rows"


def _count(n: int) -> str:
    """4000000 -> ``4M``, 1333334 -> ``1.33M``, 25000 -> ``25k``, 999 -> ``999``."""
    for unit, scale in (("M", 10**6), ("k", 10**3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return str(n)


def size_text(n: int) -> str:
    """Bytes as ``512 B``, ``640.0 KiB``, ``1.0 GiB``."""
    if n < 1024:
        return f"{n} B"
    power = min(3, (n.bit_length() - 1) // 10)
    return f"{n / 1024**power:.1f} {('KiB', 'MiB', 'GiB')[power - 1]}"
