"""After the writes: layers that compute with state derived from their variables get it
refreshed, as Keras' own loader does (``Layer.load_own_variables`` then ``finalize_state``).

An adapted ``keras.layers.Normalization`` normalises with ``mean``/``variance`` tensors made
from its ``adapt_mean``/``adapt_variance`` variables when it was adapted or built; writing the
variables alone leaves the layer computing with the old statistics. ``tf.train.Checkpoint``
restore has the same gap. A model's traced ``fit``/``evaluate``/``predict`` functions hold
the old tensors as constants (Keras' ``load_weights`` leaves them stale too), so the models
above a refreshed layer make them again, to trace on their next call; a ``tf.function`` of
the caller's own that traced the layer before keeps what it captured.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from ..targets.layers import derived_state_layers, models_holding

__all__ = ["refresh_derived_state"]

log = logging.getLogger("warmstart")


def refresh_derived_state(target: Any, written: Iterable[Any]) -> list[str]:
    """Call ``finalize_state`` on each layer of ``target`` that owns a variable in ``written``
    and defines it; one report note per layer refreshed (or that failed to be)."""
    notes: list[str] = []
    layers = derived_state_layers(target, {id(v) for v in written})
    for layer in layers:
        what = f"{type(layer).__name__} {getattr(layer, 'name', '')!r}"
        try:
            layer.finalize_state()
        except Exception as e:  # noqa: BLE001 - the variables are written; say what is stale
            log.warning("warm start: %s: finalize_state failed: %s", what, e)
            notes.append(f"{what}: its variables were written but finalize_state failed ({type(e).__name__}: "
                         f"{e}); it may compute with the state it had before until it is rebuilt")
        else:
            notes.append(f"{what}: finalize_state called after its variables were written, as Keras' loader does")
    if layers:
        for model in models_holding(target, layers):
            for attr in _TRACED:  # made again (not dropped: fit may be running, see WarmStart)
                if getattr(model, attr, None) is not None:
                    getattr(model, f"make_{attr}")(force=True)
    return notes


_TRACED = ("train_function", "test_function", "predict_function")
