"""A vocabulary file as :class:`~.tokens.Tokens`: read once into a zero-padded numpy buffer,
checked to be UTF-8, and its tokens' bounds found with numpy, without a Python object per
token (step 1 of :mod:`.vocab_files`)."""

from __future__ import annotations

import codecs
import os
from typing import Any

import numpy as np

from ..errors import VocabError
from . import memory
from .tokens import Tokens, line_starts, padded

__all__ = ["TokenFile", "is_utf8"]

_SCAN_CHUNK = 1 << 20  # bytes per line-end scanning step
_UTF8_CHUNK = 1 << 16  # bytes per UTF-8 checking step (a multiple of 8; small: no fresh pages)


class TokenFile(Tokens):
    """A vocabulary file's bytes (zero-padded) and its tokens' bounds.

    Token ``i`` is ``buf[starts[i] : starts[i + 1] - term[i]]``: ``term`` is the length of the
    line end after it, an int when the same for all (1: no ``"\\r"``; 2: all ``"\\r\\n"``). A last
    line without a line end counts as if a line end of that length followed it.
    """

    def __init__(self, path: Any, label: str, buf: np.ndarray, size: int) -> None:
        self.size = size
        starts, term = _bounds(buf, size)
        super().__init__(buf, starts, term=term, label=label, where=repr(os.fspath(path)))

    @classmethod
    def read(cls, path: Any, label: str) -> TokenFile:
        name = os.fspath(path)
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                buf = memory.empty(padded(size), np.uint8)
                got = 0
                with buf.data as view:
                    while got < size:
                        k = f.readinto(view[got:size])
                        if not k:
                            break
                        got += k
                rest = f.read()
        except OSError as e:
            raise VocabError(f"cannot read the vocabulary file {name!r}: {e}.") from None
        if got < size or rest:  # the file changed size while read, or has none (a pipe)
            data = buf[:got].tobytes() + rest
            size = len(data)
            buf = memory.empty(padded(size), np.uint8)
            buf[:size] = np.frombuffer(data, np.uint8)
            del data
        buf[size:] = 0
        _check_utf8(buf, size, name)
        file = cls(path, label, buf, size)
        if not file.n:
            raise VocabError(f"{label}: {file.where} is empty.")
        return file


def is_utf8(buf: np.ndarray, size: int) -> bool:
    """Whether ``buf[:size]`` is UTF-8 (``buf``: zero-padded to a multiple of 8 bytes)."""
    high = np.uint64(0x8080_8080_8080_8080)
    words = buf.view(np.uint64)
    if not np.bitwise_or.reduce(words) & high:
        return True  # ASCII (the zero padding too)
    decoder = codecs.getincrementaldecoder("utf-8")()
    step = _UTF8_CHUNK
    with buf.data as view:
        try:
            for i in range(0, size, step):
                ascii_part = not np.bitwise_or.reduce(words[i // 8 : (i + step) // 8]) & high
                if not (ascii_part and decoder.getstate()[0] == b""):
                    decoder.decode(view[i : min(i + step, size)])
            decoder.decode(b"", True)
        except UnicodeDecodeError:
            return False
    return True


def _check_utf8(buf: np.ndarray, size: int, name: str) -> None:
    if is_utf8(buf, size):
        return
    try:  # once more in one piece, for read_vocab_file's message (the position in the file)
        buf[:size].tobytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise VocabError(f"cannot read the vocabulary file {name!r}: {e}.") from None
    raise VocabError(f"cannot read the vocabulary file {name!r}: not UTF-8.")  # not reached


def _bounds(data: np.ndarray, size: int) -> tuple[np.ndarray, int | np.ndarray]:
    """``starts`` (n + 1) and ``term`` (an int, or n of them) of the tokens."""
    terminated = size == 0 or data[size - 1] == 10
    starts = line_starts(data, size, step=_SCAN_CHUNK, extra=0 if terminated else 1)
    dtype = starts.dtype.type
    n = starts.size - 1
    n_ends = n if terminated else n - 1
    n_cr = sum(int(np.count_nonzero(data[c : min(c + _SCAN_CHUNK, size)] == 13))
               for c in range(0, size, _SCAN_CHUNK))
    if not terminated:
        starts[n] = size + 1
    if not n_cr:  # the usual file: every line ends in "\n"
        return starts, 1
    before = starts[1 : n_ends + 1] - 2  # the byte before each "\n"
    crlf = data[np.maximum(before, 0)] == 13
    crlf &= np.greater_equal(before, 0)
    if np.count_nonzero(crlf) < n_cr:  # a "\r" alone ends a line too
        return _bounds_cr(data, size, dtype)
    if crlf.all():  # every line ends in "\r\n"
        if not terminated:
            starts[n] = size + 2
        return starts, 2
    term = np.ones(n, np.uint8)
    term[:n_ends] += crlf
    return starts, term


def _bounds_cr(data: np.ndarray, size: int, dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """``_bounds`` for a file with a ``"\\r"``: lines end at ``"\\r\\n"``, ``"\\r"`` or ``"\\n"``."""
    pos_parts, len_parts = [], []
    for c in range(0, size, _SCAN_CHUNK):
        e = min(c + _SCAN_CHUNK, size)
        seg = data[c : e + 1]  # and the byte after: the padding is zeros past the end
        nl, cr = seg[:-1] == 10, seg[:-1] == 13
        after_cr = np.empty_like(cr)
        after_cr[0] = c > 0 and data[c - 1] == 13
        after_cr[1:] = cr[:-1]
        p = np.flatnonzero(cr | (nl & ~after_cr))  # where a line end starts
        ln = (1 + (cr[p] & (seg[p + 1] == 10))).astype(np.uint8)  # "\r\n": 2
        pos_parts.append((p + c + ln).astype(dtype))  # the next token's start
        len_parts.append(ln)
    n_ends = sum(p.size for p in pos_parts)
    last = next((p for p in reversed(pos_parts) if p.size), None)
    terminated = size == 0 or (last is not None and int(last[-1]) == size)
    n = n_ends if terminated else n_ends + 1
    starts = np.empty(n + 1, dtype)
    starts[0] = 0
    term = np.ones(n, np.uint8)
    if n_ends:
        np.concatenate(pos_parts, out=starts[1 : n_ends + 1])
        np.concatenate(len_parts, out=term[:n_ends])
    if not terminated:
        starts[n] = size + 1
    return starts, term
