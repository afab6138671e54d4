"""The TensorFlow-free bundle reader, checked against checkpoints TF itself writes.

TF writes every checkpoint here (``tf.train.Checkpoint.write``, ``tf.raw_ops.SaveV2``) and TF's
own reader is the reference for keys, shapes, dtypes and values. The benchmark at the end
runs only with ``WARMSTART_BENCH=1`` (``pytest tests/test_bundle.py -k bench -s``).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import itertools
import shutil
import subprocess
import sys
import time
from pathlib import Path

import google_crc32c
import numpy as np
import pytest
import tensorflow as tf

from warmstart.errors import CheckpointNotFoundError, CheckpointReadError
from warmstart.sources import bundle
from warmstart.sources.bundle import BundleHeader, Extent, TensorSlice
from warmstart.sources.bundle.slices import _signed_increasing

VALUE = "/.ATTRIBUTES/VARIABLE_VALUE"
SOURCES = Path(bundle.__file__).parent.parent  # src/warmstart/sources


def key(name: str) -> str:
    return name + VALUE


def masked(crc: int) -> int:
    """TF's crc32c mask, written out again here so the test does not trust bundle.mask."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def copy_checkpoint(prefix: str, dst: Path) -> str:
    """Copy a bundle's files into ``dst``; return the new prefix."""
    dst.mkdir(parents=True, exist_ok=True)
    src = Path(prefix)
    for f in src.parent.iterdir():
        if f.name.startswith(src.name + "."):
            shutil.copy(f, dst / f.name)
    return str(dst / src.name)


def flip_byte(path: str, at: int) -> None:
    with open(path, "r+b") as f:
        f.seek(at)
        b = f.read(1)
        f.seek(at)
        f.write(bytes([b[0] ^ 0x10]))


def bits(a) -> np.ndarray:
    """Compare bfloat16 (ml_dtypes from TF, uint16 bits from bundle) by their bytes."""
    a = np.asarray(a)
    return a.view(np.uint16) if a.dtype.itemsize == 2 and a.dtype.kind not in "iuf" else a


# ----------------------------------------------------------------------------- fixtures

RNG = np.random.default_rng(0)
VALUES = {
    "f32_2d": RNG.normal(size=(37, 5)).astype(np.float32),
    "f32_3d": RNG.normal(size=(11, 4, 3)).astype(np.float32),
    "f16": RNG.normal(size=(9, 6)).astype(np.float16),
    "f64": RNG.normal(size=(5, 2)),
    "i64": RNG.integers(-(2**40), 2**40, size=(13,), dtype=np.int64),
    "i32": RNG.integers(-100, 100, size=(4, 4), dtype=np.int32),
    "u8": RNG.integers(0, 255, size=(6, 3), dtype=np.uint8),
    "i8": RNG.integers(-100, 100, size=(3, 3), dtype=np.int8),
    "c64": (RNG.normal(size=(3, 2)) + 1j * RNG.normal(size=(3, 2))).astype(np.complex64),
    "flags": RNG.random((8, 2)) > 0.5,
    "scalar": np.float32(3.5),
    "empty": np.zeros((0, 4), np.float32),
}
BF16 = RNG.normal(size=(7, 4))
WORDS = np.array([b"", b"a", "\u00fcn\u00efcode".encode(), b"x" * 300], dtype=object)
VOCAB = np.array([os.urandom(int(n)).hex().encode() for n in RNG.integers(0, 90, size=3000)], dtype=object)
FIXED = [*VALUES, "bf16"]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> str:
    """A checkpoint with many dtypes, a string vector, a vocabulary and an iterator (variant)."""
    variables = {k: tf.Variable(v) for k, v in VALUES.items()}
    variables["bf16"] = tf.Variable(tf.constant(BF16, tf.bfloat16))
    variables["words"] = tf.Variable(tf.constant(WORDS))
    variables["vocab"] = tf.Variable(tf.constant(VOCAB))
    it = iter(tf.data.Dataset.range(10))
    next(it)
    root = tmp_path_factory.mktemp("mixed")
    return tf.train.Checkpoint(it=it, **variables).write(str(root / "ckpt"))


