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
