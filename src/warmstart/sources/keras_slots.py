"""Which model variable each of a Keras file's optimizer variables belongs to.

Keras saves an optimizer as a flat list (``optimizer/vars/0..N``): its hyperparameters, then
its slots in the order its class builds them over ``model.trainable_variables`` of the model
that was trained. The file does not say which variable a slot belongs to, nor the order of
the layers (HDF5 lists them alphabetically; class keys only order layers of one class).

So the order is solved for: the optimizer's layout (:class:`~warmstart.layout.OptimizerLayout`)
says how many slots each trained variable has and where they sit; each trained variable's
shape is read off its slots; and the file's layers are searched for the one sequence of
variables with those shapes that Keras' traversal allows (a layer's trained variables, then
its sub-layers; layers of one class in the order of their keys; a known order where the
``.keras`` config or the live model gives one). If no sequence or more than one fits, no
slot is attributed and the reason is returned.

What the file cannot say is the order the optimizer was built over: Keras builds it over
``model.trainable_variables`` in ``fit`` and ``compile``, and its own loader assumes that order,
as this does. An optimizer built over another order (``opt.build(b_vars + a_vars)`` in a custom
loop) saves the same shapes in another order, so its slots could be exchanged between
variables of equal shapes: :func:`interchangeable` names them, for the report to say so.

Pure Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..entries import Shape
from ..layout import OptimizerLayout

__all__ = ["Slot", "SolveNode", "attribute_slots", "interchangeable"]

_BUDGET = 50_000  # search steps before the order is called ambiguous
_KEEP = 2  # distinct solutions kept per end position: two are enough to call it ambiguous


@dataclass(eq=False)
class SolveNode:
    """A layer of the file: its variables (source name, shape) in saved order, how many of
    them (from the first) may have been trained, and its sub-layers as chains (each chain's
    order is known; the chains interleave in any order)."""

    own: tuple[tuple[str, Shape], ...]
    options: tuple[int, ...]
    chains: list[list[SolveNode]] = field(default_factory=list)

    def holds_variables(self) -> bool:
        return bool(self.own) or any(c.holds_variables() for chain in self.chains for c in chain)


@dataclass(frozen=True, slots=True)
class Slot:
    """What optimizer variable ``i`` is: a hyperparameter (``owner is None``) or slot
    ``name`` of the model variable ``owner`` (a source name)."""

    name: str
    owner: str | None


class _TooMany(Exception):
    pass


def attribute_slots(shapes: Sequence[Shape], layout: OptimizerLayout, root: SolveNode) -> list[Slot] | str:
    """One :class:`Slot` per optimizer variable (``shapes`` in saved order), or why not."""
    fixed = len(layout.hyper) + len(layout.trailing)
    per = layout.per_variable
    if not layout.same_shape:
        return f"a {layout.class_name}'s slots do not have their variables' shapes, so they cannot be told apart"
    if per == 0 or len(shapes) < fixed or (len(shapes) - fixed) % per:
        return (f"the file holds {len(shapes)} optimizer variables; a {layout.class_name} holds "
                f"{fixed} + {per} per trained variable")
    count = (len(shapes) - fixed) // per
    positions = layout.positions(count)
    owner_shapes: list[Shape | None] = [None] * count
    for (name, j), shape in zip(positions, shapes, strict=True):
        if j is None:
            continue
        if owner_shapes[j] is None:
            owner_shapes[j] = tuple(shape)
        elif owner_shapes[j] != tuple(shape):
            return f"the slots of trained variable {j} have different shapes; not a {layout.class_name}'s layout"
    order = _solve(root, [s for s in owner_shapes if s is not None])
    if isinstance(order, str):
        return order
    return [Slot(name, None if j is None else order[j]) for name, j in positions]


def interchangeable(slots: Sequence[Slot], shapes: Sequence[Shape]) -> list[tuple[str, ...]]:
    """Groups of (two or more) attributed variables whose slots have equal shapes: slots an
    optimizer built over another order than the model's would have exchanged among them."""
    by_shape: dict[Shape, list[str]] = {}
    for slot, shape in zip(slots, shapes, strict=True):
        if slot.owner is not None:
            owners = by_shape.setdefault(tuple(shape), [])
            if slot.owner not in owners:
                owners.append(slot.owner)
    return [tuple(owners) for owners in by_shape.values() if len(owners) > 1]


