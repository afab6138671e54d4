"""Remaps: how rows of a table follow their keys from the checkpoint's table into the model's.

``Vocab`` and ``Hashed`` (the rules a user writes), ``RowMap`` and ``Layout`` (old row -> new
row, the data a plan carries), and the joins that turn two vocabularies into a row map:
``row_map`` over token lists in Python (the exact reference), ``join_row_map`` over files,
token lists and lookup layers in numpy. Pure: TensorFlow is imported only to read a lookup
layer's table.
"""

from .build import build_row_maps, vocab_row_map
from .hashed import Hashed
from .rows import Layout, RowMap, place, row_map
from .vocab import Vocab, load_tokens, read_vocab_file
from .vocab_files import file_row_map, join_row_map

__all__ = ["Hashed", "Layout", "RowMap", "Vocab", "build_row_maps", "file_row_map", "join_row_map", "load_tokens",
           "place", "read_vocab_file", "row_map", "vocab_row_map"]
