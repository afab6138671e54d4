"""Name helpers shared by both sides: auto-name normalisation and "did you mean".

Pure Python.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

__all__ = [
    "ACCUMULATOR_LISTS",
    "MAX_PATHS",
    "NOT_SLOT_LISTS",
    "OPTIMIZER_EDGES",
    "auto_key",
    "closest",
    "compatible",
    "drop_counter",
    "is_counted",
    "slot_name",
    "strip_prefix",
    "structural_name",
]

# Paths kept per object-graph node, on both sides, for structural matching: aliases beyond
# a few add nothing, and a graph with shared sub-objects has exponentially many.
MAX_PATHS = 8
# Object-graph edges that lead to an optimizer (a LossScaleOptimizer nests one).
OPTIMIZER_EDGES = frozenset({"optimizer", "inner_optimizer", "_optimizer"})
# An optimizer's per-variable lists that are not slots.
NOT_SLOT_LISTS = frozenset({"_variables", "_trainable_variables", "_trainable_variables_indices"})
# Per-variable lists that are not slots either: gradient accumulators, which a warm start
# leaves at zero (the optimizer's layout still counts them: Keras saves them among the slots).
ACCUMULATOR_LISTS = frozenset({"_accumulated_gradients"})
# Keras containers between a model and its layers; they carry no name a user would know.
_CONTAINERS = frozenset({"_functional", "_operations", "_layers", "_self_tracked_trackables"})

_COUNTER = re.compile(r"_\d+$")


def is_counted(component: str) -> bool:
    """``dense_7`` is; ``dense`` is not."""
    return _COUNTER.search(component) is not None


def drop_counter(component: str) -> str:
    """``dense_7`` -> ``dense``: the counter Keras appends to make names unique."""
    return _COUNTER.sub("", component)


def auto_key(name: str, auto: Iterable[tuple[int, str]] = ()) -> str:
    """Index key under which auto-named components compare by their base.

    Every component loses its counter so that the checkpoint side (which does not know
    which components were auto-generated) and the target side meet under one key;
    :func:`compatible` then checks the exact rule.
    """
    parts = name.split("/")
    for i, base in auto:
        parts[i] = base
    return "/".join(drop_counter(p) for p in parts)


def compatible(target: str, auto: Iterable[tuple[int, str]], source: str) -> bool:
    """Does ``source`` name the same variable as ``target`` up to auto-name counters?

    Components that the target marks as auto-generated match ``base`` or ``base_N``;
    all other components must be equal.
    """
    t_parts, s_parts = target.split("/"), source.split("/")
    if len(t_parts) != len(s_parts):
        return False
    bases = dict(auto)
    for i, (t, s) in enumerate(zip(t_parts, s_parts, strict=True)):
        if i in bases:
            if drop_counter(s) != bases[i] or (s != bases[i] and not _COUNTER.search(s)):
                return False
        elif t != s:
            return False
    return True


def structural_name(path: str) -> str:
    """An object-graph path as a readable name, the same on both sides:
    ``tower/_functional/_operations/1/_kernel`` -> ``tower/1/kernel``."""
    parts = [p for p in path.split("/") if p not in _CONTAINERS]
    return "/".join(p.lstrip("_") or p for p in parts)


def strip_prefix(name: str, prefix: str) -> str:
    """``seq/d1/kernel`` without ``seq``; unchanged when the prefix is not there."""
    if prefix and name.startswith(prefix + "/"):
        return name[len(prefix) + 1 :]
    return name


def closest(word: str, names: Iterable[str], n: int = 3) -> list[str]:
    """The names nearest to ``word`` (a name or a regex), for "perhaps you meant"."""
    pool = sorted(set(names))
    literal = re.sub(r"[\\^$.*+?()\[\]{}|]", "", word)
    found = difflib.get_close_matches(word, pool, n=n, cutoff=0.4)
    if len(found) < n and literal != word:
        for extra in difflib.get_close_matches(literal, pool, n=n, cutoff=0.4):
            if extra not in found:
                found.append(extra)
    return found[:n]


# Legacy optimizers name slots in the singular ('m', 'accumulator'); Keras 3 and tf_keras
# name the lists they keep them in. One vocabulary for both, so a tf_keras checkpoint's
# Adam 'm' meets a Keras 3 Adam's '_momentums'.
_SLOT_ALIASES = {
    "m": "momentums",
    "v": "velocities",
    "vhat": "velocity_hats",
    "momentum": "momentums",
    "accumulator": "accumulators",
    "linear": "linears",
    "rms": "velocities",
    "mg": "average_gradients",
}


def slot_name(raw: str) -> str:
    """``_momentums`` / ``m`` / ``momentum`` -> ``momentums``."""
    bare = raw.lstrip("_")
    return _SLOT_ALIASES.get(bare, bare)
