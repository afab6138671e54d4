"""The live optimizer's side: its slots, attached to target variables, and its step.

Keras 3 keeps each kind of slot in a list parallel to ``_trainable_variables`` (Adam's
``_momentums``, Adafactor's ``_r``/``_c``/``_v``, EMA's ``_model_variables_moving_average``);
a ``LossScaleOptimizer`` keeps them on its ``inner_optimizer``. tf_keras optimizers pair
their lists through ``_index_dict``; legacy ones answer ``get_slot``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import tensorflow as tf

from .entries import TargetSlot
from .errors import OptimizerError
from .names import NOT_SLOT_LISTS, slot_name
from .targets import dtype_of, shape_of

__all__ = ["OptimizerError", "OptimizerTarget", "walk_optimizer"]

ITERATIONS = "optimizer/iterations"


@dataclass(frozen=True, slots=True)
class OptimizerTarget:
    slots: tuple[TargetSlot, ...]
    variables: Mapping[str, Any]  # handle -> slot variable (and ITERATIONS -> the counter)
    built_now: bool
    name: str


def walk_optimizer(optimizer: Any, variables: Mapping[str, Any], build_on: Sequence[Any]) -> OptimizerTarget:
    """Find the slots of ``optimizer`` for the target ``variables`` (name -> variable).

    An unbuilt Keras 3 optimizer is built on ``build_on`` (the model's trainable variables)
    first, as ``fit`` would.
    """
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    built_now = False
    if isinstance(optimizer, keras.optimizers.Optimizer):
        if not optimizer.built:
            optimizer.build(list(build_on))
            built_now = True
        owners = _owners_keras(inner, variables)
    elif hasattr(inner, "_index_dict") and hasattr(inner, "_var_key"):
        owners = _owners_tf_keras(inner, variables)
    else:
        raise OptimizerError(
            f"cannot carry the slots of a {type(optimizer).__name__}: warmstart knows Keras 3 "
            f"optimizers (LossScaleOptimizer included) and tf_keras optimizers.\n"
            f"  Fix: pass a keras.optimizers optimizer, or leave optimizer=None to load weights only."
        )
    slots, handles = [], {}
    for list_name, items in _slot_lists(inner):
        for idx, slot_var in enumerate(items):
            owner = owners.get(idx)
            if owner is None or slot_var is None:
                continue
            handle = f"{owner}@{slot_name(list_name)}"
            slots.append(TargetSlot(owner, slot_name(list_name), shape_of(slot_var), dtype_of(slot_var), handle))
            handles[handle] = slot_var
    handles[ITERATIONS] = optimizer.iterations
    return OptimizerTarget(tuple(slots), handles, built_now, getattr(optimizer, "name", type(optimizer).__name__))


def _owners_keras(inner: Any, variables: Mapping[str, Any]) -> dict[int, str]:
    by_id = {id(v): name for name, v in variables.items()}
    owners, strangers = {}, []
    for idx, v in enumerate(inner._trainable_variables):
        name = by_id.get(id(v))
        if name is None:
            strangers.append(getattr(v, "path", getattr(v, "name", "?")))
        else:
            owners[idx] = name
    if strangers:
        raise OptimizerError(
            f"the optimizer {inner.name!r} was built on {len(strangers)} variable(s) that are not the "
            f"target's (e.g. {strangers[0]!r}), so its slots belong to another model.\n"
            f"  Fix: pass a fresh optimizer (warmstart builds it on the target), or the one built on "
            f"this model."
        )
    return owners


def _owners_tf_keras(inner: Any, variables: Mapping[str, Any]) -> dict[int, str]:
    owners = {}
    for name, v in variables.items():
        idx = inner._index_dict.get(inner._var_key(v))
        if idx is not None:
            owners[idx] = name
    return owners


def _slot_lists(inner: Any) -> list[tuple[str, list[Any]]]:
    """The optimizer's per-variable lists, by attribute name.

    Attributes, not checkpoint children: Adafactor reassigns ``_r``/``_c``/``_v`` after
    tracking, so its tracked children are stale empty lists (which is also why its
    checkpoints hold those slots only positionally).
    """
    n = len(getattr(inner, "_trainable_variables", ()) or getattr(inner, "_index_dict", {}))
    out = []
    for name, value in vars(inner).items():
        if name in NOT_SLOT_LISTS or isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            continue  # Keras keeps slots in TrackedList/ListWrapper, sequences but not always lists
        if len(value) != n:
            continue
        if all(item is None or isinstance(item, (keras.Variable, tf.Variable)) for item in value):
            out.append((name, list(value)))
    return out