SHARDS = [RNG.normal(size=(n, 5)).astype(np.float32) for n in (4, 3, 3)]
CUBE_SHARDS = [RNG.normal(size=(n, 2, 2)).astype(np.float32) for n in (3, 2)]


@pytest.fixture(scope="module")
def sharded(tmp_path_factory) -> str:
    """ShardedVariables (3 uneven shards of a (10, 5) table; 2 of a (5, 2, 2) cube)."""
    emb = tf.__internal__.distribute.ShardedVariable([tf.Variable(s) for s in SHARDS])
    cube = tf.__internal__.distribute.ShardedVariable([tf.Variable(s) for s in CUBE_SHARDS])
    root = tmp_path_factory.mktemp("sharded")
    return tf.train.Checkpoint(emb=emb, cube=cube).write(str(root / "ckpt"))


# ----------------------------------------------------------------------------- index vs TF


def test_index_matches_tf_shape_and_dtype_maps(mixed):
    index = bundle.read_index(mixed)
    reader = tf.train.load_checkpoint(mixed)
    shapes, dtypes = reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()
    assert set(index.entries) == set(shapes)
    for k, e in index.entries.items():
        assert e.key == k
        assert list(e.shape) == shapes[k], k
        assert e.dtype.name == dtypes[k].name, k
        assert e.dtype.enum == dtypes[k].as_datatype_enum, k
        if e.dtype.fixed_size:
            assert e.dtype.itemsize == dtypes[k].size, k
            assert e.size == e.num_elements * e.dtype.itemsize, k
    names = {e.dtype.name for e in index.entries.values()}
    assert {"float32", "float16", "bfloat16", "int64", "bool", "string", "variant"} <= names
    assert index.header == BundleHeader(1, "little", 1, 0, ())
    assert index.path == mixed + ".index"


def test_variable_size_dtypes_are_not_row_readable(mixed):
    index = bundle.read_index(mixed)
    for name in ("words", "vocab"):
        e = index.entry(key(name))
        assert e.dtype.name == "string" and e.dtype.itemsize is None and not e.row_readable
        with pytest.raises(ValueError, match="no fixed element size"):
            bundle.read_rows(mixed, index, e, 0, 1)
    it = index.entry("it/.ATTRIBUTES/ITERATOR_STATE")
    assert it.dtype.name == "variant" and not it.row_readable
    assert not index.entry(key("scalar")).row_readable  # a scalar has no rows...
    assert bundle.read_tensor(mixed, index, key("scalar")) == np.float32(3.5)  # ...but reads whole


def test_missing_key_names_close_keys(mixed):
    index = bundle.read_index(mixed)
    with pytest.raises(CheckpointReadError, match=r"no tensor 'f32_2d/\.ATTRIBUTES/VARIABLE_VALUEX'.*f32_2d"):
        index.entry(key("f32_2d") + "X")


# ----------------------------------------------------------------------------- read_rows


@pytest.mark.parametrize("name", FIXED)
def test_every_fixed_size_tensor_reads_back_as_tf_reads_it(mixed, name):
    index = bundle.read_index(mixed)
    expected = tf.train.load_checkpoint(mixed).get_tensor(key(name))
    got = bundle.read_tensor(mixed, index, key(name))
    assert got.shape == expected.shape
    np.testing.assert_array_equal(bits(got), bits(expected))
    if name in VALUES:
        assert got.dtype == np.asarray(VALUES[name]).dtype


def test_bfloat16_comes_back_as_its_bits(mixed):
    index = bundle.read_index(mixed)
    e = index.entry(key("bf16"))
    assert e.dtype.numpy is None and e.dtype.storage == np.uint16
    got = bundle.read_rows(mixed, index, e, 2, 5)
    want = tf.bitcast(tf.constant(BF16, tf.bfloat16), tf.uint16).numpy()[2:5]
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", ["f32_2d", "f32_3d"])
def test_row_ranges_equal_numpy_slices(mixed, name):
    index = bundle.read_index(mixed)
    value = VALUES[name]
    n = len(value)
    for start, stop in [(0, 0), (0, 1), (n - 1, n), (0, n), (3, 3), (n, n), (2, n - 3), (np.int64(1), np.int32(2))]:
        got = bundle.read_rows(mixed, index, key(name), start, stop)
        assert got.shape == value[start:stop].shape
        np.testing.assert_array_equal(got, value[start:stop], err_msg=f"{name} [{start}, {stop})")


