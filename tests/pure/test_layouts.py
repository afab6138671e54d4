"""``on_mismatch="preserve"``'s pure half: axis roles per layer kind, where the old block goes,
the zero boxes, and (in numpy) that a layer placed this way computes what it did."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warmstart.entries import Feed, LayerInfo
from warmstart.matching.layouts import Placement, Role, place, roles, window_offset

STRAIGHT = Feed((("", -1, 1),))  # fed by one model input: new inputs are its last ones
DENSE_K = LayerInfo("Dense", "kernel", feed=STRAIGHT)
DENSE_B = LayerInfo("Dense", "bias")


def conv(kind="Conv2D", var="kernel", padding="same", strides=(1, 1), dilation=(1, 1), groups=1):
    return LayerInfo(kind, var, padding=padding, strides=strides, dilation=dilation, groups=groups, feed=STRAIGHT)


def mha(sub, var="kernel"):
    equation = {"attention_output": "abcd,cde->abe"}.get(sub, "abc,cde->abde")
    bias_axes = "e" if sub == "attention_output" else "de"
    return LayerInfo("EinsumDense", var, name=sub, parent="MultiHeadAttention", equation=equation,
                     bias_axes=bias_axes)


def apply(p: Placement, old: np.ndarray, init: np.ndarray) -> np.ndarray:
    """What apply writes: the block at its origin, zeros in the boxes, init elsewhere."""
    out = init.copy()
    block = tuple(min(a, b) for a, b in zip(old.shape, init.shape, strict=True))
    origin = p.offset or (0,) * old.ndim
    out[tuple(slice(o, o + b) for o, b in zip(origin, block, strict=True))] = old[tuple(slice(0, b) for b in block)]
    for begin, end in p.zero:
        out[tuple(slice(b, e) for b, e in zip(begin, end, strict=True))] = 0
    return out


# --- roles come from the layer, not the rank ------------------------------------------------


@pytest.mark.parametrize(("layer", "shape", "expected"), [
    (DENSE_K, (4, 3), (Role.IN, Role.OUT)),
    (DENSE_B, (3,), (Role.OUT,)),
    (LayerInfo("Embedding", "embeddings"), (10, 4), (Role.ID, Role.OUT)),
    (conv(), (3, 3, 2, 4), (Role.WINDOW, Role.WINDOW, Role.IN, Role.OUT)),
    (conv("Conv1D", strides=(1,), dilation=(1,)), (3, 2, 4), (Role.WINDOW, Role.IN, Role.OUT)),
    (conv("DepthwiseConv2D"), (3, 3, 1, 2), (Role.WINDOW, Role.WINDOW, Role.ID, Role.OUT)),  # one channel
    (conv("DepthwiseConv2D"), (3, 3, 2, 2), (Role.WINDOW, Role.WINDOW, Role.ID, Role.FIXED)),
    (conv("SeparableConv2D", "pointwise_kernel"), (1, 1, 6, 4), (Role.WINDOW, Role.WINDOW, Role.IN, Role.OUT)),
    (conv("Conv2DTranspose"), (3, 3, 4, 2), (Role.FIXED, Role.FIXED, Role.OUT, Role.IN)),
    (LayerInfo("BatchNormalization", "moving_variance"), (8,), (Role.OUT,)),
    (LayerInfo("LayerNormalization", "gamma"), (8,), (Role.FIXED,)),
    (LayerInfo("EinsumDense", "kernel", equation="abc,cd->abd"), (4, 5), (Role.IN, Role.OUT)),
    (LayerInfo("EinsumDense", "kernel", equation="abc,bcd->abd"), (2, 4, 5), (Role.ID, Role.IN, Role.OUT)),
    (mha("query"), (8, 2, 3), (Role.IN, Role.OUT, Role.FIXED)),
    (mha("query", "bias"), (2, 3), (Role.OUT, Role.FIXED)),
    (mha("value"), (8, 2, 3), (Role.IN, Role.OUT, Role.OUT)),
    (mha("attention_output"), (2, 3, 8), (Role.IN, Role.IN, Role.OUT)),
])
def test_roles_per_layer_kind(layer, shape, expected):
    found = roles(layer, shape, shape)
    assert not isinstance(found, str), found
    assert found.roles == expected


@pytest.mark.parametrize(("layer", "why"), [
    (None, "no Keras layer owns it"),
    (LayerInfo("LSTMCell", "kernel"), "no preserve rule for LSTMCell's 'kernel' of rank 2"),
    (LayerInfo("Dense", "kernel", parent="MyBlock"), None),  # a custom parent does not hide a Dense
    (LayerInfo("EinsumDense", "kernel", parent="GroupedQueryAttention", equation="abc,cde->abde"),
     "no preserve rule for EinsumDense inside GroupedQueryAttention's 'kernel'"),
])
def test_variables_without_a_known_layer_have_no_rule(layer, why):
    found = roles(layer, (4, 3), (4, 3))
    if why is None:
        assert not isinstance(found, str)
    else:
        assert isinstance(found, str) and found.startswith(why)


# --- placements -----------------------------------------------------------------------------


def test_dense_kernel_new_inputs_zero_for_old_units_only():
    p = place(DENSE_K, (16, 8), (24, 12))
    assert isinstance(p, Placement)
    assert p.offset == (0, 0)
    assert p.zero == (((16, 0), (24, 8)),)  # [16:24, :8]; [:, 8:12] keeps its init
    assert p.detail == "new inputs 16-23 zero; new units 8-11 as initialised"


def test_bias_and_embedding_have_nothing_to_zero():
    assert place(DENSE_B, (8,), (12,)) == Placement((0,), (), "new units 8-11 as initialised")
    p = place(LayerInfo("Embedding", "embeddings"), (10, 4), (13, 6))
    assert p == Placement((0, 0), (), "new ids 10-12 as initialised; new columns 4-5 as initialised")


def test_conv_window_centred_and_ring_zero():
    p = place(conv(), (3, 3, 2, 4), (5, 5, 3, 6))
    assert isinstance(p, Placement) and p.offset == (1, 1, 0, 0)
    assert p.detail == ("3x3 window centred in 5x5, around it zero; new input channels 2 zero; "
                        "new filters 4-5 as initialised")
    rng = np.random.default_rng(0)
    old = rng.normal(size=(3, 3, 2, 4))
    new = apply(p, old, rng.normal(size=(5, 5, 3, 6)) + 10)
    np.testing.assert_array_equal(new[1:4, 1:4, :2, :4], old)
    mask = np.zeros(new.shape, bool)
    mask[1:4, 1:4, :2, :4] = True
    assert (new[..., :4][~mask[..., :4]] == 0).all()  # everything else feeding old filters is zero
    assert (new[..., 4:] >= 5).all()  # new filters keep their init


@pytest.mark.parametrize(("k0", "k1", "padding", "stride", "dilation", "expected"), [
    (3, 5, "same", 1, 1, 1),
    (2, 3, "same", 1, 1, 1),  # TF pads (k - 1) // 2 before: 0 for 2 taps, 1 for 3
    (3, 4, "same", 1, 1, 0),
    (1, 3, "same", 1, 1, 1),
    (3, 5, "same", 1, 2, 1),
    (2, 3, "same", 1, 2, "dilation 2"),
    (3, 5, "causal", 1, 1, 2),
    (3, 5, "causal", 1, 3, 2),
    (3, 5, "valid", 1, 1, "'valid' padding"),
    (3, 5, "same", 2, 1, "'same' padding with strides 2"),
    (5, 3, "same", 1, 1, "the window shrank"),
    (3, 3, "valid", 2, 1, 0),
])
def test_window_offset(k0, k1, padding, stride, dilation, expected):
    got = window_offset(k0, k1, padding=padding, stride=stride, dilation=dilation)
    if isinstance(expected, str):
        assert isinstance(got, str) and got.startswith(expected)
    else:
        assert got == expected


def _conv1d(x: np.ndarray, k: np.ndarray, *, padding: str, dilation: int) -> np.ndarray:
    """TF's convolution, stride 1: ``same`` pads ``(k_eff - 1) // 2`` before, ``causal`` all before."""
    taps = k.shape[0]
    eff = dilation * (taps - 1) + 1
    before = (eff - 1) // 2 if padding == "same" else eff - 1
    padded = np.pad(x, ((before, eff - 1 - before), (0, 0)))
    return np.stack([sum(padded[y + dilation * j] @ k[j] for j in range(taps)) for y in range(x.shape[0])])


