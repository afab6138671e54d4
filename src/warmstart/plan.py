"""The plan: every decision of a warm start, as data, before anything is read or written.

Pure Python. :func:`warmstart.matching.make_plan` builds it, :mod:`warmstart.apply` executes
its steps, and the report shows the same objects: a :class:`Step` *is* the
:class:`LoadedEntry` the report lists, with what the writer needs on top; a
:class:`SkippedEntry` is the same object in the plan and in the report.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from .entries import Shape, StateKind, nbytes
from .remap.rows import RowMap
from .remap.vocab import NewRows

__all__ = [
    "Action",
    "LoadedEntry",
    "Plan",
    "Refusal",
    "Remap",
    "SkipReason",
    "SkippedEntry",
    "SlotEntry",
    "SlotOutcome",
    "SlotPlan",
    "StateEntry",
    "StateKind",
    "StateOutcome",
    "Step",
    "Strategy",
]


class Action(enum.StrEnum):
    """How a checkpoint tensor becomes the target's value."""

    COPY = "copy"
    """Same shape and dtype: the value as stored."""
    CAST = "cast"
    """Same shape; the dtype changes by a safe cast (float32 -> bfloat16, ...)."""
    OVERLAP = "overlap"
    """Shapes differ: the common block is copied, the rest keeps its initial value."""
    PRESERVE = "preserve"
    """Shapes differ: the common block is copied where the layer used it, new entries that feed
    old outputs are zero, the rest keeps its initial value; the layer computes what it did."""
    VOCAB = "vocab"
    """Rows (or columns) remapped by token: each goes to its token's new position."""


class SkipReason(enum.StrEnum):
    """Why an included or paired target was not loaded."""

    EXCLUDED = "excluded"
    """An ``include``/``exclude`` rule left it out."""
    SHAPE_MISMATCH = "shape_mismatch"
    """Its source has another shape and the policy does not load it."""
    DTYPE_MISMATCH = "dtype_mismatch"
    """Its source has another dtype with no safe cast."""
    RENAME_NONE = "rename_none"
    """A ``rename`` rule maps it to ``None``: do not load."""


class Strategy(enum.StrEnum):
    """Which rule paired a target with its source."""

    RENAME = "rename"
    """An explicit ``rename`` rule."""
    NAME = "name"
    """Equal names."""
    AUTO_NAME = "auto_name"
    """Equal up to Keras auto-name counters (``dense_3`` ~ ``dense_7``)."""
    STRUCTURE = "structure"
    """The same object-graph path (the checkpoint's own name is unusable)."""


@dataclass(frozen=True, slots=True)
class Remap:
    """A table's rows (``axis=0``) or columns (``axis=1``) follow their keys: new position
    ``rows.new_rows[k]`` takes old position ``rows.old_rows[k]``; the other positions keep
    their value, or get ``initializer(shape, dtype)``, or (``"mean"``) the mean of the carried
    rows."""

    rows: RowMap = field(repr=False)
    axis: int = 0
    initializer: NewRows | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadedEntry:
    """A target variable that is loaded (or, in a dry run, would be): one row of the report."""

    target: str
    """The model's variable (for a slot step: ``variable@slot``)."""
    source: str
    """The checkpoint variable it is loaded from."""
    action: Action
    """How the stored tensor becomes the target's value."""
    shape: Shape
    """The target's shape."""
    source_shape: Shape
    """The checkpoint tensor's shape."""
    dtype: str
    """The target's dtype."""
    source_dtype: str
    """The checkpoint tensor's dtype."""
    strategy: Strategy
    """Which rule paired the two (the report's ``matched by``)."""
    rule: str | None = None
    """The rename pattern that made the pair, if one did."""
    detail: str = ""
    """What the action did beyond a copy: for a remap, rows carried, new, dropped; for
    ``preserve``, what was zeroed and what kept its initial value."""
    rows: tuple[tuple[str, int], ...] = ()
    """The same as numbers: ``(("carried", n), ("new", n), ("dropped", n))``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Step(LoadedEntry):
    """Load checkpoint key ``key`` into the target: what :mod:`warmstart.apply` executes."""

    key: str
    by_structure: bool = False
    """Several candidates had the name; a shared object-graph path decided."""
    remap: Remap | None = field(default=None, compare=False, repr=False)
    offset: Shape = ()
    """Where the block lands in the target, per axis; ``()`` is the leading corner."""
    zero: tuple[tuple[Shape, Shape], ...] = ()
    """Boxes ``(begin, end)`` of the target written with zeros (``preserve``)."""
    unpreserved: str = ""
    """Under ``preserve``, why this step could not keep the function (it loads as an overlap)."""

    @property
    def origin(self) -> Shape:
        """Where the block lands: ``offset``, or the leading corner."""
        return self.offset or (0,) * len(self.shape)

    @property
    def block(self) -> Shape:
        """The region written: the whole target, or the common block for an overlap."""
        block = [min(a, b) for a, b in zip(self.shape, self.source_shape, strict=True)]
        if self.remap is not None:  # the remapped axis is written position by position, in full
            block[self.remap.axis] = self.shape[self.remap.axis]
        return tuple(block)

    @property
    def whole(self) -> bool:
        """Whether every element of the target is written (a copy or a cast: no remap, no
        overlap), so that it ends the same on every replica whatever they held before."""
        return self.remap is None and not any(self.offset) and self.block == tuple(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes read from the checkpoint for this step."""
        return nbytes(self.source_dtype, self.source_shape)


