"""The live side: walk a built Keras model, ``tf.Module`` or mapping of variables into
:class:`~warmstart.entries.TargetEntry` values, and write into its variables.

Target names: a Keras variable's ``path`` without the model's own name
(``tower/t0/kernel``); any other variable's attribute path (``sub/v``, ``lst/0``); a
mapping's keys. Only variables a checkpoint can hold are targets: those reachable through
the object graph (a Dropout's seed state is not), optimizer state excluded.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from .entries import TargetEntry
from .errors import TargetNotBuiltError, UnsupportedTargetError
from .names import OPTIMIZER_EDGES, structural_name

__all__ = ["Target", "TargetNotBuiltError", "dtype_of", "shape_of", "walk_target", "write_block", "write_full",
           "write_region", "write_rows"]

_MAX_PATHS = 8


@dataclass(frozen=True, slots=True)
class Target:
    entries: tuple[TargetEntry, ...]
    variables: Mapping[str, Any]  # name -> keras.Variable | tf.Variable
    kind: str  # "keras" | "module" | "mapping"


def walk_target(target: Any) -> Target:
    if isinstance(target, Mapping):
        return _from_mapping(target)
    if isinstance(target, keras.layers.Layer) or _is_tf_keras_layer(target):
        return _from_keras(target)
    if isinstance(target, tf.Module) or hasattr(target, "_trackable_children"):
        return _from_trackable(target)
    raise UnsupportedTargetError(
        f"cannot warm-start a {type(target).__name__}: pass a built keras.Model, a tf.Module "
        f"or a Mapping[str, tf.Variable]."
    )


def _from_mapping(target: Mapping[str, Any]) -> Target:
    entries, variables = [], {}
    for name, v in target.items():
        if not isinstance(name, str) or not _is_variable(v):
            raise UnsupportedTargetError(
                f"a mapping target must map str to tf.Variable or keras.Variable; "
                f"{name!r} maps to {type(v).__name__}."
            )
        entries.append(TargetEntry(name, shape_of(v), dtype_of(v), (name,)))
        variables[name] = v
    return Target(tuple(entries), variables, "mapping")


def _is_tf_keras_layer(obj: Any) -> bool:
    """A legacy Keras 2 (``tf_keras``) layer or model, without importing tf_keras."""
    return type(obj).__module__.startswith("tf_keras") and hasattr(obj, "built")


def _variable_name(v: Any, paths: list[str], legacy: bool) -> str | None:
    """Keras 3: ``variable.path``; tf_keras: the TF variable name; else None (use the path)."""
    if isinstance(v, keras.Variable):
        return v.path
    if legacy:
        return v.name.removesuffix(":0")
    return None


def _from_keras(model: Any) -> Target:
    if not model.built or not model.variables:
        has_layers = bool(getattr(model, "layers", None))
        raise TargetNotBuiltError(
            f"the model {model.name!r} ({type(model).__name__}) is not built, so it has no "
            f"variables to warm-start{' yet' if has_layers else ''}.\n"
            f"  Fix: build it first, e.g. model.build((None, n_features)) or model(sample_batch), "
            f"or give a Sequential/Functional model a keras.Input."
        )
    found = _walk(model)
    legacy = _is_tf_keras_layer(model)
    own = [n for v, paths in found if (n := _variable_name(v, paths, legacy)) is not None]
    prefix = model.name + "/"
    strip = bool(own) and all(n.startswith(prefix) for n in own)
    auto = _auto_named_layers(model)
    named = []
    for v, paths in found:
        name = _variable_name(v, paths, legacy)
        if name is None:
            name = structural_name(paths[0])
        elif strip:
            name = name[len(prefix) :]
        named.append((name, v, paths))
    # Keras paths are not unique (two sub-models both named 'enc'); the checkpoint side
    # names such variables by structure too, so use the attribute path for them.
    counts = Counter(name for name, _, _ in named)
    entries, variables = [], {}
    for name, v, paths in named:
        if counts[name] > 1:
            name = structural_name(paths[0])
        parts = name.split("/")
        components = tuple((i, auto[p]) for i, p in enumerate(parts[:-1]) if p in auto)
        entries.append(TargetEntry(name, shape_of(v), dtype_of(v), tuple(paths), components))
        variables[name] = v
    return Target(tuple(entries), variables, "keras")


def _from_trackable(module: Any) -> Target:
    found = _walk(module)
    if not found:
        raise TargetNotBuiltError(
            f"the {type(module).__name__} has no variables; create or build them before warm-starting."
        )
    entries, variables = [], {}
    for v, paths in found:
        name = structural_name(paths[0])
        entries.append(TargetEntry(name, shape_of(v), dtype_of(v), tuple(paths)))
        variables[name] = v
    return Target(tuple(entries), variables, "module")


def _walk(root: Any) -> list[tuple[Any, list[str]]]:
    """Every variable reachable from ``root`` with its object-graph paths (shortest first),
    as ``tf.train.Checkpoint`` would see them, optimizers left out."""
    found: dict[int, tuple[Any, list[str]]] = {}
    expanded: dict[int, int] = {}
    queue: deque[tuple[Any, str, frozenset[int]]] = deque([(root, "", frozenset({id(root)}))])
    while queue:
        obj, path, on_path = queue.popleft()
        for local, child in _children(obj).items():
            if local in OPTIMIZER_EDGES or _is_optimizer(child) or id(child) in on_path:
                continue
            child_path = f"{path}/{local}" if path else local
            if _is_variable(child):
                paths = found.setdefault(id(child), (child, []))[1]
                if len(paths) < _MAX_PATHS:
                    paths.append(child_path)
                continue
            if expanded.get(id(child), 0) >= _MAX_PATHS:
                continue
            expanded[id(child)] = expanded.get(id(child), 0) + 1
            queue.append((child, child_path, on_path | {id(child)}))
    return list(found.values())


def _children(obj: Any) -> Mapping[str, Any]:
    try:
        return tf.train.TrackableView.children(obj)
    except (AttributeError, TypeError):
        return {}


def _is_variable(obj: Any) -> bool:
    return isinstance(obj, (keras.Variable, tf.Variable))


def _is_optimizer(obj: Any) -> bool:
    if isinstance(obj, keras.optimizers.Optimizer):
        return True
    mod = type(obj).__module__
    return "optimizer" in mod and ("tf_keras" in mod or "keras" in mod) and hasattr(obj, "apply_gradients")


_CAMEL = re.compile(r"(?<!^)(?=[A-Z][a-z])|(?<=[a-z0-9])(?=[A-Z])")


def _snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


def _auto_named_layers(model: Any) -> dict[str, str]:
    """Layer name -> class base, for layers whose name Keras generated (``dense_7``)."""
    out: dict[str, str] = {}
    seen: set[str] = set()
    for layer in model._flatten_layers(include_self=True, recursive=True):
        base = _snake(type(layer).__name__)
        name = layer.name
        if name in seen:  # two layers share a name: leave it to structure
            out.pop(name, None)
            continue
        seen.add(name)
        if name == base or re.fullmatch(re.escape(base) + r"_\d+", name):
            out[name] = base
    return out


def shape_of(v: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in v.shape)


def dtype_of(v: Any) -> str:
    """A variable's dtype name: Keras variables give a string, TF ones a ``tf.DType``."""
    d = v.dtype
    return d if isinstance(d, str) else d.name


