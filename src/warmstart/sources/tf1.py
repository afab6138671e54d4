"""TF1 name-based checkpoints (``tf.compat.v1.train.Saver``): a tensor bundle without an
object graph, so a variable's name is its key (``dense/kernel``), already the form Keras
names take.

* A partitioned variable saved by ``Saver`` is one key stored as slices; the bundle reader
  reads it whole or by rows. One saved as separate ``name/part_0..k`` keys (a ``var_list``
  of the parts) is merged into one entry ``name``, its parts concatenated along the first axis
  (read whole: such an entry is not streamed).
* Optimizer slots are ``<variable>/<Optimizer>`` and ``<variable>/<Optimizer>_1`` for the
  default optimizer names (``dense/kernel/Adam`` is the first moment): they become slots of
  their variable under the names Keras uses (``momentums``, ``velocities``), so
  ``optimizer=`` carries them into a Keras optimizer. ``global_step`` and Adam's
  ``beta1_power``/``beta2_power`` are ``other``.

Reading is the TF2 reader's: every file opened once, every byte checked (the bundle reader).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import tensorflow as tf

from ..entries import EntryKind, NameSource, SourceEntry
from .locate import Location
from .tf2 import TF2Checkpoint

__all__ = ["TF1Checkpoint", "tf1_entries"]

_PART = re.compile(r"^(?P<base>.*)/part_(?P<k>\d+)(?P<rest>/.*)?$")
# TF1 optimizers' default names and their slots in creation order (slot_creator names the
# first '<var>/<Name>', the next '<var>/<Name>_1'), under the names of the Keras 3 lists that
# hold the same state (Adam's m is '_momentums', RMSProp's rms is '_velocities').
_TF1_SLOTS = {
    "Adam": ("momentums", "velocities"),
    "Momentum": ("momentums",),
    "Adagrad": ("accumulators",),
    "RMSProp": ("velocities", "momentums"),
    "Ftrl": ("accumulators", "linears"),
    "Adadelta": ("accumulated_grads", "accumulated_delta_vars"),
}
_OTHER = re.compile(r"^(global_step|beta[12]_power(_\d+)?)$")


class TF1Checkpoint(TF2Checkpoint):
    """An opened TF1 checkpoint: a :class:`~warmstart.sources.base.Source` (the TF2 reader's
    snapshot and checks, with names from the keys instead of an object graph)."""

    def _parse_graph(self, located: Location) -> None:  # there is no graph: the keys are the names
        index = self.index.entries
        shapes = {k: e.shape for k, e in index.items()}
        dtypes = {k: e.dtype.name for k, e in index.items()}
        entries, merged = tf1_entries(shapes, dtypes)
        self.entries: tuple[SourceEntry, ...] = tuple(entries)
        self._merged = merged
        self.model_path, self.keras, self.models = "", False, ()

    def nbytes(self, key: str) -> int:
        parts = self._merged.get(key)
        return sum(TF2Checkpoint.nbytes(self, p) for p in parts) if parts else TF2Checkpoint.nbytes(self, key)

    def read(self, keys: Sequence[str], labels: Mapping[str, str] | None = None) -> list[tf.Tensor]:
        """As TF2's, with each merged ``name/part_k`` entry read part by part and concatenated."""
        wanted = list(dict.fromkeys(p for k in keys for p in self._merged.get(k, (k,))))
        got = dict(zip(wanted, TF2Checkpoint.read(self, wanted, labels), strict=True))
        return [tf.concat([got[p] for p in self._merged[k]], axis=0) if k in self._merged else got[k]
                for k in keys]

    def streamable(self, key: str) -> bool:
        return key not in self._merged and TF2Checkpoint.streamable(self, key)


def tf1_entries(shapes: Mapping[str, tuple[int, ...]], dtypes: Mapping[str, str]
                ) -> tuple[list[SourceEntry], dict[str, tuple[str, ...]]]:
    """Entries of a name-based checkpoint, and the merged ``name/part_k`` groups
    (``{name: (part keys in order)}``). Pure."""
    merged = _merge_parts(shapes, dtypes)
    in_merge = {p for parts in merged.values() for p in parts}
    logical: dict[str, tuple[tuple[int, ...], str]] = {
        k: (shapes[k], dtypes.get(k, "")) for k in shapes if k not in in_merge
    }
    for name, parts in merged.items():
        first = shapes[parts[0]]
        logical[name] = ((sum(shapes[p][0] for p in parts), *first[1:]), dtypes.get(parts[0], ""))
    entries = []
    for key in sorted(logical):
        shape, dtype = logical[key]
        slot = _slot_of(key, logical)
        if slot is not None:
            owner, name = slot
            entries.append(SourceEntry(key, key, shape, dtype, EntryKind.SLOT, (), "", NameSource.KEY, owner, name))
        elif _OTHER.match(key):
            entries.append(SourceEntry(key, key, shape, dtype, EntryKind.OTHER, (), "", NameSource.KEY))
        else:
            entries.append(SourceEntry(key, key, shape, dtype, EntryKind.VARIABLE, (), "", NameSource.KEY))
    return entries, merged


def _merge_parts(shapes: Mapping[str, tuple[int, ...]], dtypes: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    groups: dict[str, dict[int, str]] = {}
    for key in shapes:
        m = _PART.match(key)
        if m:
            groups.setdefault(m["base"] + (m["rest"] or ""), {})[int(m["k"])] = key
    merged = {}
    for name, parts in groups.items():
        ordered = [parts.get(i) for i in range(len(parts))]
        if name in shapes or any(p is None for p in ordered):
            continue
        keys = tuple(p for p in ordered if p is not None)
        first = shapes[keys[0]]
        if (len(first) >= 1 and all(len(shapes[p]) == len(first) and shapes[p][1:] == first[1:] for p in keys)
                and len({dtypes.get(p) for p in keys}) == 1):
            merged[name] = keys
    return merged


def _slot_of(key: str, logical: Mapping[str, object]) -> tuple[str, str] | None:
    """``dense/kernel/Adam_1`` -> (``dense/kernel``, ``velocities``) when ``dense/kernel`` is a
    variable of the checkpoint."""
    owner, _, last = key.rpartition("/")
    if not owner or owner not in logical:
        return None
    m = re.fullmatch(r"(?P<opt>[A-Za-z]+)(?:_(?P<n>\d+))?", last)
    if m is None or m["opt"] not in _TF1_SLOTS:
        return None
    names = _TF1_SLOTS[m["opt"]]
    n = int(m["n"] or 0)
    return (owner, names[n]) if n < len(names) else None