@dataclass(frozen=True, slots=True)
class SkippedEntry:
    """A target that is paired or ruled out, and not loaded: one row of the report's
    ``Skipped`` table. It keeps its current (initial) value."""

    target: str
    """The model's variable."""
    source: str | None
    """The checkpoint variable it was paired with; ``None`` when a rule left it out first."""
    reason: SkipReason
    """Why it was not loaded."""
    detail: str
    """The same in words: both shapes, the rule that excluded it, ..."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """A pair whose policy is ``"error"``: a real run raises ``message``; a dry run shows
    ``skip``."""

    message: str
    skip: SkippedEntry


@dataclass(frozen=True, slots=True)
class Plan:
    """What a warm start will do with the target's variables."""

    steps: tuple[Step, ...]
    skipped: tuple[SkippedEntry, ...]
    missing: tuple[str, ...]
    unused: tuple[str, ...]
    missing_detail: dict[str, str] = field(default_factory=dict)
    mismatch_errors: tuple[str, ...] = ()
    """Full messages of the ``on_mismatch="error"`` pairs."""
    incomplete: tuple[str, ...] = ()
    """Included targets not loaded and not covered by ``expect_missing`` (what ``strict`` checks)."""
    warnings: tuple[str, ...] = ()
    """What the user should look at although the plan can run (a remap that carries little)."""
    ambiguities: tuple[str, ...] = ()
    """Why some pairings are guesses (auto-named layers that differ in number)."""
    ambiguous: tuple[str, ...] = ()
    """The targets whose pairing is a guess (``strict`` refuses it)."""

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self.steps)


class SlotOutcome(enum.StrEnum):
    """What happened to one optimizer slot."""

    LOADED = "loaded"
    """Loaded from the checkpoint slot of the variable its owner loads from."""
    FRESH = "fresh"
    """Its variable was not loaded: the slot keeps its initial value."""
    SKIPPED = "skipped"
    """Its variable was loaded, but this slot could not be (see ``reason``)."""


@dataclass(frozen=True, slots=True)
class SlotEntry:
    """What happened to one optimizer slot of one target variable."""

    target: str
    """The owner variable."""
    slot: str
    """The slot's name (``momentums``, ``velocities``, ...)."""
    outcome: SlotOutcome
    """Loaded, fresh or skipped."""
    action: Action | None = None
    """For a loaded slot: its variable's action (the slot follows it)."""
    reason: str | None = None
    """For a slot that was not loaded: why."""


@dataclass(frozen=True, slots=True)
class SlotPlan:
    """The optimizer's part of a plan."""

    steps: tuple[Step, ...]
    results: tuple[SlotEntry, ...]
    counter: Step | None = None
    """Loads the optimizer's iteration counter, when it is carried."""
    state: tuple[StateEntry, ...] = ()
    """Every other optimizer variable (the step included): carried or not, and why."""
    state_steps: tuple[Step, ...] = ()
    """Loads the state tied to the step (Nadam's ``_u_product``, a loss scale), when carried."""
    warnings: tuple[str, ...] = ()
    """Slots of another optimizer class, or state tied to a carried step that could not be
    carried: the first updates will be off."""


class StateOutcome(enum.StrEnum):
    """What happened to one optimizer variable that is not a slot."""

    CARRIED = "carried"
    """Loaded from the checkpoint (``source``)."""
    KEPT = "kept"
    """Not carried, by design (``reason``): it keeps its current value."""
    SKIPPED = "skipped"
    """It goes with the carried step but could not be loaded (``reason``); a warning says so."""


@dataclass(frozen=True, slots=True)
class StateEntry:
    """What happened to one optimizer variable that is not a slot."""

    target: str
    """Its path from the optimizer (``optimizer/_u_product``); an accumulator's is
    ``<variable>@accumulated_gradients``."""
    kind: StateKind
    outcome: StateOutcome
    source: str | None = None
    """For a carried one: the checkpoint entry it was loaded from."""
    reason: str = ""
    """For one not carried: why."""