def _solve(root: SolveNode, shapes: list[Shape]) -> tuple[str, ...] | str:
    search = _Search(shapes)
    try:
        found = search.node(root, 0).get(len(shapes), [])
    except _TooMany:
        return "too many orders of the file's layers fit the optimizer's slots to tell which is right"
    if not found:
        return ("no order of the file's layers has trained variables of the slots' shapes (the optimizer "
                "was built over another model's variables, or over this one's in another order than fit's)")
    if len(found) > 1:
        return ("more than one order of the file's layers fits the optimizer's slots (variables of equal "
                "shapes in layers whose order, or whether they were trained, the file does not record)")
    return _flatten(found[0][2])


# A sequence of names is kept as a tree (a leaf: a tuple of names; a pair: two sequences), so
# joining two is O(1), with a hash of its content (a polynomial hash, so two joins that give the
# same names give the same hash) and its length, by which sequences are told apart.
_Seq = tuple[int, int, Any]  # (content hash, length, tree)
_Ways = dict[int, list[_Seq]]  # end position -> distinct sequences
_MOD = (1 << 61) - 1
_BASE = 1_000_003
_EMPTY: _Seq = (0, 0, ())


def _leaf(names: tuple[str, ...]) -> _Seq:
    h = 0
    for name in names:
        h = (h * _BASE + (hash(name) & _MOD)) % _MOD
    return h, len(names), names


class _Pair:
    __slots__ = ("left", "right")

    def __init__(self, left: Any, right: Any) -> None:
        self.left, self.right = left, right


def _join(a: _Seq, b: _Seq) -> _Seq:
    if not a[1]:
        return b
    if not b[1]:
        return a
    return (a[0] * pow(_BASE, b[1], _MOD) + b[0]) % _MOD, a[1] + b[1], _Pair(a[2], b[2])


def _flatten(tree: Any) -> tuple[str, ...]:
    out: list[str] = []
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, _Pair):
            stack.extend((item.right, item.left))
        else:
            out.extend(item)
    return tuple(out)


class _Search:
    def __init__(self, shapes: list[Shape]) -> None:
        self.shapes = shapes
        self.steps = 0
        self.nodes: dict[tuple[int, int], _Ways] = {}
        self.merges: dict[tuple[int, int], _Ways] = {}

    def node(self, n: SolveNode, p: int) -> _Ways:
        """Every way layer ``n`` can account for the trained variables from position ``p``."""
        key = (id(n), p)
        if key not in self.nodes:
            self._tick()
            out: _Ways = {}
            for t in sorted(set(n.options)):
                if t > len(n.own) or p + t > len(self.shapes):
                    continue
                if any(tuple(n.own[i][1]) != self.shapes[p + i] for i in range(t)):
                    continue
                head = _leaf(tuple(name for name, _ in n.own[:t]))
                for q, tails in self._merge(n, p + t).items():
                    for tail in tails:
                        _add(out, q, _join(head, tail))
            self.nodes[key] = out
        return self.nodes[key]

    def _merge(self, n: SolveNode, p0: int) -> _Ways:
        """Every way ``n``'s sub-layers, chain orders kept, account for variables from ``p0``:
        layer by layer over the states (how far each chain has got), iteratively."""
        key = (id(n), p0)
        if key in self.merges:
            return self.merges[key]
        chains = [c for c in ([x for x in chain if x.holds_variables()] for chain in n.chains) if c]
        frontier: dict[tuple[int, ...], _Ways] = {(0,) * len(chains): {p0: [_EMPTY]}}
        for _ in range(sum(len(c) for c in chains)):
            nxt: dict[tuple[int, ...], _Ways] = {}
            for state, by_p in frontier.items():
                for c, chain in enumerate(chains):
                    if state[c] == len(chain):
                        continue
                    self._tick()
                    after = nxt.setdefault(state[:c] + (state[c] + 1,) + state[c + 1 :], {})
                    for p, seqs in by_p.items():
                        for q, child in self.node(chain[state[c]], p).items():
                            for first in seqs:
                                for second in child:
                                    _add(after, q, _join(first, second))
            frontier = {k: v for k, v in nxt.items() if v}
        self.merges[key] = frontier.get(tuple(len(c) for c in chains), {})
        return self.merges[key]

    def _tick(self) -> None:
        self.steps += 1
        if self.steps > _BUDGET:
            raise _TooMany


def _add(out: _Ways, q: int, seq: _Seq) -> None:
    got = out.setdefault(q, [])
    if len(got) < _KEEP and all((h, n) != seq[:2] for h, n, _ in got):
        got.append(seq)
