"""``read_index`` (SSTable, header and entries) and row reads on a checkpoint TF wrote, with no
TensorFlow here: the index below is the file TF 2.21 wrote for

    tf.raw_ops.SaveV2(prefix, tensor_names=["a", "t", "t"],
                      shape_and_slices=["", "4 2 0,2:-", "4 2 2,2:-"],
                      tensors=[[1.0, 2.0], t[:2], t[2:]])   # t = arange(8, float32).reshape(4, 2)

byte for byte, and its data file is those floats back to back (a, then t's two slices).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from warmstart.errors import CheckpointNotFoundError, CheckpointReadError
from warmstart.sources import bundle
from warmstart.sources.bundle import BundleHeader, Extent, TensorSlice

INDEX = bytes.fromhex(
    """
    00 00 06 08 01 1a 02 08 01 00 0a 15 00 74 00 01
    01 02 80 82 80 7f 08 01 12 08 12 02 08 02 12 02
    08 02 20 08 28 10 35 93 8d eb 32 06 04 15 82 82
    80 7f 08 01 12 08 12 02 08 02 12 02 08 02 20 18
    28 10 35 f8 e7 bb aa 00 01 0f 61 08 01 12 04 12
    02 08 02 28 08 35 59 3c e5 35 00 01 1e 74 08 01
    12 08 12 02 08 04 12 02 08 02 3a 06 0a 02 10 02
    0a 00 3a 08 0a 04 08 02 10 02 0a 00 00 00 00 00
    01 00 00 00 00 27 51 10 86 00 00 00 00 01 00 00
    00 00 c0 f2 a1 b0 00 01 03 75 00 84 01 00 00 00
    00 01 00 00 00 00 f2 ac 3b 09 89 01 08 96 01 0f
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
    00 00 57 fb 80 8b 24 75 47 db
    """
)
A = np.array([1.0, 2.0], np.float32)
T = np.arange(8, dtype=np.float32).reshape(4, 2)
DATA = np.concatenate([A, T.ravel()]).astype("<f4").tobytes()
# layout of INDEX: data block [0, 132) + trailer, metaindex [137, 145) + trailer,
# index block [150, 165) + trailer, footer [170, 218)
FOOTER = len(INDEX) - 48


def write(tmp_path: Path, index: bytes = INDEX, data: bytes | None = DATA) -> str:
    prefix = str(tmp_path / "ckpt")
    Path(prefix + ".index").write_bytes(index)
    if data is not None:
        Path(prefix + ".data-00000-of-00001").write_bytes(data)
    return prefix


def changed(at: int, value: int) -> bytes:
    raw = bytearray(INDEX)
    raw[at] = value
    return bytes(raw)


# ----------------------------------------------------------------------------- a good index


def test_read_index_of_a_tf_checkpoint(tmp_path):
    prefix = write(tmp_path)
    index = bundle.read_index(prefix)
    assert index.prefix == prefix and index.path == prefix + ".index"
    assert index.header == BundleHeader(
        num_shards=1, endianness="little", producer=1, min_consumer=0, bad_consumers=()
    )
    assert set(index.entries) == {"a", "t"}  # the slices' physical entries are not listed

    a = index.entries["a"]
    assert (a.dtype.name, a.shape, a.shard_id, a.offset, a.size) == ("float32", (2,), 0, 0, 8)
    assert a.crc32c == 0x35E53C59 and a.index_key == b"a" and not a.sliced and a.row_readable

    t = index.entries["t"]
    halves = (TensorSlice((Extent(0, 2), Extent(0, None))), TensorSlice((Extent(2, 2), Extent(0, None))))
    assert (t.dtype.name, t.shape, t.slices) == ("float32", (4, 2), halves)
    assert t.sliced and t.row_readable
    parts = index.parts("t")
    assert [(p.part, p.shape, p.offset, p.size, p.crc32c) for p in parts] == [
        (halves[0], (2, 2), 8, 16, 0x32EB8D93),
        (halves[1], (2, 2), 24, 16, 0xAABBE7F8),
    ]
    assert parts[0].index_key == bytes.fromhex("0074000101028082807f")
    assert index.parts("a") == (a,)
    assert index.data_path(a) == prefix + ".data-00000-of-00001"


def test_unknown_key_names_close_ones(tmp_path):
    index = bundle.read_index(write(tmp_path))
    with pytest.raises(CheckpointReadError, match=r"no tensor 'tt'.*Close keys: 't'"):
        index.entry("tt")


def test_rows_and_verify_without_tensorflow(tmp_path):
    prefix = write(tmp_path)
    index = bundle.read_index(prefix)
    np.testing.assert_array_equal(bundle.read_tensor(prefix, index, "a"), A)
    np.testing.assert_array_equal(bundle.read_tensor(prefix, index, "t"), T)
    np.testing.assert_array_equal(bundle.read_rows(prefix, index, "t", 1, 3), T[1:3])  # spans both slices
    for key in index.entries:
        bundle.verify(prefix, index, key)


def test_damaged_data_fails_verify(tmp_path):
    data = bytearray(DATA)
    data[30] ^= 0x10  # inside t's second slice
    prefix = write(tmp_path, data=bytes(data))
    index = bundle.read_index(prefix)
    bundle.verify(prefix, index, "a")
    with pytest.raises(CheckpointReadError, match=r"slice 2,2:-\) fails its crc32c check in '.*\.data-00000"):
        bundle.verify(prefix, index, "t")


def test_missing_data_file(tmp_path):
    prefix = write(tmp_path, data=None)
    index = bundle.read_index(prefix)  # the index alone reads
    with pytest.raises(CheckpointNotFoundError, match=r"data-00000-of-00001"):
        bundle.read_rows(prefix, index, "a", 0, 1)


def test_truncated_data_file(tmp_path):
    prefix = write(tmp_path, data=DATA[:30])
    index = bundle.read_index(prefix)
    bundle.verify(prefix, index, "a")
    truncated = r"needs bytes \[24, 40\) of '.*', but the file has 30 bytes"
    with pytest.raises(CheckpointReadError, match=truncated):
        bundle.read_rows(prefix, index, "t", 0, 4)


# ----------------------------------------------------------------------------- missing and damaged indexes


def test_missing_index(tmp_path):
    prefix = str(tmp_path / "nothing")
    with pytest.raises(CheckpointNotFoundError, match=re.escape(f"no checkpoint index at '{prefix}.index'")):
        bundle.read_index(prefix)
    with pytest.raises(FileNotFoundError):  # it is one, for callers that catch that
        bundle.read_index(tmp_path / "nothing")


def test_index_that_is_a_directory(tmp_path):
    (tmp_path / "dir.index").mkdir()
    with pytest.raises(CheckpointReadError, match=r"cannot read the checkpoint index '.*dir\.index'"):
        bundle.read_index(tmp_path / "dir")


MAGIC = "it does not end in the SSTable magic number"


@pytest.mark.parametrize(
    ("index", "why"),
    [
        pytest.param(b"", "the file has 0 bytes, fewer than the 48-byte footer", id="empty"),
        pytest.param(INDEX[-47:], "the file has 47 bytes, fewer than the 48-byte footer", id="short"),
        pytest.param(b"garbage " * 20, MAGIC, id="garbage"),
        pytest.param(bytes(48), MAGIC, id="zeros"),
        pytest.param(INDEX[:-1], MAGIC, id="truncated-footer"),
        pytest.param(INDEX[:-8] + (0xDB4775248B80FB57 ^ 1).to_bytes(8, "little"), MAGIC, id="bad-magic"),
        pytest.param(
            INDEX[FOOTER:],
            r"the metaindex block \[137, 150\) runs past the end of the file \(48 bytes\): "
            "the file is truncated",
            id="footer-alone",
        ),
        pytest.param(  # the index block's size 15 -> 127
            changed(FOOTER + 5, 0x7F), r"the index block \[150, 282\) runs past the end", id="index-past-end"
        ),
        pytest.param(changed(0x20, 0x09), "the data block at byte 0 fails its crc32c check", id="data-block"),
        pytest.param(  # the crc covers the compression type byte too
            changed(0x84, 0x01), "the data block at byte 0 fails its crc32c check", id="type-byte"
        ),
        pytest.param(
            changed(0x90, 0x01), "the metaindex block at byte 137 fails its crc32c check", id="metaindex"
        ),
    ],
)
def test_bad_index_files(tmp_path, index, why):
    prefix = write(tmp_path, index=index)
    where = re.escape(f"cannot read the checkpoint index '{prefix}.index': ")
    with pytest.raises(CheckpointReadError, match=where + why):
        bundle.read_index(prefix)


def test_every_truncation_is_refused(tmp_path):
    for n in range(len(INDEX)):
        prefix = write(tmp_path, index=INDEX[:n], data=None)
        with pytest.raises(CheckpointReadError, match=re.escape(f"checkpoint index '{prefix}.index'")):
            bundle.read_index(prefix)


def test_every_changed_byte_is_refused_or_harmless(tmp_path):
    """Every block byte is under a crc and the magic is checked; only the footer's zero padding
    may change without notice."""
    good = bundle.read_index(write(tmp_path))
    harmless = []
    for at in range(len(INDEX)):
        prefix = write(tmp_path, index=changed(at, INDEX[at] ^ 0x10), data=None)
        try:
            index = bundle.read_index(prefix)
        except CheckpointReadError as e:
            assert f"'{prefix}.index'" in str(e)
        else:
            assert index == good
            harmless.append(at)
    padding = range(FOOTER + 6, len(INDEX) - 8)  # the two handles take 6 bytes here
    assert harmless == list(padding)
