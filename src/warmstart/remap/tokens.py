"""Tokens as bytes: one zero-padded numpy buffer and each token's bounds, whatever the tokens
came from (a vocabulary file, a token list, a lookup layer's table), so that one join
(:mod:`.vocab_files`) hashes and compares them without a Python object per token.

A token list is encoded a block of tokens at a time (``"\\n".join`` and ``str.encode`` run in C),
its bounds found at the ``"\\n"`` bytes; a token that holds a ``"\\n"`` itself sends the list
through a slower encoding, one token at a time. Tokens are encoded as UTF-8 with
``surrogatepass``, which maps every ``str`` to its own bytes (lone surrogates included, as
:func:`~.vocab.load_tokens` keeps them), so equal bytes are equal tokens and the reverse.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import VocabError
from . import memory
from .vocab import _token

__all__ = ["Tokens", "line_starts", "padded"]

_SEQ_CHUNK = 1 << 16  # tokens per encoding step
_INT32_LIMIT = 2**31 - 1024  # buffers beyond this get int64 bounds


class Tokens:
    """A vocabulary's tokens as bytes, for the join and its messages.

    Tokens sit in the buffer one after the other: token ``i`` is
    ``buf[starts[i] : starts[i + 1] - term]``, ``term`` the length of what follows each (an int
    when the same for all). The join works in this buffer order. Where it is not the
    vocabulary's own order (a lookup's table exports its tokens in hash order), ``rows_of[i]``
    is token ``i``'s position in the vocabulary: the join's answer, its messages and
    :meth:`text` speak of those positions. At least 25 zero bytes follow the last byte, so 16
    bytes can be read from any token's start and 8 from any word inside it.
    """

    def __init__(self, buf: np.ndarray, starts: np.ndarray, *, label: str, where: str,
                 term: int | np.ndarray = 0, rows_of: np.ndarray | None = None, at: np.ndarray | None = None,
                 text: Callable[[int], str] | None = None) -> None:
        self.label, self.where = label, where
        self.buf, self.view = buf, buf.data
        # 8 and 16 bytes from any offset (the padding covers the last token's)
        self.u8 = np.ndarray((buf.size - 7,), "<u8", buffer=buf, strides=(1,))
        self.s16 = np.ndarray((buf.size - 15,), "S16", buffer=buf, strides=(1,))  # a fast gather
        self.starts, self.term, self.rows_of = starts, term, rows_of
        self.n = starts.size - 1
        self._text = text
        self._at = at  # the inverse of rows_of, made when first needed unless given

    @classmethod
    def from_sequence(cls, tokens: Sequence[Any] | np.ndarray, *, label: str,
                      where: str = "the token sequence") -> Tokens:
        """The tokens of a sequence, as :func:`~.vocab.load_tokens` reads them (``bytes`` decoded,
        numbers as ``str``). Raises the empty vocabulary's ``VocabError``."""
        items: Sequence[Any] = tokens.tolist() if isinstance(tokens, np.ndarray) else tokens
        if not len(items):
            raise VocabError(f"{label}: {where} is empty.")
        try:
            got = _encode_lines(items)
        except TypeError:  # not all str: load_tokens's conversion, once
            items = [_token(t) for t in items]
            got = _encode_lines(items)
        if got is None:  # a token holds a "\n"
            (buf, starts), term = _encode_each(items), 0
        else:
            (buf, starts), term = got, 1
        seq = items
        return cls(buf, starts, term=term, label=label, where=where, text=lambda i: _token(seq[i]))

    def where_is(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Starts and byte lengths of the tokens ``idx``."""
        starts = self.starts[idx]
        lens = self.starts[idx + 1] - starts
        lens -= self.term if isinstance(self.term, int) else self.term[idx]
        return starts, lens

    def lens_range(self, lo: int, hi: int) -> np.ndarray:
        """Byte lengths of the tokens ``lo..hi-1``."""
        lens = self.starts[lo + 1 : hi + 1] - self.starts[lo:hi]
        lens -= self.term if isinstance(self.term, int) else self.term[lo:hi]
        return lens

    def first16(self, starts: np.ndarray) -> np.ndarray:
        """The 16 bytes from each of ``starts`` as two little-endian words, shape (n, 2)."""
        return self.s16[starts].view("<u8").reshape(-1, 2)

    def token(self, i: int) -> bytes:
        start = int(self.starts[i])
        end = int(self.starts[i + 1]) - (self.term if isinstance(self.term, int) else int(self.term[i]))
        return bytes(self.view[start:end])

    def row(self, i: int) -> int:
        """The vocabulary position of token ``i``."""
        return i if self.rows_of is None else int(self.rows_of[i])

    def at_rows(self, rows: np.ndarray) -> np.ndarray:
        """The tokens (buffer positions) at vocabulary positions ``rows``."""
        if self.rows_of is None:
            return rows
        if self._at is None:
            self._at = memory.empty(self.n, self.rows_of.dtype)
            self._at[self.rows_of] = np.arange(self.n, dtype=self.rows_of.dtype)
        return self._at[rows]

    def text(self, row: int) -> str:
        """The token at vocabulary position ``row``, as :func:`~.vocab.load_tokens` gives it."""
        if self._text is not None:
            return self._text(row)
        return self.token(int(self.at_rows(np.array([row]))[0])).decode("utf-8")

    def first_tokens(self, k: int) -> tuple[str, ...]:
        return tuple(self.text(i) for i in range(min(k, self.n)))

    def repeat_error(self, first: int, repeat: int) -> VocabError:
        """``first`` and ``repeat``: vocabulary positions."""
        return VocabError(  # load_tokens's words
            f"{self.label}: {self.where} has the token {self.text(first)!r} twice (positions {first} and "
            f"{repeat}); a row cannot follow a token that is not unique.\n  Fix: deduplicate the vocabulary."
        )


def padded(size: int) -> int:
    """A buffer length: a multiple of 8, at least 25 zero bytes after ``size``."""
    return (size // 8 + 5) * 8


def line_starts(data: np.ndarray, size: int, *, step: int, extra: int = 0) -> np.ndarray:
    """0, then the position after each ``"\\n"`` in ``data[:size]``, then ``extra`` unset slots;
    int32 unless ``size`` needs int64."""
    dtype = np.int32 if size < _INT32_LIMIT else np.int64
    steps = range(0, size, step)
    counts = [int(np.count_nonzero(data[c : min(c + step, size)] == 10)) for c in steps]
    starts = memory.empty(1 + sum(counts) + extra, dtype)
    starts[0] = 0
    k = 1
    for c, count in zip(steps, counts):
        if count:
            seg = data[c : min(c + step, size)]
            np.add(np.flatnonzero(seg == 10), c + 1, out=starts[k : k + count], casting="unsafe")
            k += count
    return starts


def _encode_lines(items: Sequence[Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """Buffer and ``starts`` (n + 1) of ``str`` tokens each followed by ``"\\n"``; None if a token
    holds a ``"\\n"``. Raises ``TypeError`` at the first block with a token that is not a ``str``."""
    n = len(items)
    starts = memory.empty(n + 1, np.int32)
    starts[0] = 0
    buf = np.empty(0, np.uint8)
    size = 0
    for lo in range(0, n, _SEQ_CHUNK):
        part = items[lo : lo + _SEQ_CHUNK]
        data = np.frombuffer("\n".join(part).encode("utf-8", "surrogatepass"), np.uint8)
        ends = np.flatnonzero(data == 10)
        if ends.size != len(part) - 1:
            return None
        need = size + data.size + 1
        if need >= _INT32_LIMIT and starts.dtype == np.int32:
            starts = starts.astype(np.int64)
        if padded(need) > buf.size:  # grow: first to the size this block's tokens predict for all
            guess = int(need / (lo + len(part)) * n * 1.02)
            grown = memory.empty(padded(max(need, guess, int(buf.size * 1.5))), np.uint8)
            grown[:size] = buf[:size]
            buf = grown
        buf[size : size + data.size] = data
        buf[size + data.size] = 10
        ends += size + 1
        starts[lo + 1 : lo + len(part)] = ends
        size = need
        starts[lo + len(part)] = size
    buf[size:] = 0
    return buf, starts


def _encode_each(items: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Buffer and ``starts`` (n + 1) of tokens back to back, converted and encoded one by one."""
    encoded = [_token(t).encode("utf-8", "surrogatepass") for t in items]
    lens = np.fromiter(map(len, encoded), np.int64, count=len(encoded))
    size = int(lens.sum())
    starts = np.empty(len(encoded) + 1, np.int32 if size < _INT32_LIMIT else np.int64)
    starts[0] = 0
    np.cumsum(lens, out=starts[1:])
    buf = np.zeros(padded(size), np.uint8)
    buf[:size] = np.frombuffer(b"".join(encoded), np.uint8)
    return buf, starts
