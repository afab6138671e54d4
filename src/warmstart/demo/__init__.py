"""``warmstart demo``: an evolving recommender retrained, and the evidence that a warm start pays.

:func:`run_demo` tells the story (:mod:`.run`); the other modules each do one part of it:
the logs (:mod:`.data`), the pipeline (:mod:`.features`), the model and its warm-start
rules (:mod:`.model`), training (:mod:`.train`), the comparison (:mod:`.results`), the
timing against ``tf.train.Checkpoint.restore`` (:mod:`.timing`), and what is printed
(:mod:`.console`, :mod:`.text`) and drawn (:mod:`.plot`). Importing it imports TensorFlow
and Keras; ``warmstart.cli`` imports it only when ``warmstart demo`` runs.
"""

from .data import DataError
from .run import DemoConfig, run_demo

__all__ = ["DataError", "DemoConfig", "run_demo"]