def test_read_rows_fills_the_callers_buffer(mixed):
    index = bundle.read_index(mixed)
    out = np.full((5, 4, 3), np.nan, np.float32)
    got = bundle.read_rows(mixed, index, key("f32_3d"), 6, 11, out=out)
    assert got is out
    np.testing.assert_array_equal(out, VALUES["f32_3d"][6:11])
    bf = np.zeros((7, 4), np.int16)  # any 2-byte dtype takes bfloat16 bits
    bundle.read_rows(mixed, index, key("bf16"), 0, 7, out=bf)
    np.testing.assert_array_equal(bf.view(np.uint16), tf.bitcast(tf.constant(BF16, tf.bfloat16), tf.uint16))


@pytest.mark.parametrize(
    "start, stop, out, match",
    [
        (5, 3, None, "not within"),
        (0, 38, None, "not within"),
        (-1, 2, None, "not within"),
        (0, 2, np.zeros((3, 5), np.float32), "shape"),
        (0, 2, np.zeros((2, 5), np.float64), "dtype"),
        (0, 2, np.zeros((5, 2), np.float32).T, "C-contiguous"),
    ],
)
def test_read_rows_rejects_bad_arguments(mixed, start, stop, out, match):
    index = bundle.read_index(mixed)
    with pytest.raises(ValueError, match=match):
        bundle.read_rows(mixed, index, key("f32_2d"), start, stop, out=out)


# ----------------------------------------------------------------------------- crc32c


def test_stored_crc_is_tf_masked_crc32c_of_the_bytes(mixed):
    index = bundle.read_index(mixed)
    e = index.entry(key("f32_2d"))
    with open(index.data_path(e), "rb") as f:
        f.seek(e.offset)
        raw = f.read(e.size)
    assert raw == VALUES["f32_2d"].tobytes()
    assert e.crc32c == masked(google_crc32c.value(raw))
    assert bundle.unmask(e.crc32c) == google_crc32c.value(raw)
    for c in (0, 1, 0xFFFFFFFF, 0x12345678, google_crc32c.value(raw)):
        assert bundle.mask(c) == masked(c) and bundle.unmask(bundle.mask(c)) == c


@pytest.mark.parametrize("chunk", [64 << 20, 64, 7])
def test_verify_passes_on_every_entry_of_a_good_checkpoint(mixed, chunk):
    """Fixed-size, string (lengths as uint32 + length checksum) and variant checksums, with
    chunks small enough to split varints and elements."""
    index = bundle.read_index(mixed)
    for k in index.entries:
        bundle.verify(mixed, index, k, chunk_bytes=chunk)


