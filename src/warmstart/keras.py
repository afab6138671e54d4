"""Warm start where Keras users already are: a callback for ``model.fit``.

>>> from warmstart.keras import WarmStart
>>> model.fit(x, y, callbacks=[WarmStart("runs/v1/model.keras", optimizer=True,
...                                      on_mismatch={"tower/.*": "overlap"})])  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import keras

from .targets.legacy import is_tf_keras

__all__ = ["WarmStart"]

log = logging.getLogger("warmstart")


class WarmStart(keras.callbacks.Callback):
    """Warm-start ``self.model`` from ``source`` when training begins, once.

    At ``on_train_begin`` (``fit`` has built the model and its optimizer by then) this calls
    :func:`warmstart.warm_start` with ``options`` (every keyword of ``warm_start``), and with
    ``optimizer=True`` also carries ``self.model.optimizer``'s slots. The report's summary is
    logged and the report kept as :attr:`report`. A second ``fit`` with the same callback does
    not warm-start again. When a ``keras.callbacks.BackupAndRestore`` in the same ``fit`` has
    a backup to restore, the run is resuming: nothing is loaded, and :attr:`report` says
    ``resumed=True``.

    Errors are raised from ``fit`` before the first batch, and change nothing (a warm start
    is transactional).
    """

    def __init__(self, source: str | os.PathLike[str], *, optimizer: bool = False, **options: Any) -> None:
        super().__init__()
        if "optimizer" in options or "target" in options:
            raise TypeError("WarmStart takes optimizer=True/False; the model and optimizer are fit's own")
        self.source = source
        self.carry_optimizer = optimizer
        self.options = options
        self.report: Any = None

    def set_model(self, model: Any) -> None:
        if is_tf_keras(model):
            # tf_keras' fit would also hide its BackupAndRestore from this callback
            raise TypeError(
                f"WarmStart is a Keras 3 callback, and {type(model).__name__} {model.name!r} is a tf_keras model.\n"
                f"  Fix: call ws.warm_start(model, source, ...) before fit, or ws.restore_or_warm_start(manager, "
                f"source, ...) in a job with its own CheckpointManager (build the optimizer first)."
            )
        super().set_model(model)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.report is not None:
            return
        from .resume import resumed_report

        backup = _backup_to_restore(_siblings(self))
        if backup is not None:
            self.report = resumed_report(backup, note="keras.callbacks.BackupAndRestore restores the interrupted "
                                                       "run: no warm start")
            log.info("%s", self.report.summary())
            return
        from .api import warm_start

        optimizer = self.model.optimizer if self.carry_optimizer else None
        self.report = warm_start(self.model, self.source, optimizer=optimizer, **self.options)


def _siblings(callback: keras.callbacks.Callback) -> list[Any]:
    """The other callbacks of the ``fit`` that is calling ``callback`` (Keras gives a callback
    no reference to its list: it is the ``CallbackList`` a few frames up)."""
    frame = sys._getframe(1)
    for _ in range(8):
        frame = frame.f_back  # type: ignore[assignment]
        if frame is None:
            break
        owner = frame.f_locals.get("self")
        if isinstance(owner, keras.callbacks.CallbackList):
            return [c for c in owner.callbacks if c is not callback]
    return []


def _backup_to_restore(callbacks: list[Any]) -> str | None:
    """The backup a ``BackupAndRestore`` among ``callbacks`` restores (or has restored)."""
    for c in callbacks:
        if isinstance(c, keras.callbacks.BackupAndRestore):
            for path in (getattr(c, "_weights_path", None), getattr(c, "_prev_weights_path", None)):
                if path and os.path.exists(path):
                    return str(path)
    return None
