"""Legacy Keras HDF5 files (``.h5``/``.hdf5``): Keras 2 and tf_keras ``save_weights``/``save``,
Keras 3 ``model.save('x.h5')``.

Layout: one group per layer (at the root for ``save_weights``, under ``model_weights`` for
``save``) listed by the ``layer_names`` attribute, each with a ``weight_names`` attribute
naming its datasets by the variable's own name: tf_keras ``d1/kernel:0``, Keras 3 the
variable's path (``seq/d1/kernel``, with a Sequential's model name). Names drop ``:0`` and
the saved model's name (from ``model_config``), as the model side drops its own.

Optimizer state (``optimizer_weights``, from ``save``) becomes slots of the variables it
belongs to: tf_keras ``Adam/m/d1/kernel:0``, legacy optimizers ``Adam/d1/kernel/m:0``,
Keras 3 ``adam/seq_d1_kernel_momentum`` (the path with ``/`` as ``_``, then the slot); the
step counter is ``optimizer/_iterations``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..entries import EntryKind, NameSource, SourceEntry
from ..errors import CheckpointReadError
from ..names import slot_name
from .keras_weights import _dtype_name

__all__ = ["is_legacy", "legacy_entries"]

_STEP = frozenset({"iteration", "iterations", "iter"})
_RATE = frozenset({"learning_rate", "lr"})


def is_legacy(h5: Any) -> bool:
    return "model_weights" in h5 or "layer_names" in h5.attrs


def legacy_entries(h5: Any, *, what: str) -> tuple[list[SourceEntry], list[str]]:
    """Entries of an open legacy Keras HDF5 file."""
    weights = h5.get("model_weights", h5)
    base = "model_weights/" if "model_weights" in h5 else ""
    if "layer_names" not in weights.attrs:
        raise CheckpointReadError(f"{what} has no 'layer_names' attribute: it is not a Keras HDF5 weights file.")
    model_name = _model_name(h5)
    raw: list[tuple[str, str, Any]] = []  # (weight name without ':0', dataset path, dataset)
    for layer in _strings(weights.attrs["layer_names"]):
        group = weights[layer]
        for w in _strings(group.attrs.get("weight_names", ())):
            raw.append((w.removesuffix(":0"), f"{base}{layer}/{w}", group[w]))
    strip = bool(model_name) and bool(raw) and all(r[0].startswith(model_name + "/") for r in raw)
    entries = []
    names: dict[str, str] = {}  # raw weight name -> entry name
    for w, key, ds in raw:
        name = w[len(model_name) + 1 :] if strip else w
        names[w] = name
        entries.append(SourceEntry(name, key, _shape(ds), _dtype_name(ds), EntryKind.VARIABLE, (), w,
                                   NameSource.FULL_NAME))
    notes = []
    if "optimizer_weights" in h5:
        opt, unknown = _optimizer(h5["optimizer_weights"], names)
        entries += opt
        if unknown:
            notes.append(f"{len(unknown)} optimizer variable(s) of {what} belong to no variable it holds "
                         f"(e.g. {unknown[0]!r}): they are not carried")
    return entries, notes


def _model_name(h5: Any) -> str:
    config = h5.attrs.get("model_config")
    if config is None:
        return ""
    if isinstance(config, bytes):
        config = config.decode("utf-8", "replace")
    try:
        name = json.loads(config).get("config", {}).get("name", "")
    except (ValueError, AttributeError):
        return ""
    return name if isinstance(name, str) else ""


def _strings(values: Any) -> list[str]:
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values]


def _shape(ds: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in ds.shape)


def _optimizer(g: Any, names: Mapping[str, str]) -> tuple[list[SourceEntry], list[str]]:
    flat = {w.replace("/", "_"): w for w in names}
    entries, unknown = [], []
    for w in _strings(g.attrs.get("weight_names", ())):
        ds = g[w]
        key = f"optimizer_weights/{w}"
        bare = w.removesuffix(":0")
        last = bare.rsplit("/", 1)[-1]
        owned = _owner(bare, names, flat)
        if owned is not None:
            owner, slot = owned
            entries.append(SourceEntry(key, key, _shape(ds), _dtype_name(ds), EntryKind.SLOT, (), bare,
                                       NameSource.STRUCTURE, names[owner], slot))
            continue
        name = ("optimizer/_iterations" if last in _STEP else "optimizer/_learning_rate" if last in _RATE
                else f"optimizer/{bare}")
        if last not in _STEP and last not in _RATE and len(_shape(ds)) > 0:
            unknown.append(bare)
        entries.append(SourceEntry(name, key, _shape(ds), _dtype_name(ds), EntryKind.OTHER, (), bare,
                                   NameSource.STRUCTURE))
    return entries, unknown


def _owner(bare: str, names: Mapping[str, str], flat: Mapping[str, str]) -> tuple[str, str] | None:
    """(raw variable name, slot) of an optimizer variable, in any of the three spellings."""
    parts = bare.split("/", 2)
    if len(parts) == 3 and parts[2] in names:  # tf_keras: Adam/m/d1/kernel
        return parts[2], slot_name(parts[1])
    rest = bare.split("/", 1)[1] if "/" in bare else ""
    var, _, slot = rest.rpartition("/")
    if var in names:  # legacy optimizers: Adam/d1/kernel/m
        return var, slot_name(slot)
    best = max((f for f in flat if rest.startswith(f + "_")), key=len, default=None)
    if best is not None:  # Keras 3: adam/seq_d1_kernel_momentum
        return flat[best], slot_name(_plural(rest[len(best) + 1 :]))
    return None


def _plural(word: str) -> str:
    """Keras 3 names a slot variable in the singular and keeps it in a plural list
    (``velocity`` in ``_velocities``)."""
    if word.endswith("y") and not word.endswith(("ay", "ey", "oy", "uy")):
        return word[:-1] + "ies"
    return word + "s"

