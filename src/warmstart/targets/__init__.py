"""The live side: walk the target (a Keras model, ``tf.Module`` or mapping of variables) and
its optimizer into named entries. Reads only; :mod:`warmstart.apply` is the one writer."""

from .model import Target, lookup_views, walk_target
from .optimizer import ITERATIONS, OptimizerTarget, walk_optimizer
from .variables import dtype_of, is_variable, shape_of

__all__ = [
           "ITERATIONS",
           "OptimizerTarget",
           "Target",
           "dtype_of",
           "is_variable",
           "lookup_views",
           "shape_of",
           "walk_optimizer",
           "walk_target",
]
