"""Checkpoint readers, one module per format, each a :class:`~.base.Source`.

:func:`locate` finds what the user pointed at; :func:`open_source` opens it with the reader of
its format. ``locate`` and ``bundle`` are TensorFlow-free; the readers load TensorFlow on use.

| format (``Location.format``) | reader |
|---|---|
| ``tf2-checkpoint`` | :mod:`.tf2` |
| ``saved-model`` (and ``saved-model-export``) | :mod:`.exported` |
| ``tf1-checkpoint`` | :mod:`.tf1` |
| ``keras-weights``, ``keras-h5`` | :mod:`.keras_weights` or :mod:`.legacy_h5`, by content |
| ``keras-archive`` | :mod:`.keras_archive` |
"""

from __future__ import annotations

import os
from dataclasses import replace

from ..layout import KerasLayout
from .base import RowChecks, Source
from .locate import FORMATS, Location, locate

__all__ = ["FORMATS", "Location", "RowChecks", "Source", "locate", "open_source"]


def open_source(path: str | os.PathLike[str] | Location, *, target: KerasLayout | None = None,
                source_root: str | None = None) -> Source:
    """Open the checkpoint at ``path`` with the reader of its format.

    ``target`` describes the live Keras model (and optimizer) being warm-started: Keras' own
    files name variables by position, and are named from it; other formats ignore it.
    ``source_root`` picks one sub-object of a TF2 checkpoint's object graph as the model.
    """
    located = path if isinstance(path, Location) else locate(path)
    if source_root is not None and located.format not in ("tf2-checkpoint", "saved-model"):
        from ..errors import ArgumentError

        raise ArgumentError(
            f"source_root={source_root!r}: {located.path!r} is a {FORMATS[located.format]}, which has no object "
            f"graph to pick a sub-object from; source_root applies to TF2 checkpoints and SavedModels.")
    if located.format == "keras-archive":
        from .keras_archive import open_keras_archive

        return open_keras_archive(located, target)
    if located.format in ("keras-weights", "keras-h5"):
        return _open_h5_file(located, target)
    if located.format == "tf1-checkpoint":
        from .tf1 import TF1Checkpoint

        return TF1Checkpoint(located)
    if located.format in ("saved-model", "saved-model-export"):
        from .exported import SavedModelSource

        return SavedModelSource(located, target, source_root=source_root)
    from .tf2 import TF2Checkpoint

    return TF2Checkpoint(located, source_root=source_root)


def _open_h5_file(located: Location, target: KerasLayout | None) -> Source:
    """A ``.weights.h5`` or ``.h5``: the layout in the file decides the reader, not the suffix."""
    from .hdf5 import H5Source, guarded, open_h5
    from .keras_weights import v3_entries
    from .legacy_h5 import is_legacy, legacy_entries

    h5 = open_h5(located.path, what=FORMATS[located.format].split(" (")[0])
    what = repr(located.path)
    try:
        if guarded(located.path, lambda: is_legacy(h5)):
            entries, notes = guarded(located.path, lambda: legacy_entries(h5, what=what))
            fmt = "keras-h5"
        else:
            entries, notes = guarded(located.path, lambda: v3_entries(h5, layout=target, what=what))
            fmt = "keras-weights"
    except BaseException:
        h5.close()
        raise
    return H5Source(replace(located, format=fmt), h5, entries, notes=notes)
