"""Auto-named layers whose pairing is a guess.

Keras names unnamed layers by class and creation order (``dense``, ``dense_1``, ...). When a
layer is inserted or removed, the counters shift: day 2's ``dense_1`` may be day 1's
``dense_1`` or a new layer. If the model and the checkpoint hold a different number of
auto-named layers of one class in one place, no name says which is which, so every implicit
pair among them is flagged (warned; refused under ``strict``) until the user names the layers
or gives rename rules.

Layers of one name inside different sub-models (two Functional towers each with a ``d1``)
give their variables one ``full_name`` (``d1/kernel``): a TF2 checkpoint then tells them apart
only by their position in the model's layer lists (``1/1/kernel``, ``2/1/kernel``), so a pair
between such names rests on position, and two towers listed in another order on day 2 would
swap weights. Such pairs are flagged too (:class:`PositionalPairing`). Pure Python.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..entries import EntryKind, NameSource, SourceEntry, TargetEntry
from ..names import drop_counter, is_counted
from ..plan import Strategy
from .pairing import Pair

__all__ = ["Ambiguity", "PositionalPairing", "find_ambiguities", "find_positional_pairings"]

_Group = tuple[str, str]  # (the layers' place: counters dropped, the class base)


@dataclass(frozen=True, slots=True)
class Ambiguity:
    """Auto-named layers of class ``base`` under ``place`` that differ in number."""

    base: str
    place: str
    model_layers: tuple[str, ...]
    checkpoint_layers: tuple[str, ...]
    targets: tuple[str, ...]  # implicitly paired targets among them: their pairing is a guess

    def message(self) -> str:
        where = f" under {self.place!r}" if self.place else ""
        why = ("which one is new cannot be known, and pairing them by counter may give an inserted layer its "
               "neighbour's weights" if len(self.model_layers) != len(self.checkpoint_layers) else
               "the two sides numbered them differently and the object graph does not say which is which, so "
               "an equal name may be another layer's")
        return (
            f"auto-named {self.base!r} layers{where}: the model has {len(self.model_layers)} "
            f"({_names(self.model_layers)}), the checkpoint {len(self.checkpoint_layers)} "
            f"({_names(self.checkpoint_layers)}). Keras numbers unnamed layers in creation order, so {why} "
            f"({len(self.targets)} variable(s): {_names(self.targets)}).\n"
            f"  Fix: name the layers (keras.layers.Dense(..., name='...')) in both models, or give rename "
            f"rules for them."
        )


def find_ambiguities(targets: Sequence[TargetEntry], sources: Iterable[SourceEntry],
                     pairs: Mapping[str, Pair]) -> list[Ambiguity]:
    """Groups of auto-named layers whose counts differ between the model and the checkpoint."""
    model: dict[_Group, set[str]] = defaultdict(set)
    members: dict[_Group, list[str]] = defaultdict(list)
    for t in targets:
        parts = t.name.split("/")
        for i, base in t.auto_components:
            group = (_place(parts[:i]), base)
            model[group].add("/".join(parts[: i + 1]))
            members[group].append(t.name)
    if not model:
        return []
    bases = {base for _, base in model}
    checkpoint: dict[_Group, set[str]] = defaultdict(set)
    for s in sources:
        parts = s.name.split("/")
        for i, part in enumerate(parts[:-1]):
            base = drop_counter(part)
            if base in bases and (part == base or is_counted(part)):
                checkpoint[(_place(parts[:i]), base)].add("/".join(parts[: i + 1]))
    out = []
    for group in sorted(model):
        ours, theirs = model[group], checkpoint.get(group, set())
        # equal counts and equal names: both sides numbered the same layers the same way; one
        # layer a side: nothing to mix up. Otherwise only a pair the object graph decided is known.
        if not theirs or (len(ours) == len(theirs) and (ours == theirs or len(ours) == 1)):
            continue
        counts_differ = len(ours) != len(theirs)
        guessed = sorted(n for n in set(members[group])
                         if n in pairs and pairs[n].strategy in (Strategy.NAME, Strategy.AUTO_NAME)
                         and (counts_differ or not pairs[n].by_structure))
        if guessed:
            out.append(Ambiguity(group[1], group[0], tuple(sorted(ours)), tuple(sorted(theirs)), tuple(guessed)))
    return out


@dataclass(frozen=True, slots=True)
class PositionalPairing:
    """Layers of one name (``layer``) whose checkpoint variables share their ``full_name``s,
    told apart only by position (``places``), and the targets implicitly paired with them."""

    layer: str
    places: tuple[str, ...]
    targets: tuple[str, ...]

    def message(self) -> str:
        return (
            f"{len(self.places)} layers named {self.layer!r} (inside different sub-models) share their variables' "
            f"names in the checkpoint, which tells them apart only by position in the model "
            f"({_names(self.places)}): they were paired by position, which is right only if the sub-models are "
            f"in day 1's order ({len(self.targets)} variable(s): {_names(self.targets)}).\n"
            f"  Fix: give the layers inside the sub-models unique names (e.g. 'user_d1', 'item_d1') in both "
            f"models, warm-start from a .keras or .weights.h5 file (they record layer names), or pair them with "
            f"rename rules."
        )


def find_positional_pairings(sources: Iterable[SourceEntry], pairs: Mapping[str, Pair]) -> list[PositionalPairing]:
    """Implicit pairs whose checkpoint side is named by position because its name is shared."""
    by_full_name: dict[str, list[SourceEntry]] = defaultdict(list)
    for s in sources:
        if s.kind is EntryKind.VARIABLE and s.name_source is NameSource.STRUCTURE and s.full_name:
            by_full_name[s.full_name].append(s)
    layer_of: dict[str, tuple[str, str]] = {}  # key -> (the layer's name, its place)
    for full, group in by_full_name.items():
        if len(group) > 1:
            for s in group:
                if any(part.isdigit() for part in s.name.split("/")[:-1]):
                    layer_of[s.key] = (full.rsplit("/", 1)[0], s.name.rsplit("/", 1)[0])
    places: dict[str, set[str]] = defaultdict(set)
    for layer, place in layer_of.values():
        places[layer].add(place)
    guessed: dict[str, list[str]] = defaultdict(list)
    for target, pair in pairs.items():
        if pair.strategy is not Strategy.RENAME and pair.source.key in layer_of:
            guessed[layer_of[pair.source.key][0]].append(target)
    return [PositionalPairing(layer, tuple(sorted(places[layer])), tuple(sorted(targets)))
            for layer, targets in sorted(guessed.items())]


def _place(parts: Sequence[str]) -> str:
    return "/".join(drop_counter(p) for p in parts)


def _names(names: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")
