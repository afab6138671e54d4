"""``ws.save``: a standard TF2 checkpoint of a model (and optimizer) that TensorFlow's own
``tf.train.Checkpoint.restore`` of the same model reads, and ``warm_start`` reads by name.

What ``warmstart apply`` writes, so that a pipeline step can prepare the warm-started
starting point before training starts.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["save"]


def save(model: Any, path: str | os.PathLike[str], *, optimizer: Any = None) -> str:
    """Write ``tf.train.Checkpoint(model=model[, optimizer=optimizer])`` to the prefix ``path``;
    return the prefix written.

    Restore it into the same model with ``tf.train.Checkpoint(model=model).restore(prefix)``
    (``.expect_partial()`` when it holds an optimizer you do not restore), or warm-start from it.

    >>> prefix = ws.save(model, "runs/day2-start/ckpt")  # doctest: +SKIP
    """
    import tensorflow as tf

    from .errors import ArgumentError

    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise ArgumentError(f"path must be a str or os.PathLike prefix, not {type(path).__name__}.")
    objects = {"model": model} if optimizer is None else {"model": model, "optimizer": optimizer}
    checkpoint = tf.train.Checkpoint(**objects)
    checkpoint.save_counter.assign_add(1)  # as Checkpoint.save does: a restore then matches every object
    return checkpoint.write(os.fspath(path))
