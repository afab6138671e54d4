"""The live optimizer's side: its slots, attached to target variables, its step, and every
other variable it has (learning rate, Nadam's ``_u_product``, a loss scale, accumulators).

Keras 3 keeps each kind of slot in a list parallel to ``_trainable_variables`` (Adam's
``_momentums``, Adafactor's ``_r``/``_c``/``_v``, EMA's ``_model_variables_moving_average``);
a ``LossScaleOptimizer`` keeps them on its ``inner_optimizer``. tf_keras optimizers pair
their lists through ``_index_dict``; legacy ones answer ``get_slot``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import keras
import tensorflow as tf

from ..entries import StateKind, TargetSlot, TargetState
from ..errors import OptimizerError
from ..names import ACCUMULATOR_LISTS, NOT_SLOT_LISTS, slot_name
from .distributed import strategy_of
from .legacy import tf_keras_class
from .variables import dtype_of, shape_of, sharded_container

__all__ = ["ITERATIONS", "OptimizerTarget", "provisionally_built", "slot_lists", "walk_optimizer"]

ITERATIONS = "optimizer/iterations"


@dataclass(frozen=True, slots=True)
class OptimizerTarget:
    slots: tuple[TargetSlot, ...]
    variables: Mapping[str, Any]  # handle -> slot or state variable (ITERATIONS -> the counter)
    name: str
    state: tuple[TargetState, ...] = ()  # every variable that is not a slot, the step included


@contextmanager
def provisionally_built(optimizer: Any, build_on: Sequence[Any]) -> Iterator[bool]:
    """Build an unbuilt Keras 3 optimizer on ``build_on`` (as ``fit`` would), so that its slots
    can be planned; if the block raises, undo the build, so that a failed warm start leaves the
    optimizer as it was. Yields whether it built."""
    if not isinstance(optimizer, keras.optimizers.Optimizer) or optimizer.built:
        yield False
        return
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    saved = [_state(o) for o in dict.fromkeys((optimizer, inner))]
    with _strategy_scope(build_on):
        optimizer.build(list(build_on))
    try:
        yield True
    except BaseException:
        for state in saved:
            _restore(*state)
        raise


def _strategy_scope(variables: Sequence[Any]) -> Any:
    """The scope of the strategy that made ``variables`` (entered unless it is the current one),
    so that slots are made as training makes them: mirrored, or on the parameter servers. A
    Keras optimizer made in a strategy's scope cannot build outside it."""
    strategy = next((s for s in map(strategy_of, variables) if s is not None), None)
    if strategy is None or (tf.distribute.has_strategy() and tf.distribute.get_strategy() is strategy):
        return nullcontext()
    if tf.distribute.has_strategy():
        raise OptimizerError(
            f"the model's variables belong to a {type(strategy).__name__}, but warm_start was called in the "
            f"scope of another strategy ({type(tf.distribute.get_strategy()).__name__}), where its optimizer "
            f"cannot be built.\n  Fix: call it in the model's strategy's scope, or outside any scope."
        )
    return strategy.scope()


_Saved = tuple[Any, dict[str, Any], list[tuple[Any, Any]]]


def _state(obj: Any) -> _Saved:
    """An object's attributes, with the contents of the containers it holds, restored in place
    later: Keras tracks variables by appending to lists it also holds elsewhere, and its
    ``Tracker`` remembers the ids of what it tracked (an id Python reuses for a new variable
    would otherwise be taken as tracked already)."""
    attrs = dict(vars(obj))
    return obj, attrs, [(c, _copy(c)) for c in _containers(attrs.values())]


def _containers(values: Any) -> list[Any]:
    out = []
    for v in values:
        if isinstance(v, (list, dict, set)):
            out.append(v)
        elif hasattr(v, "stored_ids") and hasattr(v, "config"):  # keras.src.utils.tracking.Tracker
            out += [v.stored_ids, *v.stored_ids.values()]
    return out


def _storage(items: Any) -> Any:
    inner = getattr(items, "_storage", None)  # TF's ListWrapper keeps its items there
    return inner if isinstance(inner, list) else items


def _copy(container: Any) -> Any:
    if isinstance(container, list):
        return dict(getattr(container, "__dict__", {})), list(_storage(container))
    return container.copy() if isinstance(container, set) else dict(container)


def _restore(obj: Any, attrs: dict[str, Any], containers: list[tuple[Any, Any]]) -> None:
    current = vars(obj)
    for k in [k for k in current if k not in attrs]:
        del current[k]
    current.update(attrs)
    for container, saved in containers:
        if isinstance(container, list):
            wrapper_attrs, items = saved
            if hasattr(container, "__dict__"):  # a ListWrapper flags mutations that are not appends
                vars(container).clear()
                vars(container).update(wrapper_attrs)
            list.__setitem__(_storage(container), slice(None), items)  # not the wrapper's own __setitem__
        else:
            container.clear()
            container.update(saved)


