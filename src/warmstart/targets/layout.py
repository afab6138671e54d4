"""Describe a live Keras model (and optimizer) as :class:`~warmstart.layout.KerasLayout`: what a
reader of Keras' own files needs to name their positional entries. Reads only.

* Each layer's variables in the order Keras saves them: recorded by calling the layer's own
  ``save_own_variables`` with a dict, so a layer that overrides it (``Dense``, ``Embedding``,
  quantized layers) is described as it really saves.
* The optimizer's variable order: a scratch copy of the optimizer (``from_config``) is built
  on two tiny variables and its ``variables`` read back, so every class and configuration
  (amsgrad, EMA, momentum or not) is described by Keras' own ``build``. The user's optimizer
  is not touched.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from ..layout import KerasLayout, LayerInfo, OptimizerLayout
from ..names import slot_name
from .optimizer import slot_lists

__all__ = ["describe_keras", "optimizer_layout"]

log = logging.getLogger(__name__)


def describe_keras(model: Any, variables: Mapping[str, Any], optimizer: Any = None) -> KerasLayout | None:
    """The layout of a Keras 3 model whose variables the walker named ``variables``; None for
    anything else (a ``tf.Module``, a mapping)."""
    if not isinstance(model, keras.layers.Layer):
        return None
    names = {id(v): name for name, v in variables.items()}
    infos: list[LayerInfo] = []
    stack: list[tuple[Any, tuple[str, ...]]] = [(model, ())]
    seen: set[int] = set()
    while stack:
        layer, path = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        children = list(getattr(layer, "_layers", ()))
        saved = _saved_variables(layer)
        infos.append(LayerInfo(
            path=path,
            class_name=type(layer).__name__,
            variables=tuple(names.get(id(v), "") for v in saved),
            local_names=tuple(str(getattr(v, "name", "")) for v in saved),
            trainable=len(getattr(layer, "_trainable_variables", ())) if layer.trainable else 0,
            children=tuple(c.name for c in children),
            model=isinstance(layer, keras.Model),
        ))
        stack.extend((c, (*path, c.name)) for c in reversed(children))
    return KerasLayout(model.name, tuple(infos), optimizer_layout(optimizer) if optimizer is not None else None)


class _Recorder(dict):  # type: ignore[type-arg]
    """Stands in for Keras' weights store: keeps what ``save_own_variables`` stores."""


def _saved_variables(layer: Any) -> list[Any]:
    """What ``layer.save_own_variables`` stores, in order; the layer's variables themselves
    where it stores them (a merged LoRA kernel is a tensor and keeps no name)."""
    fallback = list(getattr(layer, "_trainable_variables", ())) + list(getattr(layer, "_non_trainable_variables", ()))
    store = _Recorder()
    try:
        layer.save_own_variables(store)
    except Exception as e:  # noqa: BLE001 - a custom layer's save may need more than a dict
        log.debug("save_own_variables of %r failed (%s); using its variable lists", layer.name, e)
        return fallback
    try:
        return [store[k] for k in sorted(store, key=int)]
    except ValueError:
        return fallback


def optimizer_layout(optimizer: Any) -> OptimizerLayout | None:
    """How ``optimizer``'s class orders its variables, from a scratch copy built on two tiny
    variables of different shapes; None when it cannot be built that way."""
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        return None
    try:
        scratch = type(optimizer).from_config(optimizer.get_config())
        a = keras.Variable(np.zeros((2,), "float32"), name="warmstart_probe_a")
        b = keras.Variable(np.zeros((3,), "float32"), name="warmstart_probe_b")
        scratch.build([a, b])
    except Exception as e:  # noqa: BLE001 - any optimizer class, any from_config
        log.debug("cannot build a scratch %s: %s", type(optimizer).__name__, e)
        return None
    inner = getattr(scratch, "inner_optimizer", scratch)
    owner_of: dict[int, tuple[str, int]] = {}
    for list_name, items in slot_lists(inner):
        for j, v in enumerate(items):
            if v is not None:
                owner_of[id(v)] = (slot_name(list_name), j)
    same_shape = True
    kinds: list[tuple[str, int | None]] = []
    for v in scratch.variables:
        if id(v) in owner_of:
            name, j = owner_of[id(v)]
            kinds.append((name, j))
            same_shape &= tuple(v.shape) == ((2,), (3,))[j]
        else:
            kinds.append((_hyper_name(scratch, v), None))
    return _compress(type(optimizer).__name__, kinds, same_shape)


def _hyper_name(opt: Any, v: Any) -> str:
    """What an optimizer variable that is not a slot is: ``iterations`` and ``learning_rate``
    for the optimizer's own, else its attribute path, as in TF checkpoints (Nadam's
    ``_u_product``; a loss-scale optimizer's ``dynamic_scale``, and its inner optimizer's
    ``inner_optimizer/_iterations``)."""
    if v is getattr(opt, "_iterations", None):
        return "iterations"
    if v is getattr(opt, "_learning_rate", None):
        return "learning_rate"
    inner = getattr(opt, "inner_optimizer", opt)
    for obj, prefix in ((opt, ""), (inner, "inner_optimizer/")):
        for attr, value in vars(obj).items():
            if value is v:
                return prefix + attr
    return str(getattr(v, "name", "variable"))


def _compress(class_name: str, kinds: list[tuple[str, int | None]], same_shape: bool) -> OptimizerLayout | None:
    """``[(name, owner)]`` of an optimizer built on two variables -> segments, or None when the
    order is not hyper, segments (interleaved over the variables), trailing hyper."""
    hyper = []
    i = 0
    while i < len(kinds) and kinds[i][1] is None:
        hyper.append(kinds[i][0])
        i += 1
    segments = []
    while i < len(kinds) and kinds[i][1] is not None:
        names = []
        while i < len(kinds) and kinds[i][1] == 0:
            names.append(kinds[i][0])
            i += 1
        second = [kinds[i + k] for k in range(len(names)) if i + k < len(kinds)]
        if not names or second != [(n, 1) for n in names]:
            return None
        i += len(names)
        segments.append(tuple(names))
    trailing = [k[0] for k in kinds[i:] if k[1] is None]
    if len(trailing) != len(kinds) - i:
        return None
    layout = OptimizerLayout(class_name, tuple(hyper), tuple(segments), tuple(trailing), same_shape)
    return layout if layout.positions(2) == kinds else None
