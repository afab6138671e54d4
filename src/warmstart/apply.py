"""Execute a plan: the only module that writes into variables.

Transactional: nothing is written before every byte that will be written has been read
and its checksum verified.

* Data within ``memory_budget`` is read with TF's ``RestoreV2`` (checksums verified),
  transformed, held, then written.
* Beyond the budget, large tensors are streamed: a first pass verifies their crc32c by
  reading the data file in chunks (one read of the bytes, overlapped with the checksum);
  a second pass reads row chunks straight into tensors and writes them in place with
  ``scatter_update``. Small tensors that do not fit the budget either are checked with
  ``RestoreV2`` in batches and read again in the second pass. The price of bounded memory
  is reading the streamed bytes twice, and that TF keeps a variable written by
  ``scatter_update`` in its copy-on-read mode: until training makes the same switch (any
  sparse update does), each dense read of that table copies it. ``memory_budget=None``
  holds everything instead, as ``tf.train.Checkpoint.restore`` does (+1x the data).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import tensorflow as tf

from .entries import nbytes
from .plan import Action, Step
from .targets import write_block, write_full, write_region, write_rows

__all__ = ["DEFAULT_MEMORY_BUDGET", "execute"]

log = logging.getLogger(__name__)

DEFAULT_MEMORY_BUDGET = 256 << 20

Progress = Callable[[int, int], None]  # (bytes done, bytes total), over both passes


class Readable(Protocol):
    def read(self, keys: Sequence[str], names: dict[str, str] | None = None) -> list[tf.Tensor]: ...
    def streamable(self, key: str) -> bool: ...
    def verify(self, key: str, *, chunk_bytes: int) -> None: ...
    def read_chunks(self, key: str, ranges: Sequence[tuple[int, int]]) -> Iterator[tf.Tensor]: ...


def execute(
    steps: Sequence[Step],
    source: Readable,
    variables: Mapping[str, Any],
    *,
    memory_budget: int | None = DEFAULT_MEMORY_BUDGET,
    progress: Progress | None = None,
) -> None:
    sizes = [_size(s) for s in steps]
    total = sum(sizes)
    tick = _Ticker(progress, total)
    if memory_budget is None or total <= memory_budget:
        values = _prepared(steps, source)
        tick.total = total
        _write(steps, values, variables, tick)
        return
    chunk = max(1 << 20, memory_budget // 4)
    streamed = [s for s, n in zip(steps, sizes, strict=True) if n > chunk and _can_stream(s, source)]
    held = [s for s in steps if s not in streamed]
    held_bytes = sum(_size(s) for s in held)
    tick.total = total + sum(_size(s) for s in streamed) + (held_bytes if held_bytes > memory_budget else 0)
    log.info("%.1f MiB to load exceeds the %.1f MiB memory budget: verifying %d tensor(s) first, then streaming",
             total / 2**20, memory_budget / 2**20, len(streamed))
    for key in dict.fromkeys(s.key for s in streamed):  # pass 1: checksums, nothing kept
        source.verify(key, chunk_bytes=2 * chunk)
        tick(sum(_size(s) for s in streamed if s.key == key))
    if held_bytes <= memory_budget:
        held_values: list[tf.Tensor] | None = _prepared(held, source)
    else:
        for batch in _batches(held, memory_budget):
            source.read(_keys(batch), _names(batch))  # checksums only
            tick(sum(_size(s) for s in batch))
        held_values = None
    # pass 2: writes
    if held_values is not None:
        _write(held, held_values, variables, tick)
    else:
        for batch in _batches(held, memory_budget):
            _write(batch, _prepared(batch, source), variables, tick)
    for step in streamed:
        _stream(step, source, variables[step.target], chunk, tick)


class _Ticker:
    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress, self.total, self.done = progress, total, 0

    def __call__(self, n: int) -> None:
        self.done += n
        if self.progress is not None:
            self.progress(self.done, self.total)


def _size(step: Step) -> int:
    return nbytes(step.source_dtype, step.source_shape)


def _keys(steps: Sequence[Step]) -> list[str]:
    return list(dict.fromkeys(s.key for s in steps))


def _names(steps: Sequence[Step]) -> dict[str, str]:
    return {s.key: s.source for s in steps}


def _can_stream(step: Step, source: Readable) -> bool:
    if step.action is Action.VOCAB and step.axis != 0:
        return False  # column remaps (class-vocabulary output layers) are small: held
    return len(step.source_shape) >= 1 and source.streamable(step.key)


def _prepared(steps: Sequence[Step], source: Readable) -> list[tf.Tensor]:
    keys = _keys(steps)
    read = dict(zip(keys, source.read(keys, _names(steps)), strict=True))
    return [_transform(s, read[s.key]) for s in steps]


def _transform(step: Step, value: tf.Tensor) -> tf.Tensor:
    if step.action is Action.VOCAB:
        _, rows = step.vocab
        return _fit(step, tf.gather(value, rows.old_rows, axis=step.axis), keep=step.axis)
    return _fit(step, value)


def _fit(step: Step, value: tf.Tensor, keep: int | None = None) -> tf.Tensor:
    """Cut ``value`` to the step's block (overlap), leaving axis ``keep`` as it is (its
    rows were already chosen: a chunk, or the gathered rows of a remap); cast to the
    target's dtype."""
    block = list(step.block)
    if keep is not None:
        block[keep] = value.shape[keep]
    if tuple(value.shape) != tuple(block):
        value = value[tuple(slice(0, d) for d in block)]
    if step.source_dtype != step.dtype:
        value = tf.cast(value, step.dtype)
    return value


