"""The undo log (``apply/undo.py``) and its file (``apply/spill.py``), on real variables."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import warmstart as ws
from warmstart.apply import spill as spill_module
from warmstart.apply.spill import Spill
from warmstart.apply.undo import Journal

RNG = np.random.default_rng(5)


def test_the_spill_file_gives_back_what_it_was_given():
    s = Spill()
    try:
        blobs = [RNG.integers(0, 256, n, dtype=np.uint8) for n in (1, 4095, 4096, 4097, 100_000, 0, 3)]
        records = [s.put(b) for b in blobs]
        floats = RNG.normal(size=(33, 7)).astype(np.float32)
        records.append(s.put(floats[:, :3]))  # not contiguous: copied
        for r, b in zip(records, [*blobs, np.ascontiguousarray(floats[:, :3])], strict=True):
            np.testing.assert_array_equal(s.get(r), b.reshape(-1).view(np.uint8))
        s.flush()
    finally:
        s.close()


def fail_write(monkeypatch, number: int) -> None:
    """Make the ``number``-th write of the undo file fail as a full disk does (and send every
    record to the file: none kept in memory)."""
    monkeypatch.setattr(spill_module, "MEMORY_TIER", 0)
    write = Spill._write
    calls = []

    def failing(self, buffer, size, offset):
        calls.append(offset)
        if len(calls) == number:
            raise OSError(28, "No space left on device")
        write(self, buffer, size, offset)

    monkeypatch.setattr(Spill, "_write", failing)


def test_a_failed_write_keeps_its_bytes_and_surfaces(monkeypatch):
    fail_write(monkeypatch, 2)
    s = Spill()
    try:
        first, second = s.put(np.arange(10, dtype=np.uint8)), s.put(np.arange(20, dtype=np.uint8))
        with pytest.raises(OSError, match="No space"):  # at the latest when every write is awaited
            s.put(np.arange(30, dtype=np.uint8))
            s.flush()
        np.testing.assert_array_equal(s.get(first), np.arange(10))
        np.testing.assert_array_equal(s.get(second), np.arange(20))  # from its buffer
    finally:
        s.close()


def test_a_journal_undoes_every_kind_of_write():
    table = tf.Variable(RNG.normal(size=(50, 4)).astype(np.float32))
    box = tf.Variable(RNG.normal(size=(6, 5)).astype(np.float32))
    whole = tf.Variable(RNG.normal(size=(3,)).astype(np.float32))
    words = tf.Variable(np.array([b"a", b"bb", b"", b"\xc3\xa9" * 30, b"c"], object))
    before = [v.numpy().copy() for v in (table, box, whole, words)]
    j = Journal(keep_limit=0)  # whole values spilled too
    j.rows("table", table, range(10, 20), tf.zeros((10, 4)))
    j.rows("table", table, np.array([3, 40], np.int64), tf.ones((2, 4)))
    j.rows("table", table, np.array([0, 1], np.int64), tf.ones((2, 2)))  # narrower rows
    j.region("box", box, (1, 2), tf.zeros((3, 2)))
    j.assign("whole", whole, tf.zeros(3))
    j.rows("words", words, np.array([1, 3], np.int64), tf.constant([b"x", b"y"]))
    j.rows("table", table, np.array([1, 2], np.int64), tf.zeros((50, 2)), axis=1)  # columns: a whole write
    assert not np.array_equal(table.numpy(), before[0])
    j.rollback()
    for v, b in zip((table, box, whole, words), before, strict=True):
        np.testing.assert_array_equal(v.numpy(), b)


def test_a_failed_spill_write_during_a_warm_start_is_undone(tmp_path, monkeypatch):
    table = RNG.normal(size=(40_000, 16)).astype(np.float32)
    prefix = tf.train.Checkpoint(t=tf.Variable(table)).write(str(tmp_path / "ckpt"))
    target = {"t": tf.Variable(np.zeros((40_000, 16), np.float32))}
    fail_write(monkeypatch, 5)
    with pytest.raises(ws.AbortedError, match="No space left") as info:
        ws.warm_start(target, prefix, memory_budget=1 << 20)
    assert isinstance(info.value.__cause__, OSError)
    assert not target["t"].numpy().any()


def test_the_spill_file_has_no_name(tmp_path, monkeypatch):
    monkeypatch.setattr(spill_module.tempfile, "tempdir", str(tmp_path))
    s = Spill()
    s.put(np.arange(5000, dtype=np.uint8))
    s.flush()
    assert list(tmp_path.iterdir()) == []
    s.close()


def test_small_undos_stay_in_memory_and_larger_ones_go_to_the_file(monkeypatch):
    monkeypatch.setattr(spill_module, "MEMORY_TIER", 100)
    s = Spill()
    try:
        small = s.put(np.arange(60, dtype=np.uint8))
        assert s._fd is None and small.kept is not None  # no file, no thread for a small undo
        spilled = s.put(np.arange(50, dtype=np.uint8))  # 110 > 100: to the file
        assert s._fd is not None and spilled.kept is None
        np.testing.assert_array_equal(s.get(small), np.arange(60))
        np.testing.assert_array_equal(s.get(spilled), np.arange(50))
    finally:
        s.close()
