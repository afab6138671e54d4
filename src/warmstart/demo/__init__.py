"""``warmstart demo``: an evolving recommender retrained, and the evidence that a warm start pays.

:func:`run_demo` tells the story (:mod:`.run`); the other modules each do one part of it:
the logs (:mod:`.data`), the pipeline (:mod:`.features`), the model and its warm-start
rules (:mod:`.model`), training (:mod:`.train`), the comparison (:mod:`.results`), the
timing against ``tf.train.Checkpoint.restore`` (:mod:`.timing`), and what is printed
(:mod:`.console`, :mod:`.call`, :mod:`.text`) and drawn (:mod:`.plot`).

``run_demo`` and ``DemoConfig`` load on first use, as ``warmstart.warm_start`` does: they
import TensorFlow and Keras, the data and text modules do not.
"""

from typing import TYPE_CHECKING, Any

from .data import DataError

if TYPE_CHECKING:
    from .run import DemoConfig, run_demo


def __getattr__(name: str) -> Any:
    if name in ("DemoConfig", "run_demo"):
        from . import run

        return getattr(run, name)
    raise AttributeError(f"module 'warmstart.demo' has no attribute {name!r}")


__all__ = ["DataError", "DemoConfig", "run_demo"]