def _write(steps: Sequence[Step], values: Sequence[tf.Tensor], variables: Mapping[str, Any], tick: _Ticker) -> None:
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
        tick(_size(step))


def _stream(step: Step, source: Readable, v: Any, chunk: int, tick: _Ticker) -> None:
    """Pass 2 for one large tensor: row chunks from the file into the variable, in place."""
    row_bytes = max(1, _size(step) // max(1, step.source_shape[0]))
    rows_per_chunk = max(1, chunk // row_bytes)
    if step.action is Action.VOCAB:
        # half the chunk: the row map's index arrays (16 bytes a row, twice) share the budget
        _stream_vocab(step, source, v, max(1, rows_per_chunk // 2), row_bytes, tick)
        return
    block = step.block
    ranges = [(i, min(block[0], i + rows_per_chunk)) for i in range(0, block[0], rows_per_chunk)]
    full_width = tuple(block[1:]) == tuple(step.shape[1:])
    for (start, stop), chunk_value in zip(ranges, source.read_chunks(step.key, ranges), strict=True):
        value = _fit(step, chunk_value, keep=0)
        if full_width:
            write_rows(v, np.arange(start, stop, dtype=np.int64), value)
        else:
            write_region(v, (start,) + (0,) * (len(block) - 1), value)
        tick((stop - start) * row_bytes)
    tick((step.source_shape[0] - block[0]) * row_bytes)  # rows beyond the block are not read


def _stream_vocab(step: Step, source: Readable, v: Any, rows_per_chunk: int, row_bytes: int, tick: _Ticker) -> None:
    """Gather old rows chunk by chunk (in old-row order) into their new positions."""
    vocab, rows = step.vocab
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
    for k, value in enumerate(source.read_chunks(step.key, ranges)):
        (start, stop), i, j = ranges[k], cuts[k], cuts[k + 1]
        value = _fit(step, tf.gather(value, old_sorted[i:j] - start), keep=0)
        if full_width:
            write_rows(v, new_sorted[i:j], value)
        else:
            for n, row in enumerate(new_sorted[i:j]):  # narrower rows: one region each
                write_region(v, (int(row),) + (0,) * len(other), value[n : n + 1])
        tick((stop - start) * row_bytes)
    if vocab.initializer is not None:
        _initialise_fresh(v, step, vocab, rows)


def _initialise_fresh(v: Any, step: Step, vocab: Any, rows: Any) -> None:
    """Rows of new tokens (and OOV buckets) from the Vocab's explicit initializer."""
    fresh = rows.fresh_rows
    if fresh.size == 0:
        return
    shape = list(step.shape)
    shape[step.axis] = int(fresh.size)
    values = tf.cast(tf.convert_to_tensor(vocab.initializer(tuple(shape), step.dtype)), step.dtype)
    write_rows(v, fresh, values, axis=step.axis)


def _batches(steps: Sequence[Step], limit: int) -> Iterator[list[Step]]:
    batch: list[Step] = []
    size = 0
    for s in steps:
        n = _size(s)
        if batch and size + n > limit:
            yield batch
            batch, size = [], 0
        batch.append(s)
        size += n
    if batch:
        yield batch
