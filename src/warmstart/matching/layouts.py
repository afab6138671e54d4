"""``on_mismatch="preserve"``: which axes of a variable are inputs, and where the old block goes.

Pure Python. A grown model computes what the old one did when every new entry that *feeds an
old output* is zero and the old block sits where it acted before; the new entries that *make
new outputs* keep their initial values, so the new units still learn. Which axis is which
comes from the layer that owns the variable (:class:`~warmstart.entries.LayerInfo`), never
from its rank:

========  ===================================================  ==================================
role      axes                                                 new entries
========  ===================================================  ==================================
IN        Dense kernel rows, conv input channels, MHA output   zero (for the old outputs)
          projection's heads, EinsumDense summed axes
OUT       Dense/conv units and biases, BatchNormalization      their initial values
          channels, embedding columns, attention heads
ID        embedding rows (ids), depthwise channels             their initial values
WINDOW    a convolution's spatial axes                         the old window where padding puts
                                                               it (``same``: the centre), zeros
                                                               around it
FIXED     LayerNormalization width, attention ``key_dim``      none: any change is reported as
                                                               not function-preserving
========  ===================================================  ==================================

Shrinking an OUT or ID axis keeps the function of what is left (the next layer's inputs
shrink too, and are judged there); shrinking an IN or WINDOW axis drops inputs that fed
every output, which is not function-preserving (the plan is made before any value is read,
so weights that happen to be zero are not looked at).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from ..entries import LayerInfo, Shape
from .feeds import appended

__all__ = ["Box", "Placement", "Role", "place", "roles", "window_offset"]

Box = tuple[Shape, Shape]
"""``(begin, end)`` per axis, end exclusive."""


class Role(enum.Enum):
    """What an axis of a variable is to the layer that owns it."""

    IN = "in"  # summed into every output: new entries zero, fewer drop inputs
    OUT = "out"  # one entry per output: new ones keep their init
    ID = "id"  # one entry per id or channel, reaching only its own outputs: new ones keep their init
    WINDOW = "window"  # a convolution's taps: the old ones where the padding puts them, zeros around
    FIXED = "fixed"  # normalised or scaled over: any change alters every output


@dataclass(frozen=True, slots=True)
class Axes:
    """Each axis's role and its name in the report; ``why`` for FIXED axes: what changes."""

    roles: tuple[Role, ...]
    names: tuple[str, ...]
    why: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Placement:
    """Where the checkpoint's block lands (``offset`` per axis) and which boxes become zero."""

    offset: Shape
    zero: tuple[Box, ...]
    detail: str


_CONV = {"Conv1D": 1, "Conv2D": 2, "Conv3D": 3}
_TRANSPOSED = {"Conv1DTranspose": 1, "Conv2DTranspose": 2, "Conv3DTranspose": 3}
_DEPTHWISE = {"DepthwiseConv1D": 1, "DepthwiseConv2D": 2}
_SEPARABLE = {"SeparableConv1D": 1, "SeparableConv2D": 2}
_WIDTH_NORMS = {
    "LayerNormalization": "LayerNormalization normalises over the new width",
    "RMSNormalization": "RMSNormalization normalises over the new width",
    "GroupNormalization": "GroupNormalization regroups the channels",
    "UnitNormalization": "UnitNormalization normalises over the new width",
}
_KEY_DIM = "attention with a changed key_dim scores every head differently"


def roles(layer: LayerInfo | None, source: Shape, target: Shape) -> Axes | str:
    """The role of each axis of a variable of ``layer``, or why there is no rule for it."""
    rank = len(target)
    if layer is None:
        return "no Keras layer owns it, so which axes are inputs is unknown"
    kind, var = layer.kind, layer.variable
    found = _roles(layer, source, rank)
    if found is None:
        parent = f" inside {layer.parent}" if layer.parent else ""
        return f"no preserve rule for {kind}{parent}'s {var!r} of rank {rank}"
    return found


