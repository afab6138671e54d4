"""Auto-named layers whose pairing is a guess.

Keras names unnamed layers by class and creation order (``dense``, ``dense_1``, ...). When a
layer is inserted or removed, the counters shift: day 2's ``dense_1`` may be day 1's
``dense_1`` or a new layer. If the model and the checkpoint hold a different number of
auto-named layers of one class in one place, no name says which is which, so every implicit
pair among them is flagged (warned; refused under ``strict``) until the user names the layers
or gives rename rules. Pure Python.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..entries import SourceEntry, TargetEntry
from ..names import drop_counter, is_counted
from ..plan import Strategy
from .pairing import Pair

__all__ = ["Ambiguity", "find_ambiguities"]

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
        return (
            f"auto-named {self.base!r} layers{where}: the model has {len(self.model_layers)} "
            f"({_names(self.model_layers)}), the checkpoint {len(self.checkpoint_layers)} "
            f"({_names(self.checkpoint_layers)}). Keras numbers unnamed layers in creation order, so which "
            f"one is new cannot be known, and pairing them by counter may give an inserted layer its "
            f"neighbour's weights ({len(self.targets)} variable(s): {_names(self.targets)}).\n"
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
        if not theirs or len(ours) == len(theirs):
            continue
        guessed = sorted(n for n in set(members[group])
                         if n in pairs and pairs[n].strategy in (Strategy.NAME, Strategy.AUTO_NAME))
        if guessed:
            out.append(Ambiguity(group[1], group[0], tuple(sorted(ours)), tuple(sorted(theirs)), tuple(guessed)))
    return out


def _place(parts: Sequence[str]) -> str:
    return "/".join(drop_counter(p) for p in parts)


def _names(names: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")
