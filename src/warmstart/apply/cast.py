"""A cast that refuses to change a value's magnitude: a finite checkpoint value that the
model's dtype cannot hold (a float that would become inf, an integer that would wrap) is a
:class:`~warmstart.errors.CastOverflowError`, never a silent inf or a wrapped number.

The check reads what is already in memory (the block or chunk being written) with numpy
reductions that make no temporary arrays; the offending values are counted only on the way
to an error, or when the checkpoint itself holds infs (they load as they are, as do NaNs).
Values too small for the dtype become 0 or subnormal: precision, not range, so they load.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from ..errors import CastOverflowError
from ..matching.decide import SAFE_CASTS
from ..plan import Step
from ..targets.optimizer import ITERATIONS

__all__ = ["checked_cast"]


def checked_cast(step: Step, value: Any, *, rows: tuple[int, int] | None = None) -> tf.Tensor:
    """``value`` (a block of ``step``'s checkpoint tensor; ``rows``: which rows, for a chunk of
    a streamed one) in ``step.dtype``. Raises :class:`CastOverflowError` when a finite value
    does not fit."""
    source, target = tf.as_dtype(step.source_dtype), tf.as_dtype(step.dtype)
    if target.is_integer and source.is_integer and _narrower(source, target):
        src = np.asarray(value)
        if src.size and (int(src.min()) < int(target.min) or int(src.max()) > int(target.max)):
            low, high = max(int(target.min), int(source.min)), min(int(target.max), int(source.max))
            raise CastOverflowError(_message(step, src[(src < low) | (src > high)], src.size, rows, "wrap them"))
        return tf.cast(value, target)
    out = tf.cast(value, target)
    if target.is_floating and source.is_floating and _narrower(source, target):
        got = np.asarray(out)
        if got.size and not _all_finite(got):
            src = np.asarray(value)
            inf = np.isinf(got)
            finite = np.isfinite(src[inf])  # an inf that was finite: not one the checkpoint holds
            if finite.any():
                raise CastOverflowError(_message(step, src[inf][finite], src.size, rows, "make them inf"))
    return out


def _all_finite(a: np.ndarray) -> bool:
    """No inf in ``a`` (NaNs ignored), by two reductions that allocate nothing."""
    return bool(np.isfinite(np.fmax.reduce(a, axis=None)) and np.isfinite(np.fmin.reduce(a, axis=None)))


def _narrower(source: tf.DType, target: tf.DType) -> bool:
    return float(target.max) < float(source.max) or float(target.min) > float(source.min)


def _message(step: Step, beyond: np.ndarray, size: int, rows: tuple[int, int] | None, effect: str) -> str:
    target = tf.as_dtype(step.dtype)
    largest = max(abs(beyond.max().item()), abs(beyond.min().item()))
    if target.is_integer:
        holds, largest = f"holds {int(target.min)}..{int(target.max)}", str(largest)
    else:
        holds, largest = f"holds up to {float(target.max):g}", f"{float(largest):g}"
    where = ""
    if rows is not None:  # a streamed chunk: the rows after it were not read, so not counted
        where = f" in rows {rows[0]}..{rows[1] - 1} (streamed: the first chunk that overflows)"
    return (
        f"cannot warm-start {step.target!r} from {step.source!r}:\n"
        f"    {beyond.size} of {size} value(s){where} do not fit {step.dtype} ({step.source_dtype} -> "
        f"{step.dtype} would {effect}); the largest magnitude is {largest}, {step.dtype} {holds}.\n"
        f"    Fix: {_fix(step)}"
    )


def _fix(step: Step) -> str:
    wider = f"keep the model's variable in {step.source_dtype}"
    if step.target == ITERATIONS:
        return 'optimizer_step="reset" to start the step counter at 0.'
    if "@" in step.target:  # an optimizer slot: it goes with its variable
        owner = step.target.split("@", 1)[0]
        first = f"exclude=[{owner!r}] (the variable and its slots), or warm-start without optimizer="
        wider = f"keep the optimizer's slots in {step.source_dtype}"
    else:
        first = f"exclude=[{step.target!r}] to keep its initial value"
    if (step.source_dtype, step.dtype) in SAFE_CASTS:
        return f"{first}, or {wider} (a mixed-precision dtype policy keeps variables in float32)."
    return (f"{first}, or {wider}, or drop '{step.source_dtype}->{step.dtype}' from cast= "
            f"(the pair is then skipped as dtype_mismatch).")
