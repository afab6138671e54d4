"""What a Keras file reader needs to know of the live model, as pure data.

Keras' own files (``.weights.h5``, ``.keras``) store a layer's variables by position
(``layers/dense_1/vars/0``) and its name as an attribute; they never store variable names,
and their optimizer variables are a flat list (``optimizer/vars/<i>``). To name them the way
the model side does (``tower/t0/kernel``), a reader gets this description of the live model
from :func:`warmstart.targets.layout.describe_keras` and nothing else of it.

Pure Python: no TensorFlow import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["KerasLayout", "LayerInfo", "OptimizerLayout", "class_key_base", "snake_case"]


@dataclass(frozen=True, slots=True)
class LayerInfo:
    """One layer of the live model (the model itself has ``path == ()``)."""

    path: tuple[str, ...]
    """Layer names from the model down (``("tower", "t0")``)."""
    class_name: str
    """``type(layer).__name__`` (``Dense``)."""
    variables: tuple[str, ...]
    """Target names of its own variables, in the order Keras saves them ("" = not a target)."""
    local_names: tuple[str, ...]
    """Each of those variables' own name (``kernel``), same order."""
    trainable: int
    """How many of them, from the first, the optimizer trains (0 for a frozen layer)."""
    children: tuple[str, ...] = ()
    """Names of its direct sub-layers, in the order Keras tracks (and trains) them."""
    model: bool = False
    """A model (its sub-layers' order is the user's); else a layer (its class fixes it)."""


@dataclass(frozen=True, slots=True)
class OptimizerLayout:
    """The order in which an optimizer class lays out its variables (Keras saves them in it).

    ``hyper`` come first (``iterations``, ``learning_rate``); then each segment in turn holds,
    for every trained variable in order, one slot of each of its names (Adam: one segment,
    ``("momentums", "velocities")``, interleaved; amsgrad adds a segment
    ``("velocity_hats",)``); ``trailing`` come last.
    """

    class_name: str
    hyper: tuple[str, ...]
    segments: tuple[tuple[str, ...], ...]
    trailing: tuple[str, ...] = ()
    same_shape: bool = True
    """Every slot has its variable's shape (Adafactor's factored slots do not)."""

    @property
    def per_variable(self) -> int:
        return sum(len(s) for s in self.segments)

    def positions(self, count: int) -> list[tuple[str, int | None]]:
        """What each saved variable is, for an optimizer built on ``count`` variables:
        ``(hyper name, None)`` or ``(slot name, variable index)``."""
        out: list[tuple[str, int | None]] = [(h, None) for h in self.hyper]
        for names in self.segments:
            out += [(n, j) for j in range(count) for n in names]
        return out + [(h, None) for h in self.trailing]


@dataclass(frozen=True, slots=True)
class KerasLayout:
    """The live model as Keras files see it: its layers and, with ``optimizer=``, how that
    optimizer's class orders its variables."""

    model_name: str
    layers: tuple[LayerInfo, ...]
    optimizer: OptimizerLayout | None = None

    def layer(self, path: tuple[str, ...]) -> LayerInfo | None:
        for info in self.layers:
            if info.path == path:
                return info
        return None

    def of_class(self, class_name: str) -> list[LayerInfo]:
        return [info for info in self.layers if info.class_name == class_name]


_WORD = re.compile(r"\W+")
_CAP1 = re.compile(r"(.)([A-Z][a-z]+)")
_CAP2 = re.compile(r"([a-z])([A-Z])")


def snake_case(class_name: str) -> str:
    """Keras' ``naming.to_snake_case``: ``BatchNormalization`` -> ``batch_normalization``,
    the stem of the keys Keras files give layers in a list (``batch_normalization_1``)."""
    name = _WORD.sub("", class_name)
    return _CAP2.sub(r"\1_\2", _CAP1.sub(r"\1_\2", name)).lower()


def class_key_base(key: str, class_name: str) -> bool:
    """Is ``key`` the key Keras gives a ``class_name`` layer in a list (``dense``, ``dense_3``)?"""
    base = snake_case(class_name)
    return key == base or re.fullmatch(re.escape(base) + r"_\d+", key) is not None
