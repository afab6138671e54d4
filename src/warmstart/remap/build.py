"""Build the row maps that the vocab rules ask for: the one step of planning that reads files.

Kept out of rule compilation so that compiling rules stays free of I/O. Each ``Vocab`` object
is read once, however many rules name it (a table and its optimizer slots share one map).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..rules import VocabRule
from .rows import RowMap, row_map
from .vocab import Vocab, load_tokens
from .vocab_files import file_row_map

__all__ = ["build_row_maps", "vocab_row_map"]


def build_row_maps(rules: Sequence[VocabRule]) -> tuple[RowMap, ...]:
    """One :class:`RowMap` per rule, in rule order (a ``Vocab`` given twice is read once)."""
    maps: dict[int, RowMap] = {}
    for rule in rules:
        if id(rule.vocab) not in maps:
            maps[id(rule.vocab)] = vocab_row_map(rule.vocab, label=f"vocab[{rule.pattern.pattern!r}]")
    return tuple(maps[id(rule.vocab)] for rule in rules)


def vocab_row_map(v: Vocab, *, label: str) -> RowMap:
    """The row map of one ``Vocab``: two files are hashed and joined in numpy (exact, ~10x
    faster and leaner than a ``str`` per token); anything else goes through the token join."""
    if isinstance(v.old, (str, os.PathLike)) and isinstance(v.new, (str, os.PathLike)):
        return file_row_map(v.old, v.new, num_oov_buckets=v.num_oov_buckets,
                            old_num_oov_buckets=v.old_num_oov_buckets, label=label)
    return row_map(
        load_tokens(v.old, label=f"{label} old"), load_tokens(v.new, label=f"{label} new"),
        num_oov_buckets=v.num_oov_buckets, old_num_oov_buckets=v.old_num_oov_buckets,
    )