def _roles(layer: LayerInfo, source: Shape, rank: int) -> Axes | None:
    kind, var = layer.kind, layer.variable
    bias = var == "bias" and rank == 1
    if kind == "Dense":
        if var == "kernel" and rank == 2:
            return Axes((Role.IN, Role.OUT), ("inputs", "units"))
        return Axes((Role.OUT,), ("units",)) if bias else None
    if kind == "Embedding" and var == "embeddings" and rank == 2:
        return Axes((Role.ID, Role.OUT), ("ids", "columns"))
    if kind == "BatchNormalization" and var in ("gamma", "beta", "moving_mean", "moving_variance"):
        return Axes((Role.OUT,) * rank, ("channels",) * rank)
    if kind in _WIDTH_NORMS:
        return Axes((Role.FIXED,) * rank, ("width",) * rank, (_WIDTH_NORMS[kind],) * rank)
    if kind == "EinsumDense":
        return _einsum(layer, rank)
    n = _CONV.get(kind) or _TRANSPOSED.get(kind) or _DEPTHWISE.get(kind) or _SEPARABLE.get(kind)
    if n is None:
        return None
    if bias:
        return Axes((Role.OUT,), ("filters",))
    window = ((Role.WINDOW,) * n, ("window",) * n, ("",) * n)
    if kind in _DEPTHWISE or (kind in _SEPARABLE and var == "depthwise_kernel"):
        if var not in ("kernel", "depthwise_kernel") or rank != n + 2:
            return None
        # output channel c*m + k: more multipliers move the old outputs unless there is one channel
        multiplier = Role.OUT if source[-2] == 1 else Role.FIXED
        why = "a larger depth multiplier moves every channel's outputs (channel c, multiplier k -> c*m + k)"
        return Axes(window[0] + (Role.ID, multiplier), window[1] + ("channels", "multiplier"),
                    window[2] + ("", why))
    if var not in ("kernel", "pointwise_kernel") or rank != n + 2:
        return None
    if kind in _TRANSPOSED:
        why = f"{kind}: a larger window is not supported"
        return Axes((Role.FIXED,) * n + (Role.OUT, Role.IN), ("window",) * n + ("filters", "input channels"),
                    (why,) * n + ("", ""))
    if layer.groups != 1:
        why = f"a grouped convolution (groups={layer.groups}) regroups the channels"
        return Axes(window[0] + (Role.FIXED, Role.FIXED), window[1] + ("input channels", "filters"),
                    window[2] + (why, why))
    return Axes(window[0] + (Role.IN, Role.OUT), window[1] + ("input channels", "filters"), window[2] + ("", ""))


def _einsum(layer: LayerInfo, rank: int) -> Axes | None:
    """A letter of the kernel that the output lacks is summed over (IN); one the output has and
    the input lacks makes outputs (OUT); one in all three is elementwise (ID). Bias axes are
    output axes. In MultiHeadAttention, the query and key ``key_dim`` is FIXED."""
    try:
        lhs, out = layer.equation.replace("...", "").split("->")
        inp, kernel = lhs.split(",")
    except ValueError:
        return None
    if "Attention" in layer.parent and layer.parent != "MultiHeadAttention":
        return None  # e.g. grouped-query attention: its key and value heads are shared in groups
    mha = layer.parent == "MultiHeadAttention"
    if layer.variable == "kernel":
        letters = kernel
        found = [Role.IN if c not in out else Role.ID if c in inp else Role.OUT for c in letters]
    elif layer.variable == "bias":
        letters = "".join(c for c in out if c in layer.bias_axes)
        found = [Role.OUT] * len(letters)
    else:
        return None
    if len(letters) != rank:
        return None
    names = [{Role.IN: "inputs", Role.OUT: "outputs", Role.ID: "entries"}[r] for r in found]
    why = [""] * rank
    if mha and rank >= 2:
        names = _mha_names(layer.name, layer.variable, rank) or names
        if layer.name in ("query", "key"):
            found[-1], why[-1] = Role.FIXED, _KEY_DIM
    return Axes(tuple(found), tuple(names), tuple(why))


