"""A Keras lookup layer's tokens as :class:`~.tokens.Tokens`, straight from its table's tensors.

``get_vocabulary()`` makes a ``str`` per token and a dict of them (about 20 s for 4.8 million
tokens here). The table (``layer.lookup_table``, a ``tf.lookup.StaticHashTable`` in Keras 3
and tf_keras) exports its keys and values as tensors; the keys go into one byte buffer
(``tf.strings.reduce_join``, in the table's own order, which the join keeps: it reads the
buffer in order) with their lengths; the values, the tokens' row indices, say each token's
position in the vocabulary. The layer's mask and OOV rows are not in the table:
:func:`~.vocab.lookup_layout` places them.

The tokens are the ones ``load_tokens(layer)`` gives; where this cannot promise that (no
exportable table, an encoding other than UTF-8, bytes that are not UTF-8, a token ending in a
NUL, which numpy's strings drop, a row the table lacks, or special rows its layout counts that
the table does not), the tokens come from
``get_vocabulary()`` instead. TensorFlow is imported here only when a lookup layer is read.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import memory
from .token_file import is_utf8
from .tokens import Tokens, padded
from .vocab import load_tokens, lookup_layout

__all__ = ["lookup_tokens"]

_UTF8 = {"utf-8", "utf8", "UTF-8", "UTF8"}
_JOIN_CHUNK = 1 << 18  # tokens joined into bytes per step


def lookup_tokens(layer: Any, *, label: str) -> Tokens:
    """The tokens of a ``StringLookup``/``IntegerLookup`` (their vocabulary positions: rows minus
    the mask and OOV rows); raises ``load_tokens``'s ``VocabError`` s."""
    where = f"the {type(layer).__name__} {getattr(layer, 'name', '')!r}"
    got = _exported(layer)
    if got is None:  # (no tokens: load_tokens raises its error)
        return Tokens.from_sequence(load_tokens(layer, label=label), label=label, where=where)
    buf, starts, rows_of, at = got
    return Tokens(buf, starts, rows_of=rows_of, at=at, label=label, where=where)


def _exported(layer: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """The buffer and bounds of the tokens in the table's order, each one's vocabulary position
    and the inverse; None: read them the slow way."""
    table = getattr(layer, "lookup_table", None)
    if table is None or not hasattr(table, "export") or getattr(layer, "encoding", "utf-8") not in _UTF8:
        return None
    import tensorflow as tf

    try:
        keys, values = table.export()
        size = int(layer.vocabulary_size())
    except (tf.errors.OpError, TypeError, ValueError, AttributeError):
        return None
    if getattr(layer, "invert", False):
        keys, values = values, keys
    index = values.numpy()
    n = int(index.size)
    first = size - n  # the row of the table's first token
    if n == 0 or lookup_layout(layer).leading != first or index.ndim != 1 or not np.issubdtype(index.dtype,
                                                                                                np.integer):
        return None  # nothing; or rows the layout counts otherwise (get_vocabulary decides those)
    if int(index.min()) != first or int(index.max()) != size - 1:
        return None
    positions = np.int32 if n < 2**31 else np.int64
    rows_of = memory.empty(n, positions)  # each exported token's vocabulary position
    np.subtract(index, first, out=rows_of, casting="unsafe")
    del index, values
    at = memory.full(n, -1, positions)
    at[rows_of] = np.arange(n, dtype=positions)
    if (at < 0).any():  # two keys on one row
        return None
    strings = keys.dtype == tf.string
    if strings:
        lens = tf.strings.length(keys).numpy()
        total = int(lens.sum(dtype=np.int64))
        buf = memory.empty(padded(total), np.uint8)
        done = 0
        for lo in range(0, n, _JOIN_CHUNK):  # a block at a time: no second copy of all the bytes
            part = tf.strings.reduce_join(keys[lo : lo + _JOIN_CHUNK]).numpy()
            buf[done : done + len(part)] = np.frombuffer(part, np.uint8)
            done += len(part)
        del keys
    elif keys.dtype.is_integer:
        digits = keys.numpy().astype("S21")  # str(int) as bytes, NUL-padded
        raw = digits.view(np.uint8).reshape(n, -1)
        lens = np.count_nonzero(raw, axis=1)
        data = raw[raw != 0]
        total = data.size
        buf = memory.empty(padded(total), np.uint8)
        buf[:total] = data
        del data, raw, digits
    else:
        return None
    buf[total:] = 0
    starts = memory.empty(n + 1, np.int32 if total < 2**31 - 1024 else np.int64)
    starts[0] = 0
    np.cumsum(lens, out=starts[1:])
    if strings:
        if not is_utf8(buf, total):
            return None
        if np.count_nonzero(buf[:total]) < total and (buf[starts[1:][lens > 0] - 1] == 0).any():
            return None  # a token ends in a NUL
    return buf, starts, rows_of, at
