"""Shared fixtures. Imports no TensorFlow, so that ``tests/pure`` runs where it is not installed;
the TensorFlow helpers live in ``support.py``."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture
def trained(tmp_path):
    """A compiled, trained MLP and a CheckpointManager directory holding model and optimizer."""
    from support import trained_run

    return trained_run(tmp_path)


@pytest.fixture(scope="session")
def day1(tmp_path_factory):
    """A trained day-1 ``rec`` model written by Keras 3 in every format it writes:
    ``weights`` (.weights.h5), ``keras`` (.keras), ``h5`` (legacy .h5), ``export``
    (model.export), ``saved_model`` (tf.saved_model.save), ``tf2`` (tf.train.Checkpoint)."""
    import tensorflow as tf
    from support import fit, rec, values

    d = tmp_path_factory.mktemp("day1")
    model = fit(rec(day=1, seed=1))
    files = {
        "weights": str(d / "day1.weights.h5"),
        "keras": str(d / "day1.keras"),
        "h5": str(d / "day1.h5"),
        "export": str(d / "export"),
        "saved_model": str(d / "saved_model"),
    }
    model.save_weights(files["weights"])
    model.save(files["keras"])
    model.save(files["h5"])
    model.export(files["export"], verbose=False)
    tf.saved_model.save(model, files["saved_model"])
    files["tf2"] = tf.train.Checkpoint(model=model, optimizer=model.optimizer).write(str(d / "tf2" / "ckpt"))
    return model, values(model), files
