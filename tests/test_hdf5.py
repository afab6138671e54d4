"""The HDF5 reader itself: verified row reads, and every way a Keras file can be bad."""

from __future__ import annotations

import os
import shutil
import sys
import zipfile

import h5py
import keras
import numpy as np
import pytest
from support import assert_untouched, day2_rules, rec, snapshot

import warmstart as ws
from warmstart.sources import RowChecks, open_source


def _table(tmp_path, rows=3000, dim=16):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((1,), dtype="int32"), keras.layers.Embedding(rows, dim, name="emb")],
                             name="t")
    path = str(tmp_path / "t.weights.h5")
    model.save_weights(path)
    return path, model.get_layer("emb").embeddings.numpy()


def test_verify_fingerprints_ranges_and_read_rows_yields_them(tmp_path):
    path, table = _table(tmp_path)
    with open_source(path) as src:
        key = next(e.key for e in src.entries if e.name == "emb/0")
        assert src.streamable(key)
        ranges = [(0, 7), (100, 1000), (2990, 3000)]
        checks = src.verify(key, ranges, chunk_bytes=4096)  # many chunks, each range spanning several
        assert isinstance(checks, RowChecks) and checks.ranges == tuple(ranges) and len(checks.crcs) == 3
        for (a, b), rows in zip(ranges, src.read_rows(checks), strict=True):
            np.testing.assert_array_equal(rows.numpy(), table[a:b])


def test_bytes_changed_between_the_two_passes_are_caught(tmp_path):
    path, _ = _table(tmp_path)
    with h5py.File(path) as f:
        ds = f["layers/embedding/vars/0"]
        offset, row_bytes = ds.id.get_offset(), ds.dtype.itemsize * ds.shape[1]
    with open_source(path) as src:
        checks = src.verify("layers/embedding/vars/0", [(0, 1000), (2000, 3000)], chunk_bytes=64 * 1024)
        fd = os.open(path, os.O_WRONLY)
        try:
            os.pwrite(fd, b"\x7f" * 8, offset + 2500 * row_bytes)  # another process rewrites row 2500
        finally:
            os.close(fd)
        rows = src.read_rows(checks)
        next(rows)  # the first range is as verified
        with pytest.raises(ws.CheckpointReadError, match=r"rows \[2000, 3000\).*changed after they were verified"):
            next(rows)


def test_a_closed_source_refuses_to_read(tmp_path):
    path, _ = _table(tmp_path)
    src = open_source(path)
    src.close()
    with pytest.raises(ws.CheckpointReadError, match="closed"):
        src.read(["layers/embedding/vars/0"])


def _refused(path, match):
    day2 = rec(day=2, seed=9)
    before = snapshot(day2)
    with pytest.raises(ws.CheckpointReadError, match=match) as info:
        ws.warm_start(day2, path, **day2_rules())
    assert_untouched(before, day2)
    return str(info.value)


@pytest.mark.parametrize("keep", [0.5, 0.98])
def test_a_truncated_weights_file_is_a_read_error_naming_it(day1, tmp_path, keep):
    _, _, files = day1
    bad = str(tmp_path / "cut.weights.h5")
    shutil.copy(files["weights"], bad)
    os.truncate(bad, int(os.path.getsize(bad) * keep))
    assert bad in _refused(bad, "truncated")


def test_a_truncated_legacy_h5_is_a_read_error_naming_it(day1, tmp_path):
    _, _, files = day1
    bad = str(tmp_path / "cut.h5")
    shutil.copy(files["h5"], bad)
    os.truncate(bad, os.path.getsize(bad) - 1000)
    assert bad in _refused(bad, "truncated")


def test_files_that_are_not_what_their_suffix_says(day1, tmp_path):
    _, _, files = day1
    text = tmp_path / "notes.weights.h5"
    text.write_text("not weights\n")
    assert str(text) in _refused(str(text), "not an HDF5 file")
    zipped = str(tmp_path / "model.h5")
    shutil.copy(files["keras"], zipped)
    _refused(zipped, r"it is a zip, not an HDF5 file \(a .keras archive\? then name it .keras\)")
    hdf5 = str(tmp_path / "weights.keras")
    shutil.copy(files["weights"], hdf5)
    _refused(hdf5, "is an HDF5 file, not a .keras archive")
    other = str(tmp_path / "other.h5")
    with h5py.File(other, "w") as f:
        f["x"] = np.zeros(3)
    _refused(other, "not Keras weights")


def test_a_keras_archive_without_weights_is_a_read_error_naming_it(day1, tmp_path):
    _, _, files = day1
    bad = str(tmp_path / "no-weights.keras")
    with zipfile.ZipFile(files["keras"]) as src, zipfile.ZipFile(bad, "w") as dst:
        for name in ("metadata.json", "config.json"):
            dst.writestr(name, src.read(name))
    message = _refused(bad, "has no 'model.weights.h5'")
    assert bad in message and "config.json" in message


def test_a_truncated_keras_archive_is_a_read_error_naming_it(day1, tmp_path):
    _, _, files = day1
    bad = str(tmp_path / "cut.keras")
    shutil.copy(files["keras"], bad)
    os.truncate(bad, os.path.getsize(bad) // 2)
    assert bad in _refused(bad, "truncated, damaged or not a zip")


def test_without_h5py_the_error_says_how_to_install_it(day1, monkeypatch):
    _, _, files = day1
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ws.CheckpointReadError, match=r"(?s)needs h5py.*pip install 'warmstart\[keras-files\]'"):
        ws.inspect_checkpoint(files["weights"])
