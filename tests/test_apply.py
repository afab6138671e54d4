"""The writer, on real variables, with an in-memory source (no checkpoint file needed)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from warmstart.apply import execute
from warmstart.plan import Action, Step, Strategy


class MemorySource:
    """A source whose tensors live in memory: enough for the held (in-budget) path."""

    def __init__(self, tensors):
        self.tensors = tensors

    def read(self, keys, labels=None):
        return [tf.constant(self.tensors[k]) for k in keys]

    def nbytes(self, key):
        return np.asarray(self.tensors[key]).nbytes

    def streamable(self, key):
        return False


def overlap(target_shape, source_shape, dtype="float32"):
    return Step(target="t", source="s", key="s", action=Action.OVERLAP, shape=tuple(target_shape),
                source_shape=tuple(source_shape), dtype=dtype, source_dtype=dtype, strategy=Strategy.NAME)


shapes = st.lists(st.integers(1, 5), min_size=1, max_size=3)


@settings(max_examples=40, deadline=None)
@given(shapes, st.data())
def test_overlap_of_grown_then_shrunk_is_the_identity(shape, data):
    grown = [d + data.draw(st.integers(0, 3)) for d in shape]
    original = np.arange(np.prod(shape), dtype="float32").reshape(shape)
    big = tf.Variable(np.full(grown, -1.0, "float32"))
    execute([overlap(grown, shape)], MemorySource({"s": original}), {"t": big})
    got = big.numpy()
    np.testing.assert_array_equal(got[tuple(slice(0, d) for d in shape)], original)
    outside = np.ones(grown, bool)
    outside[tuple(slice(0, d) for d in shape)] = False
    assert (got[outside] == -1).all()
    back = tf.Variable(np.zeros(shape, "float32"))
    execute([overlap(shape, grown)], MemorySource({"s": got}), {"t": back})
    np.testing.assert_array_equal(back.numpy(), original)


def test_one_read_serves_several_targets_and_progress_counts_bytes():
    source = MemorySource({"s": np.arange(6, dtype="float32")})
    a, b = tf.Variable(np.zeros(6, "float32")), tf.Variable(np.zeros(6, "float16"))
    steps = [
        Step(target="a", source="s", key="s", action=Action.COPY, shape=(6,), source_shape=(6,), dtype="float32",
             source_dtype="float32", strategy=Strategy.NAME),
        Step(target="b", source="s", key="s", action=Action.CAST, shape=(6,), source_shape=(6,), dtype="float16",
             source_dtype="float32", strategy=Strategy.RENAME),
    ]
    seen = []
    execute(steps, source, {"a": a, "b": b}, progress=lambda done, total: seen.append((done, total)))
    np.testing.assert_array_equal(a.numpy(), np.arange(6))
    assert b.dtype == tf.float16 and b.numpy().tolist() == list(range(6))
    assert seen[-1] == (48, 48)
