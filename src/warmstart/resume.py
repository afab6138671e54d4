"""``restore_or_warm_start``: resume a run from its own checkpoint, or start it warm.

The pattern training jobs write by hand (``manager.restore_or_initialize()``, then "if
nothing was restored, load last week's weights"), with the two cases kept apart: the run's
own checkpoint is restored exactly by ``tf.train.Checkpoint`` (the same run resuming, so
anything that does not fit is an error), a new run is warm-started with the rules.
"""

from __future__ import annotations

import os
from typing import Any

import keras
import tensorflow as tf

from .errors import ResumeError, UnsupportedTargetError
from .plan import SkipReason
from .report import Report
from .sources import locate
from .targets.legacy import is_tf_keras

__all__ = ["restore_or_warm_start", "resumed_report"]


def restore_or_warm_start(manager: tf.train.CheckpointManager, source: str | os.PathLike[str],
                          **options: Any) -> Report:
    """Restore ``manager``'s latest checkpoint, or warm-start from ``source``.

    * If the run's own ``manager`` has a checkpoint, ``manager.checkpoint`` restores it: every
      object it tracks must get its value (``assert_existing_objects_matched``), or this raises
      :class:`~warmstart.ResumeError` (the run is resuming; a changed model needs a new run
      directory). The report has ``resumed=True``.
    * Otherwise the Keras model the checkpoint tracks (and its optimizer, if it tracks one)
      is warm-started from ``source`` with ``options`` (those of :func:`warmstart.warm_start`),
      and that report is returned (``resumed=False``).

    >>> ckpt = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
    >>> manager = tf.train.CheckpointManager(ckpt, "runs/v2", max_to_keep=3)
    >>> report = ws.restore_or_warm_start(manager, "runs/v1", exclude=["head/.*"])  # doctest: +SKIP
    """
    from .api import warm_start

    if "optimizer" in options:
        raise TypeError("restore_or_warm_start takes the optimizer from the manager's checkpoint, not optimizer=")
    model, optimizer = _tracked(manager.checkpoint)
    latest = manager.latest_checkpoint
    if latest:
        _check_fits(warm_start(model, latest, dry_run=True), latest)
        _restore_exactly(manager.checkpoint, latest)
        return resumed_report(latest, note="the run's own checkpoint, restored by tf.train.Checkpoint")
    return warm_start(model, source, optimizer=optimizer, **options)


def resumed_report(path: str, *, note: str) -> Report:
    """The report of a run that resumed from ``path`` instead of warm-starting."""
    try:
        location = locate(path)
    except Exception:  # noqa: BLE001 - a Keras backup file; the report only names it
        location = None
    return Report(source=path, loaded=(), skipped=(), missing=(), unused=(), notes=(note,), location=location,
                  resumed=True)


def _check_fits(plan: Report, prefix: str) -> None:
    """Before anything is written: a variable whose shape or dtype changed, or that the
    checkpoint does not have (a new layer), would make ``tf.train.Checkpoint.restore`` raise
    after it has overwritten others."""
    bad = [s for s in plan.skipped if s.reason in (SkipReason.SHAPE_MISMATCH, SkipReason.DTYPE_MISMATCH)]
    if bad:
        raise ResumeError(
            f"cannot resume from the run's own checkpoint {prefix!r}: {len(bad)} variable(s) changed: "
            f"{bad[0].target!r} ({bad[0].detail})"
            f"{''.join(f', {s.target!r}' for s in bad[1:4])}{', ...' if len(bad) > 4 else ''}; nothing was restored.\n"
            f"  Fix: {_NEW_RUN.format(prefix=prefix)}"
        )
    if plan.missing:
        new = plan.missing
        raise ResumeError(
            f"cannot resume from the run's own checkpoint {prefix!r}: {len(new)} variable(s) of the model are not "
            f"in it: {', '.join(repr(n) for n in new[:4])}{', ...' if len(new) > 4 else ''}; nothing was restored.\n"
            f"  Fix: {_NEW_RUN.format(prefix=prefix)}"
        )


_NEW_RUN = ("the model changed, so this is a new run: give its CheckpointManager a new directory (and "
            "warm-start it from {prefix!r}), or restore the model as it was.")


def _variables_of(checkpoint: tf.train.Checkpoint) -> list[Any]:
    """Every TF variable the checkpoint tracks (behind Keras variables too), once."""
    from .targets.variables import tf_variable

    found: dict[int, Any] = {}
    for obj in tf.train.TrackableView(checkpoint).descendants():
        v = tf_variable(obj) if isinstance(obj, keras.Variable) else obj
        if isinstance(v, tf.Variable):
            found.setdefault(id(v), v)
    return list(found.values())


def _restore_exactly(checkpoint: tf.train.Checkpoint, prefix: str) -> None:
    """``restore`` writes what it matches before it can say what did not: every variable's
    value is kept (by reference: a restore assigns new buffers) and put back on a failure."""
    variables = _variables_of(checkpoint)
    kept = [v.read_value() for v in variables]
    try:
        checkpoint.restore(prefix).assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
        for v, value in zip(variables, kept, strict=True):
            v.assign(value)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ResumeError(
            f"cannot resume from the run's own checkpoint {prefix!r}: it does not fit what the "
            f"checkpoint tracks now ({type(e).__name__}: {first}); nothing was restored.\n"
            f"  Fix: {_NEW_RUN.format(prefix=prefix)}"
        ) from None


def _tracked(checkpoint: tf.train.Checkpoint) -> tuple[Any, Any]:
    """The Keras model the checkpoint tracks and its optimizer (None if it tracks none)."""
    children = tf.train.TrackableView(checkpoint).children(checkpoint)
    models = [c for c in children.values() if isinstance(c, keras.Model) or is_tf_keras(c, "Model")]
    optimizers = [c for c in children.values()
                  if isinstance(c, keras.optimizers.Optimizer) or is_tf_keras(c, "Optimizer", "OptimizerV2")]
    if len(models) != 1:
        what = "no Keras model" if not models else f"{len(models)} Keras models"
        raise UnsupportedTargetError(
            f"the manager's checkpoint tracks {what} ({', '.join(children) or 'nothing'}); "
            f"restore_or_warm_start warm-starts the one model a run checkpoints.\n"
            f"  Fix: tf.train.Checkpoint(model=model, optimizer=model.optimizer)."
        )
    model = models[0]
    if len(optimizers) > 1:
        raise UnsupportedTargetError("the manager's checkpoint tracks more than one optimizer; pass one.")
    # A compiled model's optimizer is tracked (and saved) through the model too.
    return model, optimizers[0] if optimizers else getattr(model, "optimizer", None)
