"""The warm start against ``tf.train.Checkpoint.restore`` on the same checkpoint.

``restore`` cannot load the changed model (it pairs variables by object-graph position
and raises at the first shape that differs, after overwriting what came before), so its
time is taken restoring into a fresh copy of the day-1 model, the only model it can load.
Each is timed on fresh models a few times after one untimed run (TensorFlow's first call
of an op pays for its setup) and the median is kept.
"""

from __future__ import annotations

import gc
import logging
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

__all__ = ["RestoreAttempt", "Timing", "time_both", "try_restore"]

Build = Callable[[], tuple[Any, Any]]  # a fresh (model, built optimizer)


@dataclass(frozen=True)
class Timing:
    warm_start: float  # seconds, median
    restore: float
    repeats: int

    @property
    def ratio(self) -> float:
        return self.warm_start / self.restore if self.restore > 0 else float("inf")


@dataclass(frozen=True)
class RestoreAttempt:
    """What ``tf.train.Checkpoint.restore`` did with the changed model."""

    error: str | None  # the exception's first line; None if it raised nothing
    overwritten: tuple[str, ...]  # variables it had changed by then


def _median_seconds(build: Build, load: Callable[[Any, Any], Any], repeats: int) -> float:
    times = []
    for i in range(repeats + 1):
        model, optimizer = build()
        started = time.perf_counter()
        load(model, optimizer)
        if i:  # the first run warms TensorFlow up
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def restore(prefix: str) -> Callable[[Any, Any], Any]:
    def load(model: Any, optimizer: Any) -> Any:
        return tf.train.Checkpoint(model=model, optimizer=optimizer).restore(prefix).expect_partial()
    return load


def time_both(*, day1: Build, day2: Build, prefix: str, warm_start: Callable[[Any, Any], Any],
              repeats: int = 3) -> Timing:
    """Median seconds of ``warm_start(day-2 model, optimizer)`` and of ``restore`` of the
    same checkpoint into a day-1 model and optimizer."""
    with _tf_warnings_muted():
        return Timing(_median_seconds(day2, warm_start, repeats),
                      _median_seconds(day1, restore(prefix), repeats), repeats)


def try_restore(model: Any, optimizer: Any, prefix: str) -> RestoreAttempt:
    """Restore into the changed model (a throwaway copy) and record what happened."""
    before = {v.path: np.array(v.numpy()) for v in model.variables}
    error = None
    with _tf_warnings_muted():
        try:
            restore(prefix)(model, optimizer)
        except (ValueError, tf.errors.OpError, AssertionError) as e:
            error = f"{type(e).__name__}: {str(e).strip().splitlines()[0]}"
    overwritten = tuple(v.path for v in model.variables if not np.array_equal(before[v.path], v.numpy()))
    return RestoreAttempt(error, overwritten)


@contextmanager
def _tf_warnings_muted():
    """A failed restore leaves a Checkpoint that warns about unrestored values when it is
    collected: collect it here, with TensorFlow's warnings off."""
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        gc.collect()
        logger.setLevel(level)