def _mha_names(sublayer: str, variable: str, rank: int) -> list[str] | None:
    names = None
    if sublayer in ("query", "key", "value"):
        names = (["inputs"] if variable == "kernel" else []) + ["heads", "value_dim" if sublayer == "value" else "key_dim"]
    elif sublayer == "attention_output" and variable == "kernel":
        names = ["heads", "value_dim", "units"]
    return names if names is not None and len(names) == rank else None


def window_offset(k0: int, k1: int, *, padding: str, stride: int = 1, dilation: int = 1) -> int | str:
    """Where an old window of ``k0`` taps goes in one of ``k1`` taps so that the layer's output
    is unchanged, or why no place does that."""
    if k1 == k0:
        return 0
    if k1 < k0:
        return f"the window shrank from {k0} to {k1} taps: the cut taps fed every output"
    if padding == "causal":
        return k1 - k0  # causal padding pads (k - 1) * dilation on the left: the old taps go last
    if padding != "same":
        return f"{padding!r} padding: a larger window gives a smaller output"
    if stride != 1:
        return (f"'same' padding with strides {stride}: where a larger window's padding starts depends "
                f"on the input size")
    shift = (dilation * (k1 - 1)) // 2 - (dilation * (k0 - 1)) // 2  # TF pads (k_eff - 1) // 2 before
    if shift % dilation:
        return f"dilation {dilation}: no place for the old {k0} taps lines them up in {k1}"
    return shift // dilation


# activations that act on each unit alone: a layer's new units leave its old units' outputs be
ELEMENTWISE = frozenset({
    "", "linear", "relu", "relu6", "leaky_relu", "elu", "selu", "celu", "softplus", "softsign", "silu", "swish",
    "gelu", "tanh", "sigmoid", "exponential", "hard_sigmoid", "hard_silu", "hard_swish", "mish", "log_sigmoid",
    "squareplus", "sparse_plus", "hard_tanh", "tanh_shrink", "soft_shrink", "hard_shrink", "threshold",
})


def place(layer: LayerInfo | None, source: Shape, target: Shape, *, remap_axis: int | None = None,
          widths: Mapping[str, Shape | None] | None = None, moved_inputs: bool = False) -> Placement | str:
    """The placement that keeps the layer's function, or why there is none.

    ``remap_axis``: a vocabulary remap owns that axis (its rows are written position by
    position), so it must make outputs or ids, and the zero boxes span it whole. ``widths``:
    each target's checkpoint shape (None: not in the checkpoint), to tell whether a Dense or
    convolution's new inputs are appended (:func:`.feeds.appended`). ``moved_inputs``: the
    remap on ``remap_axis`` moves the old inputs to their places and zeroes the new ones
    (:func:`.feeds.moved_inputs`), so that axis may be the inputs.
    """
    if len(source) != len(target):
        raise ValueError(f"preserve needs equal ranks: {source} -> {target}")
    axes = roles(layer, source, target)
    if isinstance(axes, str):
        return axes
    offset = []
    window = 0
    for a, (role, s, t) in enumerate(zip(axes.roles, source, target, strict=True)):
        name = axes.names[a]
        if a == remap_axis:
            if role not in (Role.OUT, Role.ID) and not (moved_inputs and role is Role.IN):
                return f"the vocabulary remaps its {name}, whose new entries would feed every output"
            offset.append(0)
            continue
        if role is Role.WINDOW:
            assert layer is not None  # roles() said so
            o = window_offset(s, t, padding=layer.padding, stride=_at(layer.strides, window),
                              dilation=_at(layer.dilation, window))
            window += 1
            if isinstance(o, str):
                return o
            offset.append(o)
            continue
        if s != t and role is Role.FIXED:
            return axes.why[a]
        if t > s and role is Role.OUT and layer is not None and layer.reach:
            return layer.reach
        if t > s and role is Role.OUT and layer is not None and layer.activation not in ELEMENTWISE:
            return (f"its activation {layer.activation!r} is not applied to each unit alone: new {name} "
                    f"would change what the old ones output")
        if t < s and role is Role.IN:
            return f"the checkpoint has {s} {name}, the model {t}: the dropped ones fed every output"
        if t > s and role is Role.IN and a == _fed_axis(layer):
            assert layer is not None  # roles() said so
            why = appended(layer.feed, s, t, widths or {})
            if why is not None:
                return why
        offset.append(0)
    if remap_axis is not None and any(offset):
        return "a vocabulary remap of a layer whose window grew is not supported"
    return Placement(tuple(offset), _zero_boxes(axes.roles, source, target, offset, remap_axis),
                     _detail(axes, source, target, offset, remap_axis))