def walk_optimizer(optimizer: Any, variables: Mapping[str, Any]) -> OptimizerTarget:
    """Find the slots of a built ``optimizer`` for the target ``variables`` (name -> variable)."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    if isinstance(optimizer, keras.optimizers.Optimizer):
        owners = _owners_keras(inner, variables)
    elif hasattr(inner, "_index_dict") and hasattr(inner, "_var_key"):
        owners = _owners_tf_keras(inner, variables)
    elif ((legacy := tf_keras_class(inner)) is not None and "legacy" not in legacy.__module__
          and not getattr(inner, "_built", False)):
        raise OptimizerError(
            f"the tf_keras optimizer {getattr(optimizer, 'name', type(optimizer).__name__)!r} is not built, and "
            f"warmstart builds only Keras 3 optimizers for you (so that a failure can undo it).\n"
            f"  Fix: optimizer.build(model.trainable_variables) before the warm start."
        )
    else:
        raise OptimizerError(
            f"cannot carry the slots of a {type(optimizer).__name__}: warmstart knows Keras 3 "
            f"optimizers (LossScaleOptimizer included) and tf_keras optimizers.\n"
            f"  Fix: pass a keras.optimizers optimizer, or leave optimizer=None to load weights only."
        )
    slots, handles = [], {}
    accumulators: dict[str, Any] = {}
    for list_name, items in slot_lists(inner):
        if list_name in ACCUMULATOR_LISTS:
            accumulators.update((f"{owners.get(i, f'{list_name}/{i}')}@{slot_name(list_name)}", v)
                                for i, v in enumerate(items) if v is not None)
            continue
        for idx, slot_var in enumerate(items):
            owner = owners.get(idx)
            if owner is None or slot_var is None:
                continue
            handle = f"{owner}@{slot_name(list_name)}"
            container = sharded_container(slot_var)
            if container is not None:  # tf_keras keeps one slot per shard: the slot is their container
                if handle in handles:
                    continue
                slot_var = container
            slots.append(TargetSlot(owner, slot_name(list_name), shape_of(slot_var), dtype_of(slot_var), handle))
            handles[handle] = slot_var
    slot_items = [v for name, items in slot_lists(inner) if name not in ACCUMULATOR_LISTS for v in items]
    # a tf_keras slot of a sharded variable is one variable per shard, and their ShardedVariable
    # (which the optimizer also lists) is the slot too, not state of its own
    slot_ids = {id(v) for v in slot_items} | {id(c) for c in map(sharded_container, slot_items) if c is not None}
    step = _step_variable(optimizer, inner)
    handles[ITERATIONS] = step
    state = _state_targets(optimizer, inner, step, slot_ids, accumulators)
    handles.update((t.handle, v) for t, v in state if t.kind is not StateKind.STEP)
    return OptimizerTarget(tuple(slots), handles, getattr(optimizer, "name", type(optimizer).__name__),
                           tuple(t for t, _ in state))


def _is_variable(v: Any) -> bool:
    return isinstance(v, (keras.Variable, tf.Variable))


def _step_variable(optimizer: Any, inner: Any) -> Any:
    """The step counter itself: under ``gradient_accumulation_steps`` Keras' ``iterations`` is
    a tensor computed from ``_iterations``, which counts every call (and is what checkpoints hold)."""
    step = optimizer.iterations
    return step if _is_variable(step) else inner._iterations


def _state_targets(optimizer: Any, inner: Any, step: Any, slot_ids: set[int],
                   accumulators: Mapping[str, Any]) -> list[tuple[TargetState, Any]]:
    """Every optimizer variable that is not a slot, with what it is and where it sits."""
    edge = next((e for e in ("inner_optimizer", "_optimizer") if getattr(optimizer, e, None) is inner), "")
    where: dict[int, tuple[str, bool]] = {}  # id -> (attribute path from its optimizer, of the wrapper)
    held: dict[int, Any] = {}  # the variables held as attributes
    for obj, wrapper in dict.fromkeys([(inner, False), (optimizer, optimizer is not inner)]):
        for attr, value in vars(obj).items():
            if _is_variable(value):
                where.setdefault(id(value), (attr, wrapper))
                held.setdefault(id(value), value)
        hyper = getattr(obj, "_hyper", None)  # tf_keras OptimizerV2 keeps its hyperparameters there
        if isinstance(hyper, dict):
            for attr, value in hyper.items():
                if _is_variable(value):
                    where.setdefault(id(value), (attr, wrapper))
    accumulator_ids = {id(v): h for h, v in accumulators.items()}
    # a LossScaleOptimizer's `variables` can leave out its inner optimizer's attributes (a
    # Nadam's `_u_product`, which a checkpoint holds): both lists and every variable attribute,
    # each variable once
    variables = {id(v): v for obj in (optimizer, inner)
                 for v in (obj.variables() if callable(obj.variables) else obj.variables)}
    variables.update((key, v) for key, v in held.items() if key not in variables)
    out = []
    for v in variables.values():
        if id(v) in slot_ids:
            continue
        if v is step:
            out.append((TargetState(ITERATIONS, StateKind.STEP, "_iterations", False, shape_of(v), dtype_of(v)), v))
            continue
        if id(v) in accumulator_ids:
            handle = accumulator_ids[id(v)]
            out.append((TargetState(handle, StateKind.ACCUMULATOR, handle, False, shape_of(v), dtype_of(v)), v))
            continue
        path, wrapper = where.get(id(v), (str(getattr(v, "name", "variable")).split(":")[0], False))
        handle = "optimizer/" + (f"{edge}/" if edge and not wrapper else "") + path
        hyper = path.lstrip("_") in ("learning_rate", "lr") or path in getattr(inner, "_hyper", {})
        kind = StateKind.LEARNING_RATE if hyper else StateKind.TIED
        out.append((TargetState(handle, kind, path, wrapper, shape_of(v), dtype_of(v)), v))
    return out


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
        # under ParameterServerStrategy tf_keras optimizers see each shard as a variable
        parts = v.variables if isinstance(v, tf.__internal__.distribute.ShardedVariable) else (v,)
        for part in parts:
            idx = inner._index_dict.get(inner._var_key(part))
            if idx is not None:
                owners[idx] = name
    return owners


def slot_lists(inner: Any) -> list[tuple[str, list[Any]]]:
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
