"""Keras 3 ``.keras`` archives (``model.save``): a zip of ``metadata.json``, ``config.json`` and
``model.weights.h5``.

The weights are read in place from the zip (Keras stores the member uncompressed) with the
``.weights.h5`` reader (:mod:`.keras_weights`). ``config.json`` gives what the weights file
alone does not: each layer's class and whether it was trainable, and the order of the layers,
which is what attributes the optimizer's slots (``optimizer/vars/<i>``) to their variables.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from typing import Any

from ..layout import KerasLayout
from .hdf5 import H5Source, guarded, not_a_zip, open_h5, open_zip_member
from .keras_weights import ConfigLayer, v3_entries
from .locate import Location

__all__ = ["config_layers", "open_keras_archive"]

WEIGHTS = "model.weights.h5"
CONFIG = "config.json"


def open_keras_archive(location: Location, layout: KerasLayout | None) -> H5Source:
    path = location.path
    config = _config(path)
    fileobj, closers = open_zip_member(path, WEIGHTS)
    try:
        h5 = open_h5(path, fileobj, what=f"{WEIGHTS} inside the archive")
        closers.insert(0, fileobj)
        try:
            entries, notes = guarded(path, lambda: v3_entries(h5, layout=layout, config=config,
                                                              what=f"{path!r} ({WEIGHTS})"))
        except BaseException:
            h5.close()
            raise
    except BaseException:
        for c in closers:
            c.close()
        raise
    return H5Source(location, h5, entries, closers=closers, notes=notes)


def _config(path: str) -> dict[tuple[str, ...], ConfigLayer] | None:
    """The layer tree of ``config.json``; None when the archive has none that parses (the
    weights can still be read, without the order it gives)."""
    try:
        with zipfile.ZipFile(path) as zf:
            raw = zf.read(CONFIG) if CONFIG in zf.namelist() else None
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        raise not_a_zip(path, e) from None
    if raw is None:
        return None
    try:
        return config_layers(json.loads(raw))
    except (ValueError, TypeError, AttributeError):
        return None


def config_layers(config: Mapping[str, Any]) -> dict[tuple[str, ...], ConfigLayer]:
    """``{layer path: ConfigLayer}`` from a Keras model config (the model itself at ``()``)."""
    out: dict[tuple[str, ...], ConfigLayer] = {}

    def visit(entry: Mapping[str, Any], path: tuple[str, ...]) -> None:
        inner = entry.get("config") or {}
        layers = inner.get("layers") if isinstance(inner, Mapping) else None
        children = []
        for item in layers or ():
            if not isinstance(item, Mapping):
                continue
            name = (item.get("config") or {}).get("name") or item.get("name")
            if isinstance(name, str):
                children.append(name)
                visit(item, (*path, name))
        out[path] = ConfigLayer(str(entry.get("class_name", "")), bool(inner.get("trainable", True)), tuple(children))

    visit(config, ())
    return out