def _tf_variable(v: Any) -> Any:
    """The TF variable behind a Keras variable (its ``value`` outside autocast)."""
    if isinstance(v, keras.Variable):
        inner = v.value
        return inner if isinstance(inner, tf.Variable) else v
    return v


def write_full(v: Any, value: tf.Tensor) -> None:
    """Assign a whole value (same shape and dtype). An eager tensor is handed over, not copied."""
    _tf_variable(v).assign(value, read_value=False)


def write_block(v: Any, block: tf.Tensor) -> None:
    """Write ``block`` into the leading corner ``[0:b0, 0:b1, ...]`` of ``v``, in place
    (``v[i:j].assign`` would copy the whole variable); see :func:`write_region`."""
    tv = _tf_variable(v)
    if len(block.shape) == 0 or tuple(block.shape) == tuple(tv.shape):
        tv.assign(block, read_value=False)
        return
    write_region(v, (0,) * len(block.shape), block)


def write_rows(v: Any, rows: Any, values: tf.Tensor, *, axis: int = 0) -> None:
    """Write ``values`` into rows (``axis=0``) or columns (``axis=1``) ``rows`` of ``v``.

    Whole rows on axis 0 go through ``scatter_update``, in place and on every replica;
    anything else (columns, or rows narrower than the variable) patches a copy.
    """
    tv = _tf_variable(v)
    full = list(tv.shape)
    full[axis] = len(rows)
    if axis == 0 and tuple(values.shape) == tuple(full):
        # ResourceScatterUpdate copies rows in place at about memory speed (~5 GB/s here);
        # ResourceStridedSliceAssign is 3-5x slower on the same rows.
        tv.scatter_update(tf.IndexedSlices(values, tf.constant(rows, tf.int64)))
        return
    current = np.array(tv.numpy())
    index: list[Any] = [slice(0, d) for d in values.shape]
    index[axis] = np.asarray(rows)
    current[tuple(index)] = values.numpy()
    tv.assign(current)


def write_region(v: Any, begin: tuple[int, ...], values: tf.Tensor) -> None:
    """Write ``values`` at offset ``begin`` (a box inside ``v``), in place for plain
    variables; distributed ones get a patched whole assign so every replica is written."""
    tv = _tf_variable(v)
    end = [b + d for b, d in zip(begin, values.shape, strict=True)]
    if type(tv).__name__ in ("ResourceVariable", "UninitializedVariable"):
        tf.raw_ops.ResourceStridedSliceAssign(
            ref=tv.handle, begin=list(begin), end=end, strides=[1] * len(begin), value=values
        )
        return
    current = np.array(tv.numpy())
    current[tuple(slice(b, e) for b, e in zip(begin, end, strict=True))] = values.numpy()
    tv.assign(current)
