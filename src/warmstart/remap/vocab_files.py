"""The row map of two vocabularies by hash, checked by bytes, without a Python object per token:
vocabulary files, token lists and Keras lookup layers all take this one join.

``row_map(load_tokens(old), load_tokens(new))`` builds a ``str``, a dict entry and a set entry
per token: seconds and about a GiB for millions of tokens. :func:`join_row_map` gives the same
:class:`~warmstart.remap.RowMap`, array for array, from the tokens' bytes, with numpy:

1. Each side becomes :class:`~.tokens.Tokens` (:func:`read_tokens`): a zero-padded byte buffer
   and each token's bounds. A file is read once, checked to be UTF-8 (one OR over its 8-byte
   words for the usual ASCII file, else an incremental decode of the parts that are not ASCII,
   keeping nothing), and its line ends are found with ``flatnonzero``. Lines end where Python's
   universal newlines end them (what ``read_vocab_file`` gets from ``open(path,
   encoding="utf-8")``): at ``"\\n"``, ``"\\r\\n"`` or a lone ``"\\r"``. A final line end makes no
   extra token; an empty line is the token ``""``; a token is the bytes between two line ends.
   For valid UTF-8, equal bytes are equal strings and the reverse. A token list is encoded a
   block at a time (:mod:`.tokens`); a lookup layer's table is exported as tensors
   (:mod:`.lookup_tokens`).
2. Every token gets a 64-bit hash of its length and bytes (``_token_hashes``), a block of
   tokens at a time: its 8-byte words are gathered from the buffer, the last one masked, and
   mixed in with multiplies and xor-shifts; tokens over ``_VEC_MAX`` bytes are hashed one by
   one (``blake2b``). One ``uint64`` key per token of both sides holds the hash's high bits
   above a tag (the old position, or the old count + the new position); the keys are sorted.
3. Equal tokens have equal hashes, so they are neighbours in the sorted keys. Two neighbours
   whose hash bits agree and whose run has no third member are an old+new pair (tentatively
   carried), or two tokens of one side (a repeat if their bytes are equal). Runs of three or
   more (a repeat that also matches, or a rare collision of the hash bits) are settled
   exactly by grouping their tokens' bytes in a dict; if such runs hold more than
   ``_GROUP_LIMIT`` tokens (a degenerate hash) the call falls back to the exact path,
   ``row_map(load_tokens(...))``. Then every carried pair's bytes are compared, vectorized,
   in the new side's order, and a pair that differs is not carried: a run of two different
   tokens holds each one's only copy. The hash only decides which tokens get compared; the
   answer never depends on it.

Errors follow ``load_tokens`` in kind, wording and order: the old side is read and checked
(readable, UTF-8, not empty, no repeat) before anything about the new side is reported, and a
repeat is named by its first repeat in order and that token's first position.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ..errors import VocabError
from . import memory
from .lookup_tokens import lookup_tokens
from .rows import Layout, RowMap, place, row_map
from .token_file import TokenFile
from .tokens import Tokens
from .vocab import is_lookup, load_tokens, not_a_vocabulary

__all__ = ["file_row_map", "join_row_map", "read_tokens", "same_tokens"]

_VEC_MAX = 256  # tokens up to this many bytes are hashed and compared vectorized
_HASH_CHUNK = 1 << 15  # tokens per hashing step: the temporaries stay in cache
_CHECK_CHUNK = 1 << 16  # new tokens per comparing step
_KEY_CHUNK = 1 << 18  # sorted keys per scanning step
_GROUP_LIMIT = 1 << 14  # tokens in runs of 3+ equal hash bits settled by a dict; more: exact path

_P1 = np.uint64(0x9E37_79B1_85EB_CA87)
_P2 = np.uint64(0xC2B2_AE3D_27D4_EB4F)
_P3 = np.uint64(0x1656_67B1_9E37_79F9)
_KEEP = np.array([(1 << (8 * k)) - 1 for k in range(9)], np.uint64)  # keeps the first k bytes
_KEEP0 = _KEEP[np.minimum(np.arange(17), 8)]  # word 0 of a token of min(len, 16) bytes
_KEEP1 = _KEEP[np.clip(np.arange(17) - 8, 0, 8)]  # word 1
_KEEP01 = np.stack([_KEEP0, _KEEP1], axis=1)


class _Fallback(Exception):
    """The hash put too many tokens together: use the exact path."""


def read_tokens(source: Any, *, label: str) -> Tokens:
    """A vocabulary file, token sequence or lookup layer as :class:`~.tokens.Tokens`, with
    ``load_tokens``'s errors for what cannot be read, is empty or is not a vocabulary (a
    repeat is found by the join)."""
    if isinstance(source, (str, os.PathLike)):
        return TokenFile.read(source, label)
    if is_lookup(source):
        return lookup_tokens(source, label=label)
    if isinstance(source, (Sequence, np.ndarray)):
        return Tokens.from_sequence(source, label=label)
    raise not_a_vocabulary(source, label)


def join_row_map(old_source: Any, new_source: Any, *, old_label: str, new_label: str,
                 old_layout: Layout, new_layout: Layout) -> RowMap:
    """``row_map(load_tokens(old_source, label=old_label), load_tokens(new_source,
    label=new_label), old_layout=..., new_layout=...)``: equal array for array, raising the same
    ``VocabError`` s, in a fraction of the time and memory. Sources are vocabulary files
    (``str`` or ``os.PathLike``), token sequences, or Keras lookup layers, in any mix."""

    def exact() -> RowMap:
        return row_map(load_tokens(old_source, label=old_label), load_tokens(new_source, label=new_label),
                       old_layout=old_layout, new_layout=new_layout)

    old, new = _read_both(old_source, new_source, old_label=old_label, new_label=new_label)
    if isinstance(new, VocabError):  # a repeat in the old side comes first, as load_tokens(old) raises it
        try:
            _match([old])
        except _Fallback:
            del old
            load_tokens(old_source, label=old_label)
        raise new
    try:
        found = _by_position(_match([old, new]), old, new)
    except _Fallback:
        del old, new
        return exact()
    samples = (old.first_tokens(3), new.first_tokens(3))
    n_old = old.n
    del old, new
    return place(found, n_old=n_old, old=old_layout, new=new_layout, samples=samples)


def _read_both(old_source: Any, new_source: Any, *, old_label: str,
               new_label: str) -> tuple[Tokens, Tokens | VocabError]:
    """Both sides' tokens, the old side's errors raised first and the new side's returned. Two
    files are read side by side (reading and scanning release the GIL); a token list (encoded by
    Python) and a lookup layer (its table's export stays in TensorFlow's allocator, reused by the
    next export only once freed: side by side, two lookups held 25 % more memory) in turn."""
    if not (isinstance(old_source, (str, os.PathLike)) and isinstance(new_source, (str, os.PathLike))):
        old = read_tokens(old_source, label=old_label)
        try:
            return old, read_tokens(new_source, label=new_label)
        except VocabError as e:
            return old, e
    with ThreadPoolExecutor(1, thread_name_prefix="warmstart-vocab") as pool:
        pending = pool.submit(read_tokens, new_source, label=new_label)
        try:
            old = read_tokens(old_source, label=old_label)
        except BaseException:
            pending.cancel()
            raise
        try:
            return old, pending.result()
        except VocabError as e:
            return old, e


def file_row_map(old_path: Any, new_path: Any, *, num_oov_buckets: int = 0, old_num_oov_buckets: int = 0,
                 label: str = "vocab", old_layout: Layout | None = None, new_layout: Layout | None = None) -> RowMap:
    """``row_map(load_tokens(old_path, label=label), load_tokens(new_path, label=label), ...)``
    by :func:`join_row_map`. Made for two vocabulary files (paths are ``str`` or
    ``os.PathLike``); token sequences and lookup layers are joined the same way."""
    return join_row_map(old_path, new_path, old_label=label, new_label=label,
                        old_layout=old_layout or Layout(oov_last=old_num_oov_buckets),
                        new_layout=new_layout or Layout(oov_last=num_oov_buckets))


def same_tokens(a: Tokens, b: Tokens) -> bool:
    """Whether two vocabularies hold the same tokens in the same order (their bytes compared)."""
    if a.n != b.n:
        return False
    for lo in range(0, a.n, _CHECK_CHUNK):
        rows = np.arange(lo, min(lo + _CHECK_CHUNK, a.n))
        if not _same_tokens(a, a.at_rows(rows), b, b.at_rows(rows)).all():
            return False
    return True


def _by_position(found: np.ndarray, old: Tokens, new: Tokens) -> np.ndarray:
    """``found`` (old token of each new token, in buffer order) in vocabulary positions."""
    if old.rows_of is not None:
        sel = np.flatnonzero(found >= 0)
        found[sel] = old.rows_of[found[sel]]
    if new.rows_of is not None:
        by_row = memory.empty(found.size, found.dtype)
        by_row[new.rows_of] = found
        found = by_row
    return found


def _token_hashes(file: Tokens, lo: int, hi: int) -> np.ndarray:
    """A 64-bit hash (uint64) of each of the tokens ``lo..hi-1``, a function of its bytes alone.

    With ``w_k`` the k-th little-endian 8-byte word of the token zero-padded to
    ``W = max(2, ceil(len / 8))`` words: ``h = mx(((len * P3) ^ w_0) * P1, 32)``, then
    ``h = mx((h ^ w_k) * P2, 29)`` for k = 1..W-1, then ``mx(h * P3, 32)``, where ``mx(x, s)``
    is ``x ^ (x >> s)``; tokens over ``_VEC_MAX`` bytes: blake2b (8 bytes).
    """
    starts = file.starts[lo:hi]
    lens = file.lens_range(lo, hi)
    longest = int(lens.max(initial=0))
    w = file.first16(starts)
    w &= _KEEP01.take(np.minimum(lens, 16), axis=0)
    h = lens.astype(np.uint64)
    t = np.empty_like(h)  # scratch
    h *= _P3
    h ^= w[:, 0]
    h *= _P1
    h ^= np.right_shift(h, 32, out=t)
    h ^= w[:, 1]
    h *= _P2
    h ^= np.right_shift(h, 29, out=t)
    for k in range(2, (min(longest, _VEC_MAX) + 7) // 8):  # longer tokens: their next words
        sel = np.flatnonzero((lens > 8 * k) & (lens <= _VEC_MAX))
        w = file.u8[starts[sel] + 8 * k]
        w &= _KEEP[np.minimum(lens[sel] - 8 * k, 8)]
        x = h[sel] ^ w
        x *= _P2
        x ^= x >> 29
        h[sel] = x
    h *= _P3
    h ^= np.right_shift(h, 32, out=t)
    if longest > _VEC_MAX:
        for i in np.flatnonzero(lens > _VEC_MAX).tolist():  # long tokens, one by one
            s, n = int(starts[i]), int(lens[i])
            h[i] = int.from_bytes(hashlib.blake2b(file.view[s : s + n], digest_size=8).digest(), "little")
    return h


def _same(fa: Tokens, sa: np.ndarray, fb: Tokens, sb: np.ndarray, lens: np.ndarray, eq: np.ndarray) -> np.ndarray:
    """``eq`` (updated in place) and: the ``lens[k]`` bytes from ``sa[k]`` in ``fa`` and from
    ``sb[k]`` in ``fb`` are equal. Where ``eq`` is False nothing past 16 bytes is read."""
    diff = fa.first16(sa)
    diff ^= fb.first16(sb)
    diff &= _KEEP01.take(np.minimum(lens, 16), axis=0)
    eq &= (diff[:, 0] | diff[:, 1]) == 0
    if lens.size and lens.max() > 16:
        for k in range(2, (_VEC_MAX + 7) // 8):
            sel = np.flatnonzero(eq & (lens > 8 * k) & (lens <= _VEC_MAX))
            if not sel.size:
                break
            d = fa.u8[sa[sel] + 8 * k] ^ fb.u8[sb[sel] + 8 * k]
            d &= _KEEP[np.minimum(lens[sel] - 8 * k, 8)]
            eq[sel[d != 0]] = False
        for k in np.flatnonzero(eq & (lens > _VEC_MAX)).tolist():
            n, a, b = int(lens[k]), int(sa[k]), int(sb[k])
            eq[k] = fa.view[a : a + n] == fb.view[b : b + n]
    return eq


def _same_tokens(fa: Tokens, ia: np.ndarray, fb: Tokens, ib: np.ndarray) -> np.ndarray:
    """Whether token ``ia[k]`` of ``fa`` and token ``ib[k]`` of ``fb`` are equal."""
    (sa, la), (sb, lb) = fa.where_is(ia), fb.where_is(ib)
    return _same(fa, sa, fb, sb, la, la == lb)


def _rows(tokens: Tokens, idx: np.ndarray) -> np.ndarray:
    return idx if tokens.rows_of is None else tokens.rows_of[idx]


def _match(files: list[Tokens]) -> np.ndarray:
    """``found[j]``: the old token of new token ``j``, or -1 (``files``: [old, new]; tokens in
    their buffer order). Raises the old side's first repeat, then the new side's (in
    vocabulary positions). ``[old]`` alone: the repeat check only."""
    old = files[0]
    n_old = old.n
    total = sum(f.n for f in files)
    bits = max(total - 1, 1).bit_length()
    low = np.uint64((1 << bits) - 1)
    low_tag = np.int64((1 << bits) - 1)
    keys = memory.empty(total, np.uint64)
    offset = 0
    for f in files:
        for lo in range(0, f.n, _HASH_CHUNK):
            hi = min(lo + _HASH_CHUNK, f.n)
            h = _token_hashes(f, lo, hi)
            h &= ~low
            np.bitwise_or(h, np.arange(offset + lo, offset + hi, dtype=np.uint64), out=keys[offset + lo : offset + hi])
        offset += f.n
    keys.sort()

    n_new = files[1].n if len(files) > 1 else 0
    found = memory.full(n_new, -1, np.int32 if n_old < 2**31 else np.int64)
    repeats: list[list[tuple[int, int]]] = [[], []]  # per file: (repeat, first) candidates
    grouped = 0
    c0 = 0
    while c0 < total:
        c1 = min(c0 + _KEY_CHUNK, total)
        if c1 < total:  # never split a run of equal hash bits
            top = int(keys[c1 - 1]) >> bits
            c1 = total if top == (1 << (64 - bits)) - 1 else int(np.searchsorted(keys, np.uint64((top + 1) << bits)))
        chunk = keys[c0:c1]
        c0 = c1
        eq = np.flatnonzero((chunk[1:] ^ chunk[:-1]) <= low)  # neighbours p, p + 1 with equal hash bits
        if not eq.size:
            continue
        alone = np.ones(eq.size, bool)  # the two are the whole run
        alone[1:] &= eq[1:] != eq[:-1] + 1
        alone[:-1] &= eq[:-1] + 1 != eq[1:]
        pairs = eq if alone.all() else eq[alone]
        tags = chunk.view(np.int64)  # tags < 2**63
        ta = tags[pairs]  # ta < tb: keys sort by tag within a run
        ta &= low_tag
        tb = tags[1:][pairs]
        tb &= low_tag
        cross = (ta < n_old) & (tb >= n_old)  # old + new: checked below, in the new file's order
        if cross.all():
            tb -= n_old
            found[tb] = ta
        else:
            found[tb[cross] - n_old] = ta[cross]
            for side in (0, 1):  # two of one file: a repeat if equal
                sel = np.flatnonzero(tb < n_old) if side == 0 else np.flatnonzero(ta >= n_old)
                if not sel.size:
                    continue
                ia, ib = ta[sel] - side * n_old, tb[sel] - side * n_old
                ok = _same_tokens(files[side], ia, files[side], ib)
                if ok.any():
                    ra, rb = _rows(files[side], ia[ok]), _rows(files[side], ib[ok])
                    later = np.maximum(ra, rb)
                    k = int(np.argmin(later))
                    repeats[side].append((int(later[k]), int(min(ra[k], rb[k]))))
        if pairs.size < eq.size:  # runs of three or more: group their tokens by their bytes
            members = np.unique(np.concatenate([eq[~alone], eq[~alone] + 1]))
            grouped += members.size
            if grouped > _GROUP_LIMIT:
                raise _Fallback
            by_token: dict[bytes, tuple[list[int], list[int]]] = {}
            for t in (chunk[members] & low).tolist():
                side, i = (1, t - n_old) if t >= n_old else (0, t)
                by_token.setdefault(files[side].token(i), ([], []))[side].append(i)
            for olds, news in by_token.values():
                olds.sort(key=files[0].row)
                if len(olds) > 1:
                    repeats[0].append((files[0].row(olds[1]), files[0].row(olds[0])))
                if len(news) > 1:
                    news.sort(key=files[1].row)
                    repeats[1].append((files[1].row(news[1]), files[1].row(news[0])))
                if olds and news:
                    found[news] = olds[0]
    del keys
    for f, candidates in zip(files, repeats):
        if candidates:
            repeat, first = min(candidates)
            raise f.repeat_error(first, repeat)
    if n_new:  # check the pairs, in the new file's order (its bytes read in order)
        new = files[1]
        for lo in range(0, n_new, _CHECK_CHUNK):
            hi = min(lo + _CHECK_CHUNK, n_new)
            cand = found[lo:hi]
            sel = np.flatnonzero(np.greater_equal(cand, 0))
            if not sel.size:
                continue
            sa, lens = old.where_is(cand[sel])
            eq = _same(old, sa, new, new.starts[lo:hi][sel], lens, lens == new.lens_range(lo, hi)[sel])
            cand[sel[~eq]] = -1
    return found