def _fed_axis(layer: LayerInfo | None) -> int | None:
    """The kernel axis that is the layer's input's last axis, where its feed is traced."""
    if layer is None or layer.variable != "kernel":
        return None
    if layer.kind == "Dense":
        return 0
    n = _CONV.get(layer.kind)
    return n if n is not None else None


def _at(values: tuple[int, ...], i: int) -> int:
    return values[i] if i < len(values) else 1


def _zero_boxes(axes: tuple[Role, ...], source: Shape, target: Shape, offset: list[int],
                remap_axis: int | None) -> tuple[Box, ...]:
    """What feeds the old outputs (``region``) less the copied block, as disjoint boxes."""
    region, block = [], []
    for a, (role, s, t, o) in enumerate(zip(axes, source, target, offset, strict=True)):
        if a == remap_axis:
            region.append((0, t))
            block.append((0, t))
        else:
            keep_init = role in (Role.OUT, Role.ID)  # new entries there are new outputs
            region.append((0, min(s, t)) if keep_init else (0, t))
            block.append((o, o + min(s, t)))
    boxes = []
    for a in range(len(axes)):
        (lo, hi), (b_lo, b_hi) = region[a], block[a]
        for start, stop in ((lo, b_lo), (b_hi, hi)):
            if stop > start:
                ranges = block[:a] + [(start, stop)] + region[a + 1 :]
                boxes.append((tuple(r[0] for r in ranges), tuple(r[1] for r in ranges)))
    return tuple(boxes)


def _span(lo: int, hi: int) -> str:
    return str(lo) if hi - lo == 1 else f"{lo}-{hi - 1}"


def _detail(axes: Axes, source: Shape, target: Shape, offset: list[int], remap_axis: int | None) -> str:
    """``"new inputs 16-23 zero; new units 8-11 as initialised"`` and the like."""
    zero, init, dropped = [], [], []
    windows = [a for a, r in enumerate(axes.roles) if r is Role.WINDOW and source[a] != target[a]]
    if windows:
        old = "x".join(str(source[a]) for a in windows)
        new = "x".join(str(target[a]) for a in windows)
        where = ("centred" if all(offset[a] * 2 == target[a] - source[a] for a in windows)
                 else f"at offset {tuple(offset[a] for a in windows)}")
        zero.append(f"{old} window {where} in {new}, around it zero")
    for a, (role, s, t) in enumerate(zip(axes.roles, source, target, strict=True)):
        if role is Role.WINDOW or s == t or a == remap_axis:  # a remap tells its rows itself
            continue
        if t < s:
            dropped.append(f"{axes.names[a]} {_span(t, s)} dropped")
        elif role is Role.IN:
            zero.append(f"new {axes.names[a]} {_span(s, t)} zero")
        else:
            init.append(f"new {axes.names[a]} {_span(s, t)} as initialised")
    return "; ".join(zero + init + dropped)
