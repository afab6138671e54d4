"""Execute a plan: the only module that writes into variables.

Transactional: every tensor is read (and its checksum verified by TF) and every value is
prepared before the first write. When the data to load is larger than ``hold_bytes``, a
verification pass reads everything once and drops it, then a second pass reads and
writes one batch at a time: twice the reading, bounded memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import tensorflow as tf

from .entries import nbytes
from .plan import Action, Step
from .targets import write_block, write_full, write_rows

__all__ = ["DEFAULT_HOLD_BYTES", "execute"]

log = logging.getLogger(__name__)

DEFAULT_HOLD_BYTES = 4 << 30  # hold up to this much verified data, else verify then stream

Progress = Callable[[int, int], None]  # (bytes done, bytes total)


class Readable(Protocol):
    def read(self, keys: Sequence[str], names: dict[str, str] | None = None) -> list[tf.Tensor]: ...


def execute(
    steps: Sequence[Step],
    source: Readable,
    variables: Mapping[str, Any],
    *,
    hold_bytes: int = DEFAULT_HOLD_BYTES,
    progress: Progress | None = None,
) -> None:
    total = sum(nbytes(s.source_dtype, s.source_shape) for s in steps)
    names = {s.key: s.source for s in steps}
    if total <= hold_bytes:
        values = _prepared(steps, source, names)
        _write(steps, values, variables, progress, total)
        return
    log.info("%.1f MiB to load exceeds the %.1f MiB hold limit: verifying first, then streaming",
             total / 2**20, hold_bytes / 2**20)
    for batch in _batches(steps, hold_bytes):
        source.read(_keys(batch), names)  # verification pass: checksums only
    done = 0
    for batch in _batches(steps, hold_bytes):
        values = _prepared(batch, source, names)
        _write(batch, values, variables, None, total)
        done += sum(nbytes(s.source_dtype, s.source_shape) for s in batch)
        if progress:
            progress(done, total)


def _keys(steps: Sequence[Step]) -> list[str]:
    return list(dict.fromkeys(s.key for s in steps))


def _prepared(steps: Sequence[Step], source: Readable, names: dict[str, str]) -> list[tf.Tensor]:
    keys = _keys(steps)
    read = dict(zip(keys, source.read(keys, names), strict=True))
    return [_transform(s, read[s.key]) for s in steps]


def _transform(step: Step, value: tf.Tensor) -> tf.Tensor:
    if step.action is Action.VOCAB:
        _, rows = step.vocab
        value = tf.gather(value, rows.old_rows, axis=step.axis)
        block = list(step.block)
        block[step.axis] = rows.carried
        if tuple(value.shape) != tuple(block):  # overlap on the other axes
            value = value[tuple(slice(0, d) for d in block)]
    elif step.action is Action.OVERLAP:
        value = value[tuple(slice(0, d) for d in step.block)]
    if step.source_dtype != step.dtype:
        value = tf.cast(value, step.dtype)
    return value


def _write(steps: Sequence[Step], values: Sequence[tf.Tensor], variables: Mapping[str, Any],
           progress: Progress | None, total: int) -> None:
    done = 0
    for step, value in zip(steps, values, strict=True):
        v = variables[step.target]
        if step.action is Action.VOCAB:
            vocab, rows = step.vocab
            write_rows(v, rows.new_rows, value, axis=step.axis)
            if vocab.initializer is not None:
                _initialise_fresh(v, step, vocab, rows)
        elif step.action is Action.OVERLAP:
            write_block(v, value)
        else:
            write_full(v, value)
        done += nbytes(step.source_dtype, step.source_shape)
        if progress:
            progress(done, total)


def _batches(steps: Sequence[Step], limit: int) -> Iterator[list[Step]]:
    batch: list[Step] = []
    size = 0
    for s in steps:
        n = nbytes(s.source_dtype, s.source_shape)
        if batch and size + n > limit:
            yield batch
            batch, size = [], 0
        batch.append(s)
        size += n
    if batch:
        yield batch


def _initialise_fresh(v: Any, step: Step, vocab: Any, rows: Any) -> None:
    """Rows of new tokens (and OOV buckets) from the Vocab's explicit initializer."""
    fresh = rows.fresh_rows
    if fresh.size == 0:
        return
    shape = list(step.shape)
    shape[step.axis] = int(fresh.size)
    values = tf.cast(tf.convert_to_tensor(vocab.initializer(tuple(shape), step.dtype)), step.dtype)
    write_rows(v, fresh, values, axis=step.axis)
