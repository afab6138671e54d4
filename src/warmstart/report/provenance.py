"""What a report needs to say where its values came from: the resolved checkpoint and the
rules, as JSON-ready data. Pure Python."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..remap.hashed import Hashed
from ..rules import Rules
from ..sources.locate import Location

__all__ = ["location_dict", "rules_dict"]


def location_dict(location: Location) -> dict[str, Any]:
    """``{"path", "format", "files"}``: what the warm start read."""
    return {"path": location.path, "format": location.format, "files": list(location.files)}


def rules_dict(rules: Rules, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The compiled rules, as the patterns the user gave (and the call's other options)."""
    return {
        "include": None if rules.include is None else [p.pattern for p in rules.include],
        "exclude": [p.pattern for p in rules.exclude],
        "rename": [[p.pattern, template] for p, template in rules.rename],
        "on_mismatch": {"default": str(rules.default_mismatch),
                        "rules": [[p.pattern, str(policy)] for p, policy in rules.on_mismatch]},
        "expect_missing": [p.pattern for p in rules.expect_missing],
        "vocab": [_vocab(r.pattern.pattern, r.vocab) for r in rules.vocab],
        **dict(options or {}),
    }


def _vocab(pattern: str, vocab: Any) -> dict[str, Any]:
    if isinstance(vocab, Hashed):
        return {"pattern": pattern, "hashed": True, "old_bins": vocab.old_bins, "new_bins": vocab.new_bins,
                "axis": vocab.axis}
    return {
        "pattern": pattern,
        "old": _tokens(vocab.old),
        "new": _tokens(vocab.new),
        "num_oov_buckets": vocab.num_oov_buckets,
        "old_num_oov_buckets": vocab.old_num_oov_buckets,
        "num_oov_indices": vocab.num_oov_indices,
        "mask_token": vocab.mask_token,
        "old_num_oov_indices": vocab.old_num_oov_indices,
        "old_mask_token": "same" if vocab.old_mask_token is ... else vocab.old_mask_token,
        "axis": vocab.axis,
        "initializer": None if vocab.initializer is None else getattr(vocab.initializer, "__name__",
                                                                       str(vocab.initializer)),
    }


def _tokens(source: Any) -> str:
    """A vocabulary as provenance: its file, or what kind of sequence and how long."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    name = getattr(source, "name", None)
    if name is not None and not isinstance(source, (list, tuple)):
        return f"<{type(source).__name__} {name!r}>"
    try:
        return f"<{len(source)} tokens>"
    except TypeError:
        return f"<{type(source).__name__}>"
