"""Build the row maps that the vocab rules ask for: the one step of planning that reads files.

Kept out of rule compilation so that compiling rules stays free of I/O. Each remap object
is read once, however many rules name it (a table and its optimizer slots share one map).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..errors import VocabError
from ..rules import VocabRule
from .hashed import Hashed
from .rows import Layout, RowMap
from .vocab import Vocab, is_lookup, lookup_layout
from .vocab_files import join_row_map

__all__ = ["build_row_maps", "vocab_row_map"]


def build_row_maps(rules: Sequence[VocabRule]) -> tuple[RowMap, ...]:
    """One :class:`RowMap` per rule, in rule order (a remap given twice is built once)."""
    maps: dict[int, RowMap] = {}
    for rule in rules:
        if id(rule.vocab) not in maps:
            v = rule.vocab
            maps[id(v)] = v.row_map() if isinstance(v, Hashed) else vocab_row_map(
                v, label=f"vocab[{rule.pattern.pattern!r}]")
    return tuple(maps[id(rule.vocab)] for rule in rules)


def vocab_row_map(v: Vocab, *, label: str) -> RowMap:
    """The row map of one ``Vocab``: files, token lists and lookup layers are hashed and joined in
    numpy (:func:`~.vocab_files.join_row_map`: exact, several times faster and leaner than a
    ``str`` and a dict entry per token). Messages name a side by its file, or by ``old``/``new``
    when one side is not a file."""
    old_layout, new_layout = _layouts(v, label)
    files = isinstance(v.old, (str, os.PathLike)) and isinstance(v.new, (str, os.PathLike))
    return join_row_map(v.old, v.new, old_label=label if files else f"{label} old",
                        new_label=label if files else f"{label} new", old_layout=old_layout, new_layout=new_layout)


def _layouts(v: Vocab, label: str) -> tuple[Layout, Layout]:
    """Each side's layout: a lookup layer brings its own; a file or token list has the one the
    ``Vocab`` gives, and the old side defaults to a new lookup's layout (the same lookup
    configuration on both days)."""
    old, new = v.layouts()
    if is_lookup(v.new):
        if new != Layout():
            raise VocabError(
                f"{label}: the new side, the {type(v.new).__name__} {getattr(v.new, 'name', '')!r}, brings its own "
                f"layout ({lookup_layout(v.new).describe()}); num_oov_indices, mask_token and num_oov_buckets "
                f"describe a side given as a file or a token list.\n"
                f"  Fix: leave them out, or describe the old side with old_num_oov_indices / old_mask_token."
            )
        new = lookup_layout(v.new)
        old_given = v.old_num_oov_indices is not None or v.old_mask_token is not ... or v.old_num_oov_buckets
        if not is_lookup(v.old) and not old_given:
            old = new
    if is_lookup(v.old):
        old = lookup_layout(v.old)
    return old, new