@settings(max_examples=60, deadline=None)
@given(k0=st.integers(1, 4), grow=st.integers(0, 3), dilation=st.integers(1, 3),
       padding=st.sampled_from(["same", "causal"]), cin=st.integers(1, 3), cout=st.integers(1, 3),
       more_in=st.integers(0, 2), more_out=st.integers(0, 2))
def test_property_conv1d_placed_computes_what_it_did(k0, grow, dilation, padding, cin, cout, more_in, more_out):
    """On the old input channels (new ones any value), the old filters' outputs are unchanged."""
    layer = conv("Conv1D", padding=padding, strides=(1,), dilation=(dilation,))
    k1 = k0 + grow
    p = place(layer, (k0, cin, cout), (k1, cin + more_in, cout + more_out))
    if isinstance(p, str):
        assert p.startswith("dilation")  # the one case with no place
        return
    rng = np.random.default_rng(k0 * 100 + grow * 10 + dilation)
    old = rng.normal(size=(k0, cin, cout))
    new = apply(p, old, rng.normal(size=(k1, cin + more_in, cout + more_out)))
    x = rng.normal(size=(9, cin + more_in))
    np.testing.assert_allclose(_conv1d(x, new, padding=padding, dilation=dilation)[:, :cout],
                               _conv1d(x[:, :cin], old, padding=padding, dilation=dilation), atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(i0=st.integers(1, 5), o0=st.integers(1, 5), di=st.integers(0, 3), do=st.integers(-2, 3))
def test_property_dense_placed_computes_what_it_did(i0, o0, di, do):
    o1 = max(1, o0 + do)
    p = place(DENSE_K, (i0, o0), (i0 + di, o1))
    assert isinstance(p, Placement)
    rng = np.random.default_rng(i0 + 7 * o0)
    old = rng.normal(size=(i0, o0))
    new = apply(p, old, rng.normal(size=(i0 + di, o1)))
    x = rng.normal(size=(3, i0 + di))
    kept = min(o0, o1)
    np.testing.assert_allclose((x @ new)[:, :kept], x[:, :i0] @ old[:, :kept], atol=1e-12)
    if di and o1 > o0:
        assert (new[:, o0:] != 0).all()  # new units can learn: their incoming weights are not zero


def test_attention_more_heads_zero_their_output_rows():
    q = place(mha("query"), (8, 2, 4), (8, 3, 4))
    assert q == Placement((0, 0, 0), (), "new heads 2 as initialised")
    out = place(mha("attention_output"), (2, 4, 8), (3, 4, 8))
    assert isinstance(out, Placement) and out.zero == (((2, 0, 0), (3, 4, 8)),)
    assert out.detail == "new heads 2 zero"


def test_not_function_preserving_layers_say_why():
    assert place(LayerInfo("LayerNormalization", "gamma"), (8,), (12,)) == (
        "LayerNormalization normalises over the new width")
    assert place(mha("key"), (8, 2, 4), (8, 2, 6)) == "attention with a changed key_dim scores every head differently"
    assert place(DENSE_K, (16, 8), (12, 8)) == ("the checkpoint has 16 inputs, the model 12: the dropped ones fed "
                                               "every output")
    assert place(conv(padding="valid"), (3, 3, 2, 4), (5, 5, 2, 4)).startswith("'valid' padding")
    assert place(conv(groups=2), (3, 3, 2, 4), (3, 3, 3, 4)).startswith("a grouped convolution (groups=2)")
    assert place(conv("DepthwiseConv2D"), (3, 3, 2, 2), (3, 3, 2, 3)).startswith("a larger depth multiplier")
    assert place(None, (4,), (5,)).startswith("no Keras layer owns it")


def test_shrinking_outputs_keeps_the_rest():
    p = place(DENSE_K, (16, 8), (16, 6))
    assert p == Placement((0, 0), (), "units 6-7 dropped")
    assert isinstance(place(LayerInfo("Embedding", "embeddings"), (10, 4), (8, 4)), Placement)


def test_depthwise_channels_and_single_channel_multiplier():
    assert place(conv("DepthwiseConv2D"), (3, 3, 2, 2), (3, 3, 4, 2)) == Placement(
        (0, 0, 0, 0), (), "new channels 2-3 as initialised")
    assert isinstance(place(conv("DepthwiseConv2D"), (3, 3, 1, 2), (3, 3, 1, 3)), Placement)


def test_remap_axis_spans_the_zero_boxes_and_must_make_outputs():
    # a class-vocabulary output layer (columns remapped) whose inputs grew
    p = place(DENSE_K, (16, 10), (20, 13), remap_axis=1)
    assert isinstance(p, Placement) and p.zero == (((16, 0), (20, 13)),)
    assert p.detail == "new inputs 16-19 zero"
    assert place(DENSE_K, (16, 10), (20, 10), remap_axis=0).startswith("the vocabulary remaps its inputs")


@settings(max_examples=80, deadline=None)
@given(shapes=st.lists(st.tuples(st.integers(1, 4), st.integers(0, 3)), min_size=4, max_size=4))
def test_property_zero_boxes_and_block_tile_what_feeds_the_old_outputs(shapes):
    """Conv2D kernels: the block and the zero boxes never overlap, stay inside the target, and
    together cover exactly the entries of the old filters; new filters are untouched."""
    source = tuple(s for s, _ in shapes)
    target = tuple(s + g for s, g in shapes)
    p = place(conv(), source, target)
    assert isinstance(p, Placement)
    cover = np.zeros(target, int)
    cover[tuple(slice(o, o + s) for o, s in zip(p.offset, source, strict=True))] += 1
    for begin, end in p.zero:
        assert all(0 <= b < e <= t for b, e, t in zip(begin, end, target, strict=True))
        cover[tuple(slice(b, e) for b, e in zip(begin, end, strict=True))] += 1
    assert (cover[..., : source[3]] == 1).all() and (cover[..., source[3]:] == 0).all()
