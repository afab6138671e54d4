"""Where a layer's inputs come from: its input's last axis traced back through a Keras
Functional or Sequential graph, as a :class:`~warmstart.entries.Feed`. Reads only.

``preserve`` zeroes a grown kernel's "new inputs N-M", which keeps the function only when the
new inputs are the last positions of the consumer's input axis. Between the grown producer
and the consumer there may be layers that move positions: a ``Flatten`` of ``(..., C)`` puts
channel ``c`` of position ``s`` at ``s*C + c`` (new channels land between old ones), and a
``Concatenate`` puts a widened part before the parts after it. So the trace goes only through
an allow-list of layers that keep each position of the last axis, plus ``Flatten`` and
``Concatenate`` on the last axis, whose positions it writes down; anything else (``Reshape``,
``Permute``, a custom layer, a nested model) makes the layout unknown, and ``preserve``
falls back to an overlap that says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..entries import Feed
from ..matching.layouts import ELEMENTWISE
from .variables import layer_variables, short_name

__all__ = ["PRODUCERS", "activation_name", "feed_of", "reach_of"]

# position i of the last axis in -> position i out (elementwise, or reducing other axes only)
_KEEP = frozenset({
    "Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "Identity", "ActivityRegularization",
    "Dropout", "AlphaDropout", "GaussianDropout", "GaussianNoise",
    "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
    "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
    "UpSampling1D", "UpSampling2D", "UpSampling3D",
    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
    "Cropping1D", "Cropping2D", "Cropping3D",
})
_NORMS_LAST = frozenset({"BatchNormalization"})  # over the last axis: each channel alone (a LayerNormalization mixes them)
# the producer's variable whose axis is its output width, and that axis
PRODUCERS = {
    "Dense": ("kernel", -1), "Embedding": ("embeddings", -1),
    "Conv1D": ("kernel", -1), "Conv2D": ("kernel", -1), "Conv3D": ("kernel", -1),
    "Conv1DTranspose": ("kernel", -2), "Conv2DTranspose": ("kernel", -2), "Conv3DTranspose": ("kernel", -2),
    "SeparableConv1D": ("pointwise_kernel", -1), "SeparableConv2D": ("pointwise_kernel", -1),
}
_MAX_PARTS = 1 << 16  # a Flatten of a large map: give up rather than list every position
_MAX_DEPTH = 200


class _Unknown(Exception):
    """The layout of the traced axis cannot be known; the message says why."""


def feed_of(layer: Any, names: Mapping[int, str], model_inputs: frozenset[int]) -> Feed | None:
    """The feed of ``layer``'s first input, or None where the layer is in no graph (a
    subclassed model). ``names``: ``id(variable) -> target name``; ``model_inputs``: ids of
    the root model's input tensors (a nested model's inputs are fed by what the trace cannot
    see)."""
    nodes = list(getattr(layer, "_inbound_nodes", None) or ())
    if not nodes:
        return None
    if len(nodes) != 1:
        return Feed(why=f"{layer.name!r} is called {len(nodes)} times")
    tensors = _inputs(nodes[0])
    if not tensors:
        return None
    via: list[str] = []
    try:
        parts = _trace(tensors[0], names, model_inputs, via, 0)
    except _Unknown as e:
        return Feed(why=str(e))
    return Feed(tuple(parts), tuple(dict.fromkeys(via)))


_KERNELS = frozenset({"Dense", "Conv1D", "Conv2D", "Conv3D"})  # consumers whose own feed is traced


def reach_of(layer: Any) -> str:
    """Why new output units of ``layer`` (a producer) may change what the model computes,
    or "": they may only reach kernels (which decide for themselves whether their new inputs
    are zeroed), through layers that keep each position, or be the model's outputs. A
    ``Dot``, ``Add`` or any other layer they reach mixes them into old positions."""
    nodes = list(getattr(layer, "_inbound_nodes", None) or ())
    if len(nodes) != 1:
        return ""  # no graph (or several calls): the consumers' own traces say what they can
    seen: set[int] = set()
    stack = [layer]
    while stack:
        op = stack.pop()
        if id(op) in seen or len(seen) > _MAX_DEPTH * 10:
            continue
        seen.add(id(op))
        for node in list(getattr(op, "_outbound_nodes", None) or ()):
            consumer = getattr(node, "operation", None)
            if consumer is None:
                consumer = getattr(node, "outbound_layer", None)  # tf_keras
            kind = type(consumer).__name__
            if kind in _KERNELS:
                continue
            out = next(iter(_outputs(node)), None)
            keeps = kind == "Flatten" or _keeps(consumer, kind, out) or (
                kind == "Concatenate" and out is not None and _on_last(getattr(consumer, "axis", None), out))
            if not keeps:
                return (f"its new units reach {kind} {getattr(consumer, 'name', '')!r}, which mixes them into what "
                        f"the old ones compute")
            stack.append(consumer)
    return ""


def _outputs(node: Any) -> list[Any]:
    return _tensors(node, "outputs", "output_tensors")  # Keras 3, tf_keras


def _inputs(node: Any) -> list[Any]:
    return _tensors(node, "input_tensors", "keras_inputs")


def _tensors(node: Any, *attributes: str) -> list[Any]:
    """A node's tensors under the first of ``attributes`` it has (never truth-tested: a
    tf_keras symbolic tensor refuses ``len``)."""
    for attribute in attributes:
        tensors = getattr(node, attribute, None)
        if tensors is not None:
            return list(tensors) if isinstance(tensors, list | tuple) else [tensors]
    return []


def _keeps(op: Any, kind: str, tensor: Any) -> bool:
    """Does layer ``op`` (of class ``kind``; ``tensor`` one of its outputs) keep each position
    of the last axis where it was?"""
    if kind == "Activation" and activation_name(op) not in ELEMENTWISE:
        return False
    return kind in _KEEP or (kind in _NORMS_LAST and tensor is not None and _norms_last(op, tensor))


def _trace(tensor: Any, names: Mapping[int, str], model_inputs: frozenset[int], via: list[str],
           depth: int) -> list[tuple[str, int, int]]:
    history = getattr(tensor, "_keras_history", None)
    if history is None or depth > _MAX_DEPTH:
        raise _Unknown("inputs come from a tensor outside the model's graph")
    op, node_index = history[0], history[1]
    kind = type(op).__name__
    width = _last(tensor)
    if kind == "InputLayer":
        if id(tensor) not in model_inputs:
            raise _Unknown("inputs come through a nested model's input")
        return [("", -1, width)]
    if kind in PRODUCERS or kind == "Activation":
        act = activation_name(op)
        if act not in ELEMENTWISE:
            raise _Unknown(f"inputs come through the activation {act!r} of {kind} {op.name!r}, which is not "
                           f"applied to each position alone")
    if kind in PRODUCERS:
        return [_producer(op, kind, names, width)]
    nodes = list(getattr(op, "_inbound_nodes", None) or ())
    if node_index >= len(nodes):
        raise _Unknown(f"inputs come through {kind} {op.name!r}, whose call is not in the graph")
    inputs = _inputs(nodes[node_index])
    if _keeps(op, kind, tensor):  # an Activation that is not elementwise was refused above
        return _trace(inputs[0], names, model_inputs, via, depth + 1)
    if kind == "Concatenate" and _on_last(getattr(op, "axis", None), tensor):
        via.append("Concatenate")
        return [p for t in inputs for p in _part(t, names, model_inputs, via, depth + 1)]
    if kind == "Flatten" and len(inputs) == 1:
        shape = tuple(inputs[0].shape)
        if getattr(op, "data_format", "channels_last") == "channels_first" and len(shape) > 2:
            raise _Unknown(f"inputs come through Flatten {op.name!r} of channels_first data")
        positions = shape[1:-1]
        if any(d is None for d in positions):
            raise _Unknown(f"inputs come through Flatten {op.name!r} of a tensor of unknown shape")
        inner = _trace(inputs[0], names, model_inputs, via, depth + 1)
        count = math.prod(int(d) for d in positions)
        if count == 1:
            return inner
        if count * len(inner) > _MAX_PARTS:
            raise _Unknown(f"inputs come through Flatten {op.name!r} of {count} positions")
        via.append("Flatten")
        return inner * count
    raise _Unknown(f"inputs come through {kind} {op.name!r}")


def _part(tensor: Any, names: Mapping[int, str], model_inputs: frozenset[int], via: list[str],
          depth: int) -> list[tuple[str, int, int]]:
    """A part of a Concatenate; one the trace cannot see into is opaque ("?why"): of unknown
    old width, and preserved only if it kept its width."""
    try:
        return _trace(tensor, names, model_inputs, via, depth)
    except _Unknown as e:
        return [("?" + str(e), -1, _last(tensor))]


def _producer(op: Any, kind: str, names: Mapping[int, str], width: int) -> tuple[str, int, int]:
    if str(getattr(op, "data_format", "channels_last")) == "channels_first":
        raise _Unknown(f"inputs come from {kind} {op.name!r} with channels_first data")
    variable, axis = PRODUCERS[kind]
    for v in layer_variables(op, trainable_only=True):
        if short_name(v) == variable and id(v) in names:
            return names[id(v)], axis, width
    raise _Unknown(f"inputs come from {kind} {op.name!r}, whose {variable!r} is not a target")


def activation_name(layer: Any) -> str:
    """The name of ``layer``'s own activation ("" for none or linear); a function without a
    ``__name__`` (a callable object) by its class."""
    fn = getattr(layer, "activation", None)
    if fn is None:
        return ""
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return "" if name == "linear" else str(name)


def _last(tensor: Any) -> int:
    shape = tuple(tensor.shape)
    if not shape or shape[-1] is None:
        raise _Unknown("inputs come through a tensor of unknown width")
    return int(shape[-1])


def _on_last(axis: Any, tensor: Any) -> bool:
    rank = len(tuple(tensor.shape))
    return isinstance(axis, int) and axis in (-1, rank - 1)


def _norms_last(op: Any, tensor: Any) -> bool:
    axis = getattr(op, "axis", None)
    if isinstance(axis, list | tuple):
        axis = axis[0] if len(axis) == 1 else None
    return _on_last(axis, tensor)
