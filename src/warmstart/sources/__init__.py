"""Checkpoint readers, one module per format, each a :class:`~.base.Source`.

:func:`locate` finds what the user pointed at; :func:`open_source` opens it with the reader of
its format. ``locate`` and ``bundle`` are TensorFlow-free; the readers load TensorFlow on use.
"""

from __future__ import annotations

import os

from .base import Source
from .locate import Location, locate

__all__ = ["Location", "Source", "locate", "open_source"]


def open_source(path: str | os.PathLike[str] | Location, *, source_root: str | None = None) -> Source:
    """Open the checkpoint at ``path`` (prefix, CheckpointManager directory, SavedModel);
    ``source_root`` picks one sub-object of it as the model."""
    from .tf2 import TF2Checkpoint

    return TF2Checkpoint(path if isinstance(path, Location) else locate(path), source_root=source_root)
