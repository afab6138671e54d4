"""What both sides of a warm start are reduced to: named, shaped, typed entries.

Pure data: no TensorFlow import, so matching can be tested in milliseconds.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["EntryKind", "Feed", "LayerInfo", "NameSource", "Shape", "SourceEntry", "StateKind", "TargetEntry",
           "TargetSlot", "TargetState", "nbytes", "shape_text"]

Shape = tuple[int, ...]


def shape_text(shape: Shape) -> str:
    """``(4, 8)``, ``(8,)`` and ``()``: Python's tuple spelling, which users know."""
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


class EntryKind(enum.StrEnum):
    """What a checkpoint entry holds."""

    VARIABLE = "variable"
    """A model variable: a candidate source for a target."""
    SLOT = "slot"
    """Optimizer state attached to one model variable (``slot_owner``, ``slot_name``)."""
    OTHER = "other"
    """Optimizer hyperparameters, counters, ``save_counter``, unpaired state."""


class StateKind(enum.StrEnum):
    """What an optimizer variable that is not a slot is."""

    STEP = "step"
    """The step counter (``_iterations``)."""
    LEARNING_RATE = "learning_rate"
    """The learning rate, or another hyperparameter held in a variable: the optimizer's own."""
    TIED = "tied_to_step"
    """State that goes with the step: Nadam's ``_u_product`` (the product of its momentum
    schedule), a loss-scale optimizer's ``dynamic_scale`` and its counter."""
    ACCUMULATOR = "accumulator"
    """A gradient accumulator (``gradient_accumulation_steps``), one per trained variable."""


class NameSource(enum.StrEnum):
    """Where a source entry's readable name came from."""

    FULL_NAME = "full_name"  # the variable's own name, without the model's name
    STRUCTURE = "structure"  # attribute path in the object graph (full_name unusable)
    KEY = "key"  # name-based checkpoint key


@dataclass(frozen=True, slots=True)
class SourceEntry:
    """One variable node of a checkpoint.

    ``name`` has the same form as target names, so one regex works on both sides.
    ``paths`` are every structural path to the node from the model's node (optimizer
    paths excluded), e.g. ``_functional/_operations/1/_kernel``.
    """

    name: str
    """The name rules refer to (``tower_0/kernel``)."""
    key: str
    """Where the tensor is stored (a TF2 checkpoint key, an HDF5 dataset path)."""
    shape: Shape
    dtype: str
    kind: EntryKind = EntryKind.VARIABLE
    paths: tuple[str, ...] = ()
    full_name: str = ""
    name_source: NameSource = NameSource.FULL_NAME
    slot_owner: str | None = None
    """For a slot: the source name of the variable it belongs to."""
    slot_name: str | None = None
    """For a slot: which one (``momentums``, ``velocities``, ``accumulators``, ...)."""

    @property
    def nbytes(self) -> int:
        return nbytes(self.dtype, self.shape)


@dataclass(frozen=True, slots=True)
class Feed:
    """What a layer's input's last axis is made of, traced back through the model's graph
    (:mod:`warmstart.targets.feeds`): ``preserve`` zeroes "new inputs N-M" only where they
    really are the last positions of that axis (:mod:`warmstart.matching.feeds`).

    ``parts`` lie in order along the axis: ``(producer, axis, width)``, where ``producer`` is
    the target variable whose ``axis`` is the part's width (``("conv/kernel", -1, 6)``) and
    ``""`` a model input; a ``Flatten`` of ``(..., C)`` repeats its input's parts once per
    position. ``via`` names the layers that move positions (``Flatten``, ``Concatenate``);
    ``why``, when set, says why the layout is unknown (then ``parts`` is empty).
    """

    parts: tuple[tuple[str, int, int], ...] = ()
    via: tuple[str, ...] = ()
    why: str = ""


@dataclass(frozen=True, slots=True)
class LayerInfo:
    """The Keras layer that owns a target variable, as far as ``on_mismatch="preserve"`` needs
    it to tell which axes of the variable are inputs (:mod:`warmstart.matching.layouts`).

    ``kind`` is the layer's class name (``"Dense"``, ``"Conv2D"``); ``variable`` the
    variable's own name in it (``"kernel"``, ``"moving_variance"``); ``name`` the layer's
    name and ``parent`` the class of the layer holding it (``"query"`` inside a
    ``"MultiHeadAttention"``).
    """

    kind: str
    variable: str
    name: str = ""
    parent: str = ""
    padding: str = ""
    strides: tuple[int, ...] = ()
    dilation: tuple[int, ...] = ()
    groups: int = 1
    equation: str = ""  # EinsumDense
    bias_axes: str = ""  # EinsumDense
    feed: Feed | None = None
    activation: str = ""  # the layer's own activation's name ("" none or linear)
    reach: str = ""  # why the layer's new outputs may change the model's function ("" where they cannot)
    """Where its inputs come from; None where no model graph says (a subclassed model)."""


@dataclass(frozen=True, slots=True)
class TargetEntry:
    """One variable of the live target.

    ``auto_components`` marks the indices of ``name``'s '/'-separated components that are
    Keras auto-generated names (``dense_7``), with the class base they come from
    (``dense``), so a drifted counter (``dense_3`` in the checkpoint) still matches.
    ``layer`` is the Keras layer that owns it, when there is one.
    """

    name: str
    shape: Shape
    dtype: str
    paths: tuple[str, ...] = ()
    auto_components: tuple[tuple[int, str], ...] = ()
    untracked: str | None = None
    """Why TensorFlow's object graph does not reach this variable (a TF checkpoint cannot hold
    it), with the fix; None for the usual, checkpointable variable."""
    layer: LayerInfo | None = None


def nbytes(dtype: str, shape: Shape) -> int:
    """Bytes of a dense tensor; 0 where the dtype has no fixed size (strings)."""
    n = _ITEMSIZE.get(dtype, 0)
    for d in shape:
        n *= d
    return n


_ITEMSIZE = {
    "bool": 1, "int8": 1, "uint8": 1, "qint8": 1, "quint8": 1,
    "int16": 2, "uint16": 2, "float16": 2, "bfloat16": 2,
    "int32": 4, "uint32": 4, "float32": 4, "qint32": 4,
    "int64": 8, "uint64": 8, "float64": 8, "complex64": 8,
    "complex128": 16,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class TargetSlot:
    """One optimizer slot of the live optimizer, attached to target variable ``owner``.

    ``handle`` is its key in the writer's variable mapping.
    """

    owner: str
    slot: str
    shape: Shape
    dtype: str
    handle: str


@dataclass(frozen=True, slots=True)
class TargetState:
    """One variable of the live optimizer that is not a slot (the step, the learning rate,
    Nadam's ``_u_product``, a loss scale, a gradient accumulator).

    ``handle`` is its key in the writer's variable mapping and its name in the report
    (``optimizer/_u_product``); ``path`` its attribute path from the optimizer that holds it
    (``_u_product``, ``dynamic_scale``); ``wrapper`` is true for the state of a wrapping
    optimizer (a ``LossScaleOptimizer``'s own), false for that of the optimizer with the slots.
    """

    handle: str
    kind: StateKind
    path: str
    wrapper: bool
    shape: Shape
    dtype: str
