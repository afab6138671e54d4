"""Writing an overlap's or preserve's block where the plan put it, and preserve's zero boxes.

The plan says where (:attr:`~warmstart.plan.Step.origin`, :attr:`~warmstart.plan.Step.zero`,
from :mod:`warmstart.matching.layouts`); this module only writes boxes, the zeros in row
chunks of bounded size so that a large table's new rows cost no more memory than its
streamed data.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from ..entries import nbytes
from ..plan import Step
from .undo import Journal

__all__ = ["ZERO_CHUNK_BYTES", "write_placed", "write_zeros"]

ZERO_CHUNK_BYTES = 16 << 20


def write_placed(journal: Journal, v: Any, step: Step, block: tf.Tensor) -> None:
    """Write the step's block at its origin, then its zero boxes (through ``journal``: undone
    if the call fails)."""
    if any(step.offset):
        journal.region(step.target, v, step.origin, block)
    else:
        journal.block(step.target, v, block)
    write_zeros(journal, v, step)


def write_zeros(journal: Journal, v: Any, step: Step, *, chunk_bytes: int = ZERO_CHUNK_BYTES) -> None:
    """Write zeros into each of the step's zero boxes, at most ``chunk_bytes`` at a time."""
    for begin, end in step.zero:
        size = [e - b for b, e in zip(begin, end, strict=True)]
        if not all(size):
            continue
        row_bytes = max(1, nbytes(step.dtype, tuple(size[1:])))
        rows = max(1, chunk_bytes // row_bytes)
        for start in range(begin[0], end[0], rows):
            stop = min(end[0], start + rows)
            journal.region(step.target, v, (start, *begin[1:]), tf.zeros([stop - start, *size[1:]], step.dtype))
