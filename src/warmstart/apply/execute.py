"""Execute a plan's steps: read, verify, then write; held within the memory budget, streamed
beyond it.

Transactional: nothing is written before every byte that will be written has been read and
its checksum verified.

* Data within ``memory_budget`` is read whole (the source verifies it), transformed, held,
  then written.
* Beyond the budget, large tensors are streamed: a first pass verifies their bytes by reading
  them in chunks (``Source.verify``); a second pass reads row chunks straight into tensors and
  writes them in place (:mod:`.stream`). Small tensors that do not fit the budget either are
  checked in batches and read again in the second pass. The price of bounded memory is
  reading the streamed bytes twice, and that TF keeps a variable written by
  ``scatter_update`` in its copy-on-read mode: until training makes the same switch (any
  sparse update does), each dense read of that table copies it. ``memory_budget=None``
  holds everything instead, as ``tf.train.Checkpoint.restore`` does (+1x the data).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import tensorflow as tf

from ..plan import Action, Step
from ..sources.base import Source
from .preserve import write_placed, write_zeros
from .stream import row_ranges, stream
from .transform import CarriedMean, fresh_values, prepared
from .writers import write_full, write_rows

__all__ = ["DEFAULT_MEMORY_BUDGET", "Progress", "execute"]

log = logging.getLogger(__name__)

DEFAULT_MEMORY_BUDGET = 256 << 20

Progress = Callable[[int, int], None]  # (bytes done, bytes total), over both passes


def execute(
    steps: Sequence[Step],
    source: Source,
    variables: Mapping[str, Any],
    *,
    memory_budget: int | None = DEFAULT_MEMORY_BUDGET,
    progress: Progress | None = None,
) -> None:
    """Write every step's value into ``variables[step.target]``."""
    total = sum(s.nbytes for s in steps)
    tick = _Ticker(progress, total)
    if memory_budget is None or total <= memory_budget:
        _write(steps, _read(steps, source), variables, tick)
        return
    chunk = max(1 << 20, memory_budget // 4)
    streamed = [s for s in steps if s.nbytes > chunk and _can_stream(s, source)]
    held = [s for s in steps if s not in streamed]
    held_bytes = sum(s.nbytes for s in held)
    tick.total = total + sum(s.nbytes for s in streamed) + (held_bytes if held_bytes > memory_budget else 0)
    log.info("%.1f MiB to load exceeds the %.1f MiB memory budget: verifying %d tensor(s) first, then streaming",
             total / 2**20, memory_budget / 2**20, len(streamed))
    checks = []
    for s in streamed:  # pass 1: checksums and the fingerprints of the row ranges, nothing kept
        checks.append(source.verify(s.key, row_ranges(s, chunk), chunk_bytes=2 * chunk))
        tick(s.nbytes)
    if held_bytes <= memory_budget:
        held_values: list[tf.Tensor] | None = _read(held, source)
    else:
        for batch in _batches(held, memory_budget):
            source.read(_keys(batch), _labels(batch))  # checksums only
            tick(sum(s.nbytes for s in batch))
        held_values = None
    # pass 2: writes
    if held_values is not None:
        _write(held, held_values, variables, tick)
    else:
        for batch in _batches(held, memory_budget):
            _write(batch, _read(batch, source), variables, tick)
    for step, checked in zip(streamed, checks, strict=True):
        stream(step, source, variables[step.target], checked, chunk, tick)


class _Ticker:
    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress, self.total, self.done = progress, total, 0

    def __call__(self, n: int) -> None:
        self.done += n
        if self.progress is not None:
            self.progress(self.done, self.total)


def _keys(steps: Sequence[Step]) -> list[str]:
    return list(dict.fromkeys(s.key for s in steps))


def _labels(steps: Sequence[Step]) -> dict[str, str]:
    return {s.key: s.source for s in steps}


def _can_stream(step: Step, source: Source) -> bool:
    if step.remap is not None and step.remap.axis != 0:
        return False  # column remaps (class-vocabulary output layers) are small: held
    return len(step.source_shape) >= 1 and source.streamable(step.key)


def _read(steps: Sequence[Step], source: Source) -> list[tf.Tensor]:
    keys = _keys(steps)
    read = dict(zip(keys, source.read(keys, _labels(steps)), strict=True))
    return [prepared(s, read[s.key]) for s in steps]


def _write(steps: Sequence[Step], values: Sequence[tf.Tensor], variables: Mapping[str, Any], tick: _Ticker) -> None:
    for step, value in zip(steps, values, strict=True):
        v = variables[step.target]
        if step.remap is not None:
            write_rows(v, step.remap.rows.new_rows, value, axis=step.remap.axis)
            fresh = fresh_values(step, CarriedMean.of(step, value))
            if fresh is not None:
                write_rows(v, step.remap.rows.fresh_rows, fresh, axis=step.remap.axis)
            write_zeros(v, step)
        elif step.action in (Action.OVERLAP, Action.PRESERVE):
            write_placed(v, step, value)
        else:
            write_full(v, value)
        tick(step.nbytes)


def _batches(steps: Sequence[Step], limit: int) -> Iterator[list[Step]]:
    batch: list[Step] = []
    size = 0
    for s in steps:
        n = s.nbytes
        if batch and size + n > limit:
            yield batch
            batch, size = [], 0
        batch.append(s)
        size += n
    if batch:
        yield batch
