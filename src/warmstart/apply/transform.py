"""From the stored tensor to the value a step writes: cut to the block, cast, gather remapped rows;
and what a remap's new rows get (its initializer, or the mean of the carried rows).

Values only; :mod:`.writers` puts them into variables.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from ..plan import Step
from ..remap.vocab import MEAN
from .cast import checked_cast

__all__ = ["CarriedMean", "fit", "fresh_values", "prepared"]


def fit(step: Step, value: tf.Tensor, keep: int | None = None, *, rows: tuple[int, int] | None = None) -> tf.Tensor:
    """Cut ``value`` to the step's block (overlap), leaving axis ``keep`` as it is (its
    positions were already chosen: a chunk of rows, or the gathered rows of a remap); cast
    to the target's dtype, refusing values it cannot hold (``rows``: the chunk's, for the
    message)."""
    block = list(step.block)
    if keep is not None:
        block[keep] = value.shape[keep]
    if tuple(value.shape) != tuple(block):
        value = value[tuple(slice(0, d) for d in block)]
    if step.source_dtype != step.dtype:
        value = checked_cast(step, value, rows=rows)
    return value


def prepared(step: Step, value: tf.Tensor) -> tf.Tensor:
    """The whole value a held step writes: remapped positions gathered, then fitted."""
    if step.remap is not None:
        axis = step.remap.axis
        return fit(step, tf.gather(value, step.remap.rows.old_rows, axis=axis), keep=axis)
    return fit(step, value)


class CarriedMean:
    """The mean of a remap's carried token rows as written (``initializer="mean"``), summed
    in float64 over the whole value or over its chunks as they stream by. Special rows (a
    lookup's mask and OOV rows) are carried but not averaged: a new token should start as an
    average token, not partly as the OOV row."""

    def __init__(self, axis: int, specials: np.ndarray) -> None:
        self.axis, self.count, self.total = axis, 0, None
        self.specials = specials  # new positions of the carried special rows

    @classmethod
    def of(cls, step: Step, carried: tf.Tensor | None = None) -> CarriedMean | None:
        """An accumulator when ``step``'s new rows are the mean (given the carried rows, in
        the remap's order, added)."""
        if step.remap is None or step.remap.initializer != MEAN:
            return None
        rows = step.remap.rows
        tokens = rows.tokens_carried
        mean = cls(step.remap.axis, np.sort(rows.new_rows[tokens:]))
        if carried is not None:  # the remap's order: token rows first, then the special rows
            mean._sum(tf.gather(carried, tf.range(tokens), axis=mean.axis) if mean.specials.size else carried)
        return mean

    def add(self, carried: tf.Tensor, new_rows: np.ndarray) -> None:
        """Add streamed rows (axis 0) written at ``new_rows``."""
        if self.specials.size:
            keep = ~np.isin(new_rows, self.specials)
            if not keep.all():
                carried = tf.boolean_mask(carried, keep, axis=self.axis)
        self._sum(carried)

    def _sum(self, carried: tf.Tensor) -> None:
        total = tf.reduce_sum(tf.cast(carried, tf.float64), axis=self.axis, keepdims=True)
        self.total = total if self.total is None else self.total + total
        self.count += int(carried.shape[self.axis])

    def value(self) -> tf.Tensor:
        if self.total is None or self.count == 0:
            raise ValueError("no carried rows to average")  # the plan rules this out
        return self.total / self.count


def fresh_values(step: Step, mean: CarriedMean | None = None, count: int | None = None) -> Any:
    """Values for a remap's new positions from its initializer (``mean``: the carried rows'
    mean, as wide as the written block; ``count`` of them, all by default), or None when
    they keep theirs."""
    remap = step.remap
    if remap is None or remap.initializer is None or remap.rows.fresh == 0:
        return None
    if remap.initializer == MEAN:
        if mean is None:
            raise ValueError(f"{step.target}: initializer='mean' needs the carried rows' mean")
        row = mean.value()
        shape = list(row.shape)
        shape[remap.axis] = remap.rows.fresh if count is None else count
        return tf.cast(tf.broadcast_to(row, shape), step.dtype)
    assert callable(remap.initializer)
    shape = list(step.shape)
    shape[remap.axis] = remap.rows.fresh if count is None else count
    return tf.cast(tf.convert_to_tensor(remap.initializer(tuple(shape), step.dtype)), step.dtype)
