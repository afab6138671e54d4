"""Name helpers: auto-name counters, compatibility up to drift, prefixes, "did you mean".

Pure: no TensorFlow (``test_matching.py`` checks the imports).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warmstart.names import auto_key, closest, compatible, drop_counter, slot_name, strip_prefix

DENSE = ((0, "dense"),)


# --- drop_counter ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("component", "expected"),
    [
        ("dense_7", "dense"),
        ("dense_12", "dense"),
        ("dense", "dense"),
        ("conv2d", "conv2d"),  # digits that are part of the class name stay
        ("conv2d_3", "conv2d"),
        ("dense_7_1", "dense_7"),  # only the last counter
        ("block_", "block_"),
        ("re_lu", "re_lu"),
        ("re_lu_4", "re_lu"),
        ("", ""),
    ],
)
def test_drop_counter(component, expected):
    assert drop_counter(component) == expected


@given(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), st.integers(0, 10_000))
@settings(max_examples=100, deadline=None)
def test_drop_counter_removes_an_appended_counter(base, n):
    if drop_counter(base) == base:
        assert drop_counter(f"{base}_{n}") == base


# --- auto_key -------------------------------------------------------------------------------


def test_auto_key_drops_every_counter():
    assert auto_key("dense_7/kernel") == "dense/kernel"
    assert auto_key("sequential_1/dense_3/kernel") == "sequential/dense/kernel"
    assert auto_key("block_2/dense_7/kernel") == "block/dense/kernel"
    assert auto_key("emb/embeddings") == "emb/embeddings"


def test_auto_key_uses_the_declared_base():
    assert auto_key("dense_7/kernel", DENSE) == "dense/kernel"
    assert auto_key("my_dense_7/kernel", ((0, "my_dense"),)) == "my_dense/kernel"
    assert auto_key("block_2/dense_7/kernel", ((1, "dense"),)) == "block/dense/kernel"


def test_auto_key_meets_checkpoint_side_for_drifted_names():
    # the checkpoint side does not know which components were auto-generated
    assert auto_key("dense_7/kernel", DENSE) == auto_key("dense_3/kernel") == auto_key("dense/kernel")


# --- compatible -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "auto", "source", "expected"),
    [
        ("dense_7/kernel", DENSE, "dense_3/kernel", True),
        ("dense_7/kernel", DENSE, "dense/kernel", True),  # the first instance has no counter
        ("dense/kernel", DENSE, "dense_3/kernel", True),
        ("dense_7/kernel", DENSE, "dense_7/kernel", True),
        ("dense_7/kernel", DENSE, "dense_3/bias", False),  # other components are exact
        ("dense_7/kernel", DENSE, "conv_3/kernel", False),
        ("dense_7/kernel", DENSE, "dense_3_1/kernel", False),
        ("dense_7/kernel", DENSE, "densex/kernel", False),
        ("dense_7/kernel", DENSE, "dense_/kernel", False),
        ("dense_7/kernel", DENSE, "x/dense_3/kernel", False),  # depth must agree
        ("dense_7/kernel", DENSE, "dense_3", False),
        # a component the target does not mark as auto-generated is user-named: exact
        ("block_2/kernel", (), "block_1/kernel", False),
        ("block_2/kernel", (), "block_2/kernel", True),
        ("block_2/dense_7/kernel", ((1, "dense"),), "block_2/dense_1/kernel", True),
        ("block_2/dense_7/kernel", ((1, "dense"),), "block_1/dense_7/kernel", False),
        ("seq_1/dense_7/kernel", ((0, "seq"), (1, "dense")), "seq/dense_2/kernel", True),
        ("seq_1/dense_7/kernel", ((0, "seq"), (1, "dense")), "seq_4/dense/kernel", True),
        ("seq_1/dense_7/kernel", ((0, "seq"), (1, "dense")), "seq_4/conv/kernel", False),
        ("dense_7/kernel", (), "dense_3/kernel", False),
    ],
)
def test_compatible(target, auto, source, expected):
    assert compatible(target, auto, source) is expected


def test_compatible_accepts_any_iterable_of_auto_components():
    assert compatible("dense_7/kernel", iter(DENSE), "dense_2/kernel")
    assert compatible("dense_7/kernel", [(0, "dense")], "dense_2/kernel")


@given(
    st.lists(st.sampled_from(["dense", "conv", "emb", "kernel", "bias", "t0"]), min_size=1, max_size=4),
    st.lists(st.integers(0, 30), min_size=4, max_size=4),
    st.data(),
)
@settings(max_examples=150, deadline=None)
def test_compatible_implies_same_auto_key(bases, counters, data):
    """Where ``compatible`` says yes, both names fall under one index key, so the
    index lookup by ``auto_key`` never hides a compatible source."""
    auto = tuple(
        (i, b) for i, b in enumerate(bases) if data.draw(st.booleans(), label=f"auto[{i}]")
    )
    auto_idx = {i for i, _ in auto}
    target = "/".join(
        f"{b}_{counters[i]}" if i in auto_idx and counters[i] else b for i, b in enumerate(bases)
    )
    source = "/".join(
        f"{b}_{data.draw(st.integers(0, 9), label=f'c{i}')}" if i in auto_idx else b
        for i, b in enumerate(bases)
    )
    assert compatible(target, auto, source)
    assert auto_key(target, auto) == auto_key(source)


# --- strip_prefix ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "prefix", "expected"),
    [
        ("seq/d1/kernel", "seq", "d1/kernel"),
        ("seq/d1/kernel", "seq/d1", "kernel"),
        ("seqx/d1/kernel", "seq", "seqx/d1/kernel"),  # whole components only
        ("d1/kernel", "seq", "d1/kernel"),
        ("seq", "seq", "seq"),
        ("d1/kernel", "", "d1/kernel"),
        ("x/seq/kernel", "seq", "x/seq/kernel"),  # a prefix, not anywhere
    ],
)
def test_strip_prefix(name, prefix, expected):
    assert strip_prefix(name, prefix) == expected


# --- closest --------------------------------------------------------------------------------


POOL = ["dense/kernel", "dense/bias", "emb/embeddings", "tower/t0/kernel", "tower/t1/kernel"]


def test_closest_finds_a_misspelling():
    assert closest("dense/kernal", POOL)[0] == "dense/kernel"
    assert closest("emb/embedding", POOL) == ["emb/embeddings"]


def test_closest_reads_through_regex_syntax():
    found = closest(r"tower/t0/.*", POOL)
    assert found[0] == "tower/t0/kernel"
    assert "tower/t1/kernel" in found
    assert set(closest(r"dense/(kernel|bias)", POOL)) >= {"dense/kernel", "dense/bias"}


def test_closest_limits_and_deduplicates():
    pool = ["dense/kernel", "dense/kernel", "dense/kernal", "dense/kernels", "dense/kern"]
    found = closest("dense/kernel", pool, n=2)
    assert len(found) == 2
    assert found[0] == "dense/kernel"
    assert len(set(closest("dense/kernel", pool))) == len(closest("dense/kernel", pool)) <= 3


def test_closest_nothing_near_or_empty_pool():
    assert closest("qqqqqqqq", POOL) == []
    assert closest("dense/kernel", []) == []


def test_closest_accepts_any_iterable_and_is_order_independent():
    assert closest("dense/kernal", iter(POOL)) == closest("dense/kernal", list(reversed(POOL)))


# --- slot_name ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("_momentums", "momentums"),  # Keras 3 list attribute
        ("m", "momentums"),  # legacy singular
        ("momentum", "momentums"),
        ("v", "velocities"),
        ("_velocities", "velocities"),
        ("vhat", "velocity_hats"),
        ("accumulator", "accumulators"),
        ("unknown_slot", "unknown_slot"),
    ],
)
def test_slot_name_one_vocabulary(raw, expected):
    assert slot_name(raw) == expected


def test_slot_name_is_idempotent():
    for raw in ("m", "_momentums", "v", "vhat", "accumulator", "rms", "mg", "linear", "x"):
        once = slot_name(raw)
        assert slot_name(once) == once