@pytest.mark.parametrize("name", ["f32_2d", "vocab"])
def test_verify_catches_a_bit_flip_in_the_middle_of_a_tensor(mixed, tmp_path, name):
    prefix = copy_checkpoint(mixed, tmp_path)
    index = bundle.read_index(prefix)
    e = index.entry(key(name))
    path = index.data_path(e)
    flip_byte(path, e.offset + e.size // 2)
    with pytest.raises(CheckpointReadError) as info:
        bundle.verify(prefix, index, key(name), chunk_bytes=1000)
    message = str(info.value)
    assert key(name) in message and path in message and "Fix:" in message
    with pytest.raises(Exception, match="[Cc]hecksum"):  # TF agrees the tensor is damaged
        tf.train.load_checkpoint(prefix).get_tensor(key(name))
    for other in index.entries:
        if other != key(name):
            bundle.verify(prefix, index, other)


def test_truncated_data_file_is_reported(mixed, tmp_path):
    prefix = copy_checkpoint(mixed, tmp_path)
    index = bundle.read_index(prefix)
    e = index.entry(key("f32_2d"))
    path = index.data_path(e)
    os.truncate(path, e.offset + e.size // 2)
    for call in (
        lambda: bundle.verify(prefix, index, key("f32_2d")),
        lambda: bundle.read_rows(prefix, index, key("f32_2d"), 0, 2),
    ):
        with pytest.raises(CheckpointReadError, match="truncated") as info:
            call()
        assert key("f32_2d") in str(info.value) and path in str(info.value)


def test_missing_files_raise_not_found(mixed, tmp_path):
    with pytest.raises(CheckpointNotFoundError) as info:
        bundle.read_index(str(tmp_path / "nothing"))
    assert isinstance(info.value, FileNotFoundError)
    prefix = copy_checkpoint(mixed, tmp_path / "c")
    index = bundle.read_index(prefix)
    os.remove(bundle.data_path(prefix, 0, 1))
    with pytest.raises(CheckpointNotFoundError, match="data-00000-of-00001"):
        bundle.read_rows(prefix, index, key("f32_2d"), 0, 1)
    with pytest.raises(CheckpointNotFoundError):
        bundle.verify(prefix, index, key("f32_2d"))


def test_data_path_is_tf_naming():
    assert bundle.data_path("/x/ckpt-3", 0, 1) == "/x/ckpt-3.data-00000-of-00001"
    assert bundle.data_path(Path("/x/c"), 12, 345) == "/x/c.data-00012-of-00345"
    with pytest.raises(CheckpointReadError):
        bundle.data_path("/x/c", 2, 2)


# ----------------------------------------------------------------------------- slices


def test_sharded_variable_exposes_slices_and_their_entries(sharded):
    index = bundle.read_index(sharded)
    reader = tf.train.load_checkpoint(sharded)
    assert set(index.entries) == set(reader.get_variable_to_shape_map())  # slice keys hidden
    for name, shards in (("emb", SHARDS), ("cube", CUBE_SHARDS)):
        full = np.concatenate(shards)
        e = index.entry(key(name))
        assert e.sliced and e.shape == full.shape and e.row_readable
        starts = np.cumsum([0] + [len(s) for s in shards])
        assert [s.bounds(e.shape) for s in e.slices] == [
            ((int(a), int(b)), *((0, d) for d in full.shape[1:])) for a, b in itertools.pairwise(starts)
        ]
        parts = index.parts(key(name))
        for s, part, shard in zip(e.slices, parts, shards, strict=True):
            assert part.index_key == bundle.slice_key(key(name), s)
            assert bundle.decode_slice_key(part.index_key) == (key(name), s)
            assert part.part == s and part.shape == shard.shape and not part.sliced
            np.testing.assert_array_equal(bundle.read_rows(sharded, index, part, 0, len(shard)), shard)
            bundle.verify(sharded, index, part)
            shape_and_slice = " ".join(map(str, e.shape)) + " " + s.spec
            (tf_part,) = tf.raw_ops.RestoreV2(
                prefix=sharded, tensor_names=[key(name)], shape_and_slices=[shape_and_slice], dtypes=[tf.float32]
            )
            np.testing.assert_array_equal(tf_part.numpy(), shard)
        bundle.verify(sharded, index, key(name))
        np.testing.assert_array_equal(bundle.read_tensor(sharded, index, key(name)), full)


def test_row_ranges_across_stored_slices(sharded):
    index = bundle.read_index(sharded)
    full = np.concatenate(SHARDS)
    for start, stop in [(0, 10), (3, 5), (4, 7), (2, 9), (9, 10), (5, 5), (0, 4), (6, 8)]:
        got = bundle.read_rows(sharded, index, key("emb"), start, stop)
        np.testing.assert_array_equal(got, full[start:stop], err_msg=f"[{start}, {stop})")


def test_a_damaged_slice_is_named(sharded, tmp_path):
    prefix = copy_checkpoint(sharded, tmp_path)
    index = bundle.read_index(prefix)
    second = index.parts(key("emb"))[1]
    flip_byte(index.data_path(second), second.offset + 5)
    with pytest.raises(CheckpointReadError, match=r"emb/\.ATTRIBUTES/VARIABLE_VALUE' \(slice 4,3:0,5\)"):
        bundle.verify(prefix, index, key("emb"))


def test_multi_file_bundle_with_slices_spread_over_files(tmp_path):
    """TF's MaxShardSizePolicy writes several data files and cuts a big table into row
    slices stored in different files; rows read across them equal the table."""
    policy = getattr(tf.train.experimental, "MaxShardSizePolicy", None)
    if policy is None:
        pytest.skip("this TF has no MaxShardSizePolicy")
    table = RNG.normal(size=(1000, 16)).astype(np.float32)
    options = tf.train.CheckpointOptions(experimental_sharding_callback=policy(max_shard_size=20000))
    prefix = tf.train.Checkpoint(t=tf.Variable(table), n=tf.Variable(np.arange(10))).write(
        str(tmp_path / "ckpt"), options=options
    )
    index = bundle.read_index(prefix)
    assert index.header.num_shards > 1
    assert set(index.entries) == set(tf.train.load_checkpoint(prefix).get_variable_to_shape_map())
    parts = index.parts(key("t"))
    assert len({p.shard_id for p in parts}) > 1 and index.entry(key("t")).row_readable
    for start, stop in [(0, 1000), (100, 900), (249, 251), (999, 1000)]:
        np.testing.assert_array_equal(bundle.read_rows(prefix, index, key("t"), start, stop), table[start:stop])
    for k in index.entries:
        bundle.verify(prefix, index, k)


def test_column_slices_are_readable_per_part_only(tmp_path):
    left, right = np.arange(12, dtype=np.float32).reshape(4, 3), -np.arange(12, dtype=np.float32).reshape(4, 3)
    prefix = str(tmp_path / "cols")
    tf.raw_ops.SaveV2(
        prefix=prefix, tensor_names=["t", "t"], shape_and_slices=["4 6 0,4:0,3", "4 6 -:3,3"], tensors=[left, right]
    )
    index = bundle.read_index(prefix)
    e = index.entry("t")
    assert e.shape == (4, 6) and not e.row_readable
    assert [s.spec for s in e.slices] == ["0,4:0,3", "-:3,3"]
    with pytest.raises(ValueError, match="split more than the first axis"):
        bundle.read_rows(prefix, index, "t", 0, 1)
    got = np.concatenate([bundle.read_tensor(prefix, index, p) for p in index.parts("t")], axis=1)
    np.testing.assert_array_equal(got, tf.train.load_checkpoint(prefix).get_tensor("t"))
    bundle.verify(prefix, index, "t")


def test_slice_key_encoding():
    # the worked examples of tensorflow/core/lib/strings/ordered_code.cc
    assert _signed_increasing(0x424242) == bytes.fromhex("f0424242")
    assert _signed_increasing(-0x800) == bytes.fromhex("3800")
    raw = bundle.slice_key("a", TensorSlice((Extent(0, 5), Extent(0, None))))
    assert raw == b"\x00a\x00\x01\x01\x02\x80\x85\x80\x7f"  # as TF wrote it (hexdump of a SaveV2 index)
    assert bundle.slice_key("a\x00b", TensorSlice((Extent(1, 2),))).startswith(b"\x00a\x00\xffb\x00\x01")
    rng = np.random.default_rng(1)
    values = [0, 1, -1, 63, 64, -64, -65, 2**55, -(2**55), 2**62, 2**63 - 1, -(2**63)]
    values += [int(v) for v in rng.integers(-(2**63), 2**63 - 1, size=200, dtype=np.int64)]
    for v in values:
        s = TensorSlice((Extent(v, None), Extent(abs(v) // 2 + 1, abs(v) // 3)))
        assert bundle.decode_slice_key(bundle.slice_key("k\u00e9y/\x00x", s)) == ("k\u00e9y/\x00x", s)
    with pytest.raises(ValueError):
        bundle.decode_slice_key(b"\x00abc")


# ----------------------------------------------------------------------------- a large, multi-block index


def test_multi_block_index_with_unicode_keys(tmp_path):
    names = [os.urandom(60).hex() for _ in range(3000)] + ["\u00e9t\u00e9/\u65e5\u672c", "a b/c"]
    prefix = str(tmp_path / "many")
    tensors = [tf.constant(i, tf.int32) for i in range(len(names))]
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names), tensors=tensors)
    assert os.path.getsize(prefix + ".index") > 262144 + 4096  # over one of TF's 256 KiB blocks
    index = bundle.read_index(prefix)
    reader = tf.train.load_checkpoint(prefix)
    assert set(index.entries) == set(reader.get_variable_to_shape_map()) == set(names)
    for i in (0, 1500, len(names) - 2, len(names) - 1):
        assert bundle.read_tensor(prefix, index, names[i]) == i


def test_binary_keys_survive_and_are_escaped_in_slice_keys(tmp_path):
    """Key bytes that are not UTF-8 come back as surrogates; a 0xff or 0x00 byte in a sliced
    key is escaped in its slice keys exactly as TF escapes it."""
    prefix = str(tmp_path / "binary")
    a, b = np.ones((2, 3), np.float32), np.zeros((1, 3), np.float32)
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=[b"plain\xff", b"s\xff\x00t", b"s\xff\x00t"],
        shape_and_slices=["", "3 3 0,2:-", "3 3 2,1:-"],
        tensors=[tf.constant(7.0), a, b],
    )
    index = bundle.read_index(prefix)
    assert set(index.entries) == {"plain\udcff", "s\udcff\x00t"}
    assert bundle.read_tensor(prefix, index, "plain\udcff") == 7.0
    parts = index.parts("s\udcff\x00t")
    assert parts[0].index_key.startswith(b"\x00s\xff\x00\x00\xfft\x00\x01")
    np.testing.assert_array_equal(bundle.read_tensor(prefix, index, "s\udcff\x00t"), np.concatenate([a, b]))
    bundle.verify(prefix, index, "s\udcff\x00t")


# ----------------------------------------------------------------------------- damaged indexes


def test_garbage_index(tmp_path):
    prefix = str(tmp_path / "junk")
    Path(prefix + ".index").write_bytes(np.random.default_rng(2).bytes(4000))
    with pytest.raises(CheckpointReadError, match="magic number") as info:
        bundle.read_index(prefix)
    assert prefix + ".index" in str(info.value)
    Path(prefix + ".index").write_bytes(b"")
    with pytest.raises(CheckpointReadError, match="0 bytes"):
        bundle.read_index(prefix)


@pytest.mark.parametrize("keep", [0.5, 0.99, -1])
def test_truncated_index(mixed, tmp_path, keep):
    prefix = copy_checkpoint(mixed, tmp_path)
    size = os.path.getsize(prefix + ".index")
    os.truncate(prefix + ".index", size - 1 if keep == -1 else int(size * keep))
    with pytest.raises(CheckpointReadError, match="index"):
        bundle.read_index(prefix)


def test_every_flipped_index_byte_is_caught_or_harmless(mixed, tmp_path):
    """A flip anywhere raises CheckpointReadError, except in the footer's padding, which no
    checksum covers and no reader looks at."""
    good = Path(mixed + ".index").read_bytes()
    expected = bundle.read_index(mixed).entries
    prefix = str(tmp_path / "bad")
    harmless = []
    for at in range(len(good)):
        data = bytearray(good)
        data[at] ^= 0x01
        Path(prefix + ".index").write_bytes(bytes(data))
        try:
            entries = bundle.read_index(prefix).entries
        except CheckpointReadError:
            continue
        assert entries == expected, at
        harmless.append(at)
    footer = len(good) - 48
    assert all(footer <= at < len(good) - 8 for at in harmless), harmless


def test_compressed_index_block_is_refused(mixed, tmp_path):
    data = bytearray(Path(mixed + ".index").read_bytes())
    # the first data block starts at 0; find its end: the type byte whose trailer crc fits
    end = next(
        p
        for p in range(len(data) - 5)
        if data[p] == 0
        and bundle.unmask(int.from_bytes(data[p + 1 : p + 5], "little")) == google_crc32c.value(bytes(data[: p + 1]))
    )
    data[end] = 1  # snappy
    data[end + 1 : end + 5] = masked(google_crc32c.value(bytes(data[: end + 1]))).to_bytes(4, "little")
    prefix = str(tmp_path / "snappy")
    Path(prefix + ".index").write_bytes(bytes(data))
    with pytest.raises(CheckpointReadError, match="snappy-compressed"):
        bundle.read_index(prefix)


# ----------------------------------------------------------------------------- no TensorFlow


@pytest.mark.subprocess
def test_bundle_module_does_not_import_tensorflow(mixed):
    """Load the bundle package with the __init__s above it (which import TF) bypassed."""
    code = f"""
import sys, types
pkg = types.ModuleType("warmstart"); pkg.__path__ = [{str(SOURCES.parent)!r}]
sub = types.ModuleType("warmstart.sources"); sub.__path__ = [{str(SOURCES)!r}]
sys.modules.update({{"warmstart": pkg, "warmstart.sources": sub}})
from warmstart.sources import bundle
index = bundle.read_index({mixed!r})
for k in index.entries:
    bundle.verify({mixed!r}, index, k)
bundle.read_rows({mixed!r}, index, {key("f32_2d")!r}, 0, 3)
assert "tensorflow" not in sys.modules, "tensorflow was imported"
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


# ----------------------------------------------------------------------------- benchmark (prints only)


@pytest.mark.skipif(os.environ.get("WARMSTART_BENCH") != "1", reason="benchmark: set WARMSTART_BENCH=1")
def test_bench_read_rows_vs_get_tensor(tmp_path):
    rows, dim = 800_000, 64  # 204.8 MB of float32
    table = np.random.default_rng(3).random((rows, dim), dtype=np.float32)
    prefix = tf.train.Checkpoint(t=tf.Variable(table)).write(str(tmp_path / "big"))
    del table
    k = key("t")

    def best(fn, repeat=3):
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - t0)
        return min(times), result

    t_index, index = best(lambda: bundle.read_index(prefix))
    t_all, mine = best(lambda: bundle.read_rows(prefix, index, k, 0, rows))
    chunk = 100_000
    out = np.empty((chunk, dim), np.float32)
    t_chunks, _ = best(lambda: [bundle.read_rows(prefix, index, k, a, a + chunk, out=out) for a in range(0, rows, chunk)])
    t_one, _ = best(lambda: bundle.read_rows(prefix, index, k, 400_000, 400_000 + chunk))
    t_verify, _ = best(lambda: bundle.verify(prefix, index, k))
    t_tf_open, reader = best(lambda: tf.train.load_checkpoint(prefix))
    t_tf, theirs = best(lambda: reader.get_tensor(k))
    np.testing.assert_array_equal(mine, theirs)
    print(
        f"\n{rows}x{dim} float32 = {rows * dim * 4 / 1e6:.1f} MB, warm cache, best of 3:\n"
        f"  bundle.read_index                 {t_index * 1e3:8.2f} ms\n"
        f"  bundle.read_rows, whole table     {t_all * 1e3:8.1f} ms\n"
        f"  bundle.read_rows, 8 x 100k rows   {t_chunks * 1e3:8.1f} ms (into one 25.6 MB buffer)\n"
        f"  bundle.read_rows, one 100k chunk  {t_one * 1e3:8.1f} ms\n"
        f"  bundle.verify (64 MiB chunks)     {t_verify * 1e3:8.1f} ms\n"
        f"  tf.train.load_checkpoint          {t_tf_open * 1e3:8.2f} ms\n"
        f"  reader.get_tensor, whole table    {t_tf * 1e3:8.1f} ms (reads and checks crc32c)"
    )
