"""A vocabulary file as bytes: read once into a zero-padded numpy buffer, checked to be UTF-8,
and its tokens' bounds found with numpy, without a Python object per token (step 1 of
:mod:`.vocab_files`)."""

from __future__ import annotations

import codecs
import os
from typing import Any

import numpy as np

from ..errors import VocabError

__all__ = ["TokenFile"]

_SCAN_CHUNK = 1 << 20  # bytes per line-end scanning step
_UTF8_CHUNK = 1 << 16  # bytes per UTF-8 checking step (a multiple of 8; small: no fresh pages)


class TokenFile:
    """A vocabulary file's bytes (zero-padded) and its tokens' bounds.

    Token ``i`` is ``buf[starts[i] : starts[i + 1] - term[i]]``: ``term`` is the length of the
    line end after it, an int when the same for all (1: no ``"\\r"``; 2: all ``"\\r\\n"``). A last
    line without a line end counts as if a line end of that length followed it.
    """

    def __init__(self, path: Any, label: str, buf: np.ndarray, size: int) -> None:
        self.label, self.size = label, size
        self.where = repr(os.fspath(path))
        self.view = buf.data
        # 8 and 16 bytes from any offset (the padding covers the last token's)
        self.u8 = np.ndarray((buf.size - 7,), "<u8", buffer=buf, strides=(1,))
        self.s16 = np.ndarray((buf.size - 15,), "S16", buffer=buf, strides=(1,))  # a fast gather
        self.starts, self.term = _bounds(buf, size)
        self.n = self.starts.size - 1

    @classmethod
    def read(cls, path: Any, label: str) -> TokenFile:
        name = os.fspath(path)
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                buf = np.empty(_padded(size), np.uint8)  # numpy's allocation: huge pages
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
            buf = np.empty(_padded(size), np.uint8)
            buf[:size] = np.frombuffer(data, np.uint8)
            del data
        buf[size:] = 0
        _check_utf8(buf, size, name)
        file = cls(path, label, buf, size)
        if not file.n:
            raise VocabError(f"{label}: {file.where} is empty.")
        return file

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

    def first_tokens(self, k: int) -> tuple[str, ...]:
        return tuple(self.token(i).decode("utf-8") for i in range(min(k, self.n)))

    def token(self, i: int) -> bytes:
        start = int(self.starts[i])
        end = int(self.starts[i + 1]) - (self.term if isinstance(self.term, int) else int(self.term[i]))
        return bytes(self.view[start:end])

    def repeat_error(self, first: int, repeat: int) -> VocabError:
        t = self.token(first).decode("utf-8")
        return VocabError(  # load_tokens's words
            f"{self.label}: {self.where} has the token {t!r} twice (positions {first} and {repeat}); a row "
            f"cannot follow a token that is not unique.\n  Fix: deduplicate the vocabulary."
        )


def _padded(size: int) -> int:
    """A buffer length: a multiple of 8, at least 25 zero bytes after ``size``."""
    return (size // 8 + 5) * 8


def _check_utf8(buf: np.ndarray, size: int, name: str) -> None:
    high = np.uint64(0x8080_8080_8080_8080)
    words = buf.view(np.uint64)
    if not np.bitwise_or.reduce(words) & high:
        return  # ASCII (the zero padding too)
    decoder = codecs.getincrementaldecoder("utf-8")()
    step = _UTF8_CHUNK
    with buf.data as view:
        try:
            for i in range(0, size, step):
                ascii_part = not np.bitwise_or.reduce(words[i // 8 : (i + step) // 8]) & high
                if not (ascii_part and decoder.getstate()[0] == b""):
                    decoder.decode(view[i : min(i + step, size)])
            decoder.decode(b"", True)
            return
        except UnicodeDecodeError:
            pass
        try:  # once more in one piece, for read_vocab_file's message (the position in the file)
            view[:size].tobytes().decode("utf-8")
        except UnicodeDecodeError as e:
            raise VocabError(f"cannot read the vocabulary file {name!r}: {e}.") from None
    raise VocabError(f"cannot read the vocabulary file {name!r}: not UTF-8.")  # not reached


def _bounds(data: np.ndarray, size: int) -> tuple[np.ndarray, int | np.ndarray]:
    """``starts`` (n + 1) and ``term`` (an int, or n of them) of the tokens."""
    dtype = np.int32 if size < 2**31 - 1024 else np.int64
    steps = range(0, size, _SCAN_CHUNK)
    counts = [int(np.count_nonzero(data[c : min(c + _SCAN_CHUNK, size)] == 10)) for c in steps]
    n_ends = sum(counts)
    terminated = size == 0 or data[size - 1] == 10
    n = n_ends if terminated else n_ends + 1
    starts = np.empty(n + 1, dtype)
    starts[0] = 0
    k, n_cr = 1, 0
    for c, count in zip(steps, counts):
        seg = data[c : min(c + _SCAN_CHUNK, size)]
        n_cr += int(np.count_nonzero(seg == 13))
        if count:
            np.add(np.flatnonzero(seg == 10), c + 1, out=starts[k : k + count], casting="unsafe")  # next starts
            k += count
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
