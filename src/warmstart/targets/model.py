"""The live side: walk a built Keras model, ``tf.Module`` or mapping of variables into
:class:`~warmstart.entries.TargetEntry` values. Reads only; :mod:`warmstart.apply` writes.

Target names: a Keras variable's ``path`` without the model's own name
(``tower/t0/kernel``); any other variable's attribute path (``sub/v``, ``lst/0``); a
mapping's keys. Only variables a checkpoint can hold are targets: those reachable through
the object graph (a Dropout's seed state is not), optimizer state excluded.
"""

from __future__ import annotations

import functools
import re
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import keras
import tensorflow as tf

from ..entries import TargetEntry
from ..errors import TargetNotBuiltError, UnsupportedTargetError
from ..names import MAX_PATHS, OPTIMIZER_EDGES, structural_name
from ..remap.lookups import LookupView
from ..remap.vocab import is_lookup, lookup_layout
from ..remap.vocab_files import read_tokens
from .layers import layer_infos
from .legacy import is_tf_keras
from .variables import dtype_of, is_variable, shape_of

__all__ = ["Target", "lookup_views", "walk_target"]


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
        if not isinstance(name, str) or not is_variable(v):
            raise UnsupportedTargetError(
                f"a mapping target must map str to tf.Variable or keras.Variable; "
                f"{name!r} maps to {type(v).__name__}."
            )
        entries.append(TargetEntry(name, shape_of(v), dtype_of(v), (name,)))
        variables[name] = v
    return Target(tuple(entries), variables, "mapping")


def _is_tf_keras_layer(obj: Any) -> bool:
    """A legacy Keras 2 (``tf_keras``) layer or model (a user's subclass too)."""
    return is_tf_keras(obj, "Layer") and hasattr(obj, "built")


def _variable_name(v: Any, paths: list[str], legacy: bool) -> str | None:
    """Keras 3: ``variable.path``; tf_keras: the TF variable name; else None (use the path)."""
    if isinstance(v, keras.Variable):
        return v.path
    if legacy:
        if isinstance(v, tf.__internal__.distribute.ShardedVariable):  # its name is 'ShardedVariable'
            return re.sub(r"/part_0(:0)?$", "", v.variables[0].name)
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
    reached = {id(v) for v, _ in found}
    reached |= {id(shard) for v, _ in found for shard in getattr(v, "variables", ())
                if isinstance(v, tf.__internal__.distribute.ShardedVariable)}  # model.weights lists shards
    untracked = {id(v): v for v in model.weights if id(v) not in reached}
    found += [(v, []) for v in untracked.values()]
    legacy = _is_tf_keras_layer(model)
    prefix = model.name + "/"
    auto = _auto_named_layers(model)
    named = []
    for v, paths in found:
        name = _variable_name(v, paths, legacy)
        if name is None:
            name = structural_name(paths[0])
        elif name.startswith(prefix):  # per name: a layer built before its model (an adapted
            name = name[len(prefix) :]  # Normalization) has no model name in its path, the others do
        named.append((name, v, paths))
    # Keras paths are not unique (two sub-models both named 'enc'); the checkpoint side
    # names such variables by structure too, so use the attribute path for them.
    counts = Counter(name for name, _, _ in named)
    named = [(structural_name(paths[0]) if counts[name] > 1 and paths else name, v, paths) for name, v, paths in named]
    owners = layer_infos(model, {id(v): name for name, v, _ in named})
    entries, variables = [], {}
    for name, v, paths in named:
        parts = name.split("/")
        components = tuple((i, auto[p]) for i, p in enumerate(parts[:-1]) if p in auto)
        why = _untracked_reason(model, v) if id(v) in untracked else None
        entries.append(TargetEntry(name, shape_of(v), dtype_of(v), tuple(paths), components, why,
                                   layer=owners.get(id(v))))
        variables[name] = v
    return Target(tuple(entries), variables, "keras")


def _untracked_reason(model: Any, v: Any) -> str:
    """Why TF's object graph misses ``v`` although ``model.weights`` has it: Keras 3 tracks a
    plain Python list of layers for its own bookkeeping, but TensorFlow's checkpointing does
    not see into it, so no ``tf.train.Checkpoint`` of the model ever held the variable."""
    owner = next((layer for layer in model._flatten_layers(include_self=True, recursive=True)
                  if any(w is v for w in getattr(layer, "_trainable_variables", ()) +
                         getattr(layer, "_non_trainable_variables", ()))), None)
    holder = _list_holding(model, owner) if owner is not None else None
    where = (f"the layer {owner.name!r} is held in the plain Python {holder}, which "
             if owner is not None and holder else "it is held where ")
    return (
        f"not in the checkpoint: {where}TensorFlow's object graph does not see, so "
        f"tf.train.Checkpoint saved it under no name of the model (Keras 3 tracks such lists only for "
        f"model.weights; an optimizer's unnamed variable list may hold a copy, which nothing pairs with it). "
        f"Fix: hold the layers in a tracked container (a keras.Sequential, or one attribute per layer), "
        f"or save and warm-start from model.save_weights('x.weights.h5'), which includes them"
    )


def _list_holding(model: Any, layer: Any) -> str | None:
    """``list `blocks` of 'model'`` when some layer's attribute is a list or dict holding ``layer``
    (a public attribute before Keras's own bookkeeping lists such as ``_layers``)."""
    found = []
    for obj in model._flatten_layers(include_self=True, recursive=True):
        for attr, value in vars(obj).items():
            items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ()
            if any(item is layer for item in items):
                kind = "dict" if isinstance(value, dict) else "list"
                found.append((attr.startswith("_"), f"{kind} `{attr}` of {obj.name!r}"))
    return min(found)[1] if found else None


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
            if is_variable(child):
                paths = found.setdefault(id(child), (child, []))[1]
                if len(paths) < MAX_PATHS:
                    paths.append(child_path)
                continue
            if expanded.get(id(child), 0) >= MAX_PATHS:
                continue
            expanded[id(child)] = expanded.get(id(child), 0) + 1
            queue.append((child, child_path, on_path | {id(child)}))
    return list(found.values())


def _children(obj: Any) -> Mapping[str, Any]:
    try:
        return tf.train.TrackableView.children(obj)
    except (AttributeError, TypeError):
        return {}


def _is_optimizer(obj: Any) -> bool:
    if isinstance(obj, keras.optimizers.Optimizer):
        return True
    return is_tf_keras(obj, "Optimizer", "OptimizerV2") and hasattr(obj, "apply_gradients")


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


def lookup_views(target: Any) -> list[LookupView]:
    """The Keras lookup layers (``StringLookup``, ``IntegerLookup``) of a Keras target."""
    flatten = getattr(target, "_flatten_layers", None)
    if flatten is None:
        return []
    out = []
    for layer in flatten(include_self=True, recursive=True):
        if not is_lookup(layer):
            continue
        layout = lookup_layout(layer)
        out.append(LookupView(
            name=layer.name, kind=type(layer).__name__, layout=layout,
            tokens=int(layer.vocabulary_size()) - layout.leading,
            read_tokens=functools.partial(read_tokens, layer, label=layer.name),
        ))
    return out
