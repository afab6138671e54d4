"""One snapshot (issue 14): a checkpoint is read through files opened once, row ranges are
fingerprinted while verifying and checked when read again, and every tensor kind (fixed-size,
bfloat16, string, 2-D slices, variant) reads back as TF reads it."""

from __future__ import annotations

import os
import shutil

import google_crc32c
import numpy as np
import pytest
import tensorflow as tf

import warmstart as ws
from warmstart.errors import CheckpointReadError
from warmstart.sources import bundle, locate
from warmstart.sources.tf2 import TF2Checkpoint

VALUE = "/.ATTRIBUTES/VARIABLE_VALUE"
RNG = np.random.default_rng(3)
TABLE = RNG.normal(size=(1000, 8)).astype(np.float32)
WORDS = np.array([f"w{i}".encode() * int(RNG.integers(0, 9)) for i in range(20_000)], dtype=object)
WORDS[5] = "\u00e9l\u00e8ve".encode() * 40


def key(name: str) -> str:
    return name + VALUE


@pytest.fixture
def ckpt(tmp_path) -> str:
    it = iter(tf.data.Dataset.range(5))
    next(it)
    shards = tf.__internal__.distribute.ShardedVariable([tf.Variable(TABLE[:300]), tf.Variable(TABLE[300:])])
    return tf.train.Checkpoint(
        table=tf.Variable(TABLE), sharded=shards, words=tf.Variable(WORDS), grid=tf.Variable(WORDS[:1000].reshape(500, 2)),
        bf=tf.Variable(tf.constant(TABLE[:10], tf.bfloat16)), flag=tf.Variable(TABLE[:6] > 0), it=it,
    ).write(str(tmp_path / "ckpt"))


def test_reads_go_through_the_files_opened_first(ckpt, tmp_path):
    index = bundle.read_index(ckpt)
    with bundle.BundleFiles(ckpt) as files:
        other = tf.train.Checkpoint(table=tf.Variable(-TABLE)).write(str(tmp_path / "other"))
        data = ckpt + ".data-00000-of-00001"
        os.replace(other + ".data-00000-of-00001", data)  # the path now names another file
        assert data in files.moved()
        got = bundle.read_rows(files, index, key("table"), 0, 1000)
        np.testing.assert_array_equal(got, TABLE)  # still the file that was opened
        os.remove(data)
        bundle.verify(files, index, key("table"))
    assert files.closed


def test_range_fingerprints_are_the_crcs_of_the_rows(ckpt):
    index = bundle.read_index(ckpt)
    for name, full in (("table", TABLE), ("sharded", TABLE)):
        ranges = [(0, 1), (1, 299), (299, 301), (301, 302), (500, 1000)]  # across the stored slices
        crcs = bundle.verify(ckpt, index, key(name), chunk_bytes=1000, ranges=ranges)
        for (a, b), crc in zip(ranges, crcs, strict=True):
            assert crc == google_crc32c.value(full[a:b].tobytes()), (name, a, b)


def test_the_reader_refuses_rows_changed_after_they_were_verified(ckpt):
    with TF2Checkpoint(locate(ckpt)) as src:
        checks = src.verify(key("table"), [(0, 500), (500, 1000)], chunk_bytes=4096)
        e = src.index.entry(key("table"))
        with open(ckpt + ".data-00000-of-00001", "r+b") as f:  # in place, in the second range
            f.seek(e.offset + 700 * 32)
            f.write(b"\x00\x00\x80\x7f")
        rows = src.read_rows(checks)
        np.testing.assert_array_equal(next(rows).numpy(), TABLE[:500])
        with pytest.raises(CheckpointReadError, match=r"rows \[500, 1000\).*changed after they were verified"):
            next(rows)


def test_every_kind_of_tensor_reads_as_tf_reads_it(ckpt):
    reader = tf.train.load_checkpoint(ckpt)
    with TF2Checkpoint(locate(ckpt)) as src:
        names = ["table", "sharded", "words", "grid", "bf", "flag"]
        for name, got in zip(names, src.read([key(n) for n in names]), strict=True):
            want = reader.get_tensor(key(name))
            assert got.dtype == tf.as_dtype(reader.get_variable_to_dtype_map()[key(name)]), name
            np.testing.assert_array_equal(np.asarray(got), np.asarray(want), err_msg=name)
        variant = next(k for k in src.index.entries if "ITERATOR" in k)
        assert src.read([variant])[0].dtype == tf.variant  # by TF, by path, files unchanged


def test_a_variant_is_not_read_by_path_once_the_files_moved(ckpt, tmp_path):
    with TF2Checkpoint(locate(ckpt)) as src:
        variant = next(k for k in src.index.entries if "ITERATOR" in k)
        shutil.copy(ckpt + ".index", tmp_path / "copy.index")
        os.replace(tmp_path / "copy.index", ckpt + ".index")  # same bytes, another file
        with pytest.raises(CheckpointReadError, match="no longer the file opened"):
            src.read([variant])


def test_string_rows_stream_and_are_checked(ckpt):
    with TF2Checkpoint(locate(ckpt)) as src:
        assert src.streamable(key("words")) and src.streamable(key("grid"))
        for name, full in (("words", WORDS), ("grid", WORDS[:1000].reshape(500, 2))):
            ranges = [(0, 3), (3, 4), (4, 200), (210, len(full))]
            checks = src.verify(key(name), ranges, chunk_bytes=4096)
            for (a, b), got in zip(ranges, src.read_rows(checks), strict=True):
                np.testing.assert_array_equal(got.numpy(), full[a:b], err_msg=f"{name} [{a}, {b})")


def test_a_streamed_string_table_loads(ckpt):
    target = {"words": tf.Variable(tf.fill([len(WORDS)], "")), "table": tf.Variable(tf.zeros([1000, 8]))}
    with TF2Checkpoint(locate(ckpt)) as src:
        assert src.nbytes(key("words")) > 1 << 20  # more than a chunk: streamed
    seen = []
    ws.warm_start(target, ckpt, memory_budget=1, progress=lambda d, n: seen.append((d, n)))
    np.testing.assert_array_equal(target["words"].numpy(), WORDS)
    np.testing.assert_array_equal(target["table"].numpy(), TABLE)
    assert seen[-1][0] == seen[-1][1] > 2 * bundle.read_index(ckpt).entry(key("words")).size


def test_a_latest_checkpoint_deleted_before_it_is_opened_gives_way_to_the_new_latest(tmp_path):
    # another job's CheckpointManager (max_to_keep) deletes the latest between finding it and
    # opening it: the warm start finds the latest again
    from warmstart.api import _open_latest

    variable = tf.Variable(np.arange(4, dtype=np.float32))
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(v=variable), str(tmp_path), max_to_keep=1)
    manager.save()
    stale = locate(tmp_path)
    variable.assign(np.full(4, 7, np.float32))
    manager.save()  # ckpt-2; ckpt-1 is deleted
    assert not any(p.name.startswith("ckpt-1.") for p in tmp_path.iterdir())
    with _open_latest(tmp_path, stale) as src:
        assert src.location.path.endswith("ckpt-2")
