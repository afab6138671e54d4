"""Checkpoint readers, one module per format. :func:`open_source` picks the reader."""

from __future__ import annotations

import os

from .locate import Located, locate
from .tf2 import TF2Checkpoint

__all__ = ["Located", "TF2Checkpoint", "locate", "open_source"]


def open_source(path: str | os.PathLike[str]) -> TF2Checkpoint:
    """Open the checkpoint at ``path`` (prefix, CheckpointManager directory, SavedModel)."""
    return TF2Checkpoint(locate(path))
