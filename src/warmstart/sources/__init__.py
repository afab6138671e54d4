"""Checkpoint readers, one module per format. :func:`open_source` picks the reader.

``locate`` and ``bundle`` are TensorFlow-free; the TF2 reader loads TensorFlow on use.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .locate import Location, locate

if TYPE_CHECKING:
    from .tf2 import TF2Checkpoint

__all__ = ["Location", "locate", "open_source"]


def open_source(path: str | os.PathLike[str]) -> TF2Checkpoint:
    """Open the checkpoint at ``path`` (prefix, CheckpointManager directory, SavedModel)."""
    from .tf2 import TF2Checkpoint

    return TF2Checkpoint(locate(path))
