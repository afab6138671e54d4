"""Which Keras layer owns each variable of a model, as :class:`~warmstart.entries.LayerInfo`:
what ``on_mismatch="preserve"`` needs to tell a variable's input axes from its output axes.

Reads only. A variable belongs to the layer that created it (its own trainable and
non-trainable variables, not those of its sublayers), and that layer's parent is recorded
too, since a MultiHeadAttention decides what its ``query`` EinsumDense's axes mean.
Keras 3 and tf_keras layers both work. A Dense or convolution also gets its
:class:`~warmstart.entries.Feed` (:mod:`.feeds`): whether its new inputs are really appended.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from ..entries import LayerInfo
from .feeds import PRODUCERS, activation_name, feed_of, reach_of
from .variables import layer_variables, short_name

__all__ = ["derived_state_layers", "layer_infos", "models_holding"]


# layers whose kernel's input axis is their input's last axis: their feed is traced
_CONSUMERS = frozenset({"Dense", "Conv1D", "Conv2D", "Conv3D"})


def layer_infos(model: Any, names: Mapping[int, str] | None = None) -> dict[int, LayerInfo]:
    """``id(variable) -> LayerInfo`` for every variable a layer of ``model`` created.
    ``names`` (``id(variable) -> target name``) lets a feed name its producers."""
    out: dict[int, LayerInfo] = {}
    composes: dict[int, bool] = {}  # per parent, asked once: a model's `layers` lists all of them
    inputs = _model_inputs(model)
    for layer, parent in _layers(model):
        if parent is not None and id(parent) not in composes:
            composes[id(parent)] = _is_layer_parent(parent)
        kind = type(layer).__name__
        feed = feed_of(layer, names or {}, inputs) if kind in _CONSUMERS else None
        reach = reach_of(layer) if kind in PRODUCERS else ""
        for v in layer_variables(layer):
            info = _info(layer, parent if parent is not None and composes[id(parent)] else None, v)
            out.setdefault(id(v), replace(info, feed=feed, reach=reach) if feed is not None or reach else info)
    return out


def derived_state_layers(model: Any, variable_ids: set[int]) -> list[Any]:
    """Layers of ``model`` that own one of ``variable_ids`` and keep state derived from their
    variables, refreshed by ``finalize_state`` (an adapted Keras ``Normalization`` computes
    with tensors made from ``adapt_mean``/``adapt_variance``, not with the variables: Keras'
    own loader calls ``finalize_state`` after loading, and so must a warm start)."""
    out = []
    for layer, _ in _layers(model):
        method = getattr(type(layer), "finalize_state", None)
        if method is None or _inherited_no_op(type(layer)):
            continue
        if any(id(v) in variable_ids for v in layer_variables(layer)):
            out.append(layer)
    return out


def models_holding(model: Any, layers: list[Any]) -> list[Any]:
    """``model`` and the models under it that hold (at any depth) one of ``layers``."""
    wanted = {id(layer) for layer in layers}
    parents: dict[int, Any] = {}
    for layer, parent in _layers(model):
        if parent is not None:
            parents.setdefault(id(layer), parent)
    out: dict[int, Any] = {}
    for key in wanted:
        p = parents.get(key)
        while p is not None:
            if hasattr(p, "predict_function"):
                out[id(p)] = p
            p = parents.get(id(p))
    return list(out.values())


def _inherited_no_op(cls: type) -> bool:
    """``finalize_state`` comes from a base layer class (where it does nothing)."""
    for klass in cls.__mro__:
        if "finalize_state" in vars(klass):
            return klass.__module__.rsplit(".", 1)[-1] in ("layer", "base_layer", "base_preprocessing_layer")
    return True


def _model_inputs(model: Any) -> frozenset[int]:
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):  # a subclassed model has none
        return frozenset()
    return frozenset(id(t) for t in inputs or ())


def _layers(root: Any) -> Iterator[tuple[Any, Any]]:
    """Every layer under ``root`` (itself included) with the layer that holds it."""
    seen: set[int] = set()
    stack: list[tuple[Any, Any]] = [(root, None)]
    while stack:
        layer, parent = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        yield layer, parent
        try:
            children = layer._flatten_layers(include_self=False, recursive=False)
        except (AttributeError, TypeError):
            children = []
        stack.extend((child, layer) for child in children)


def _info(layer: Any, parent: Any, v: Any) -> LayerInfo:
    return LayerInfo(
        kind=type(layer).__name__,
        variable=short_name(v),
        name=str(getattr(layer, "name", "")),
        parent=type(parent).__name__ if parent is not None else "",
        padding=str(getattr(layer, "padding", "") or "").lower(),
        strides=_ints(getattr(layer, "strides", ())),
        dilation=_ints(getattr(layer, "dilation_rate", ())),
        groups=int(getattr(layer, "groups", 1) or 1),
        equation=str(getattr(layer, "equation", "") or ""),
        bias_axes=str(getattr(layer, "bias_axes", "") or ""),
        activation=activation_name(layer),
    )


def _is_layer_parent(parent: Any) -> bool:
    """A model or Sequential holding a layer says nothing about its axes: only layers that
    compose sublayers into one computation (attention) do. (``hasattr`` on the class: a
    Functional model's ``layers`` property builds the list of all its layers.)"""
    return not hasattr(type(parent), "layers")


def _ints(value: Any) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,)
    try:
        return tuple(int(x) for x in value)
    except (TypeError, ValueError):
        return ()
