"""SavedModels: the variables of ``tf.saved_model.save`` (read as a TF2 checkpoint, object
graph and optimizer slots included) and of Keras' ``model.export`` (serving archives).

An export keeps no layer structure: its variables hang off flat lists (``variables/<i>``,
``_all_variables/<j>``, in different orders, so every variable is stored twice). Its entries
are named by the variable's own name (``variable.path``: ``seq/d1/kernel``, without the model's
name, as on the model side: ``d1/kernel``) and matched by name and shape. The two copies of a
variable (same name, shape, dtype and stored crc32c) are one entry; where distinct variables
still share a name (two sub-models both called ``enc``), a note says so and pairing reports
those targets as ambiguous.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace

from ..entries import EntryKind, NameSource, SourceEntry
from ..layout import KerasLayout
from .locate import Location
from .tf2 import TF2Checkpoint

__all__ = ["EXPORT_LISTS", "SavedModelSource", "export_entries"]

EXPORT_LISTS = frozenset({"variables", "_all_variables", "trainable_variables", "non_trainable_variables"})


class SavedModelSource(TF2Checkpoint):
    """A SavedModel's variables; an export's named by variable name (:func:`export_entries`)."""

    def __init__(self, located: Location, layout: KerasLayout | None = None, *,
                 source_root: str | None = None) -> None:
        super().__init__(located, source_root=source_root)
        self.notes: tuple[str, ...] = ()
        if _is_export(self.entries):
            entries, notes = export_entries(self.entries, lambda key: self.index.entries[key].crc32c, layout)
            self.entries = tuple(entries)
            self.notes = tuple(notes)
            self.location = replace(located, format="saved-model-export")


def _is_export(entries: Sequence[SourceEntry]) -> bool:
    variables = [e for e in entries if e.kind is EntryKind.VARIABLE]
    return bool(variables) and all(
        e.paths and all(p.split("/", 1)[0] in EXPORT_LISTS for p in e.paths) for e in variables
    )


def export_entries(entries: Sequence[SourceEntry], crc: Callable[[str], int],
                   layout: KerasLayout | None) -> tuple[list[SourceEntry], list[str]]:
    """An export's entries named by ``full_name`` without the model's name, the two stored
    copies of each variable made one. Pure but for ``crc(key)``, the stored checksum."""
    variables = [e for e in entries if e.kind is EntryKind.VARIABLE]
    prefix = _model_prefix([e.full_name for e in variables], layout)
    groups: dict[tuple[str, tuple[int, ...], str, int], list[SourceEntry]] = defaultdict(list)
    for e in variables:
        groups[(e.full_name, e.shape, e.dtype, crc(e.key))].append(e)
    out: list[SourceEntry] = [e for e in entries if e.kind is not EntryKind.VARIABLE]
    counts: dict[str, int] = defaultdict(int)
    for (full_name, _, _, _), copies in groups.items():
        first = min(copies, key=lambda e: e.key)
        name = full_name[len(prefix) + 1 :] if prefix else full_name
        counts[name] += 1
        paths = tuple(p for c in copies for p in c.paths)
        out.append(replace(first, name=name or first.name, paths=paths, name_source=NameSource.FULL_NAME))
    notes = [
        f"the export holds {n} different variables named {name!r}: a target of that name is ambiguous "
        f"(load it with a rename rule from a checkpoint that keeps the structure)"
        for name, n in sorted(counts.items()) if n > 1
    ]
    return out, notes


def _model_prefix(full_names: Sequence[str], layout: KerasLayout | None) -> str:
    """The model's name when every variable name starts with it (a Sequential's do; a
    Functional's do not), and the live model has no top-level layer of that name."""
    firsts = {n.split("/", 1)[0] for n in full_names}
    if len(firsts) != 1 or not all("/" in n for n in full_names):
        return ""
    first = firsts.pop()
    if layout is not None and layout.layer((first,)) is not None:
        return ""
    return first
