"""``file_row_map`` / ``join_row_map``: the row map of two vocabularies (files, token lists) from
their bytes, equal to the exact path ``row_map(load_tokens(old), load_tokens(new))`` in every
array, size, sample and error. No TensorFlow (lookup layers: ``tests/test_keras_lookups.py``)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import pathlib
import random
import tempfile
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warmstart.errors import VocabError
from warmstart.remap import Layout, load_tokens, row_map, token_file, vocab_files
from warmstart.remap import tokens as tokens_module
from warmstart.remap.token_file import TokenFile
from warmstart.remap.tokens import Tokens
from warmstart.remap.vocab_files import file_row_map, join_row_map, read_tokens, same_tokens

OOV = [(0, 0), (2, 0), (0, 3), (1, 1), (3, 2), (2, 5)]


def write(path, tokens, *, newline="\n", final=True) -> str:
    text = newline.join(tokens) + (newline if final else "")
    pathlib.Path(path).write_bytes(text.encode("utf-8"))
    return str(path)


def exact(old, new, *, label="vocab", **kw):
    return row_map(load_tokens(old, label=label), load_tokens(new, label=label), **kw)


def outcome(fn, *args, **kw):
    """The RowMap's arrays and sizes, or the VocabError's message."""
    try:
        rm = fn(*args, **kw)
    except VocabError as e:
        return ("error", str(e))
    return ("rows", rm.new_rows.dtype, rm.new_rows.tolist(), rm.old_rows.dtype, rm.old_rows.tolist(),
            rm.new_size, rm.old_size, rm.new_tokens, rm.old_tokens, rm.samples)


def assert_like_exact(old, new, **kw):
    want = outcome(exact, old, new, **kw)
    assert outcome(file_row_map, old, new, **kw) == want
    return want


# ------------------------------------------------------------------ properties

# text without line ends; surrogates cannot be written as UTF-8
char = st.characters(exclude_categories=["Cs"], exclude_characters="\r\n")
short_token = st.text(char, max_size=20)
long_token = st.text(char, min_size=100, max_size=400)
boundary_token = st.sampled_from([n * "x" for n in (0, 1, 7, 8, 9, 15, 16, 17, 24, 255, 256, 257, 300)])
token = st.one_of(short_token, short_token, long_token, boundary_token)
layout = st.fixed_dictionaries({"newline": st.sampled_from(["\n", "\r\n", "\r"]), "final": st.booleans()})


@st.composite
def vocab_pair(draw):
    old = draw(st.lists(token, min_size=1, max_size=40, unique=True))
    # tokens differing from an old one only in the last byte (or char)
    near = [t[:-1] + chr(ord(t[-1]) ^ 1) for t in old
            if t and t[-1] not in "\x0c\x0b" and not 0xD800 <= ord(t[-1]) ^ 1 < 0xE000]
    kept = draw(st.lists(st.sampled_from(old), max_size=len(old), unique=True))
    fresh = draw(st.lists(st.one_of(token, st.sampled_from(near or [""])), max_size=20))
    new = list(dict.fromkeys(kept + fresh))  # unique, order of first appearance
    random.Random(draw(st.integers(0, 2**32))).shuffle(new)
    return old, new


# small steps put every step boundary (bytes scanned and checked, tokens hashed, keys scanned,
# pairs checked) inside the files
steps = st.fixed_dictionaries({
    **{name: st.sampled_from([1, 2, 3, 7, 1 << 20]) for name in
       ("_SCAN_CHUNK", "_HASH_CHUNK", "_KEY_CHUNK", "_CHECK_CHUNK")},
    "_UTF8_CHUNK": st.sampled_from([8, 16, 1 << 20]),
})


def small_steps(sizes):
    modules = {"_SCAN_CHUNK": token_file, "_UTF8_CHUNK": token_file, "_SEQ_CHUNK": tokens_module}
    patches = [mock.patch.object(modules.get(name, vocab_files), name, size) for name, size in sizes.items()]
    stack = contextlib.ExitStack()
    for p in patches:
        stack.enter_context(p)
    return stack


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(vocab_pair(), layout, layout, st.sampled_from(OOV), steps)
def test_equals_the_exact_path(pair, old_layout, new_layout, oov, sizes):
    old, new = pair
    with tempfile.TemporaryDirectory() as d, small_steps(sizes):
        o = write(os.path.join(d, "old.txt"), old, **old_layout)
        n = write(os.path.join(d, "new.txt"), new, **new_layout)
        assert_like_exact(o, n, num_oov_buckets=oov[0], old_num_oov_buckets=oov[1])


# raw bytes from a small alphabet: repeats, empty lines, "\r" / "\r\n" / "\n" mixtures, a NUL,
# multi-byte and invalid UTF-8 all come up often
piece = st.sampled_from([b"a", b"b", b"ab", b"\n", b"\n", b"\r", b"\r\n", b"\xc3\xa9", b"\x00", b"x" * 20,
                         b"y" * 300, b"\xff", b"\xc3"])


@settings(max_examples=300, deadline=None)
@given(st.lists(piece, max_size=30).map(b"".join), st.lists(piece, max_size=30).map(b"".join), steps)
def test_raw_bytes_give_the_exact_outcome(old_bytes, new_bytes, sizes):
    with tempfile.TemporaryDirectory() as d, small_steps(sizes):
        o, n = os.path.join(d, "old.txt"), os.path.join(d, "new.txt")
        pathlib.Path(o).write_bytes(old_bytes)
        pathlib.Path(n).write_bytes(new_bytes)
        assert_like_exact(o, n, num_oov_buckets=1, old_num_oov_buckets=2)


# ------------------------------------------------------------------ examples


def test_grown_reordered_vocabulary(tmp_path):
    old = [f"item{i}" for i in range(50)]
    new = [f"item{i}" for i in range(0, 50, 2)] + [f"fresh{i}" for i in range(10)]
    random.Random(1).shuffle(new)
    o, n = write(tmp_path / "o", old), write(tmp_path / "n", new)
    rm = file_row_map(o, n, num_oov_buckets=2, old_num_oov_buckets=1)
    assert rm.new_rows.tolist() == sorted(rm.new_rows.tolist())
    assert [new[i] for i in rm.new_rows[:-1]] == [old[i] for i in rm.old_rows[:-1]]
    assert (rm.new_rows[-1], rm.old_rows[-1]) == (len(new), len(old))  # the carried OOV row
    assert (rm.carried, rm.fresh, rm.dropped) == (26, 11, 25)
    assert_like_exact(o, n, num_oov_buckets=2, old_num_oov_buckets=1)


def test_file_layouts(tmp_path):
    """CRLF, lone CR, no final newline, empty lines (tokens ""), a BOM (part of the first token)."""
    old = write(tmp_path / "o", ["a", "", "b", "\ufeffc", "dé"], newline="\r\n")
    for name, data in {
        "crlf": b"b\r\n\r\na\r\n",
        "cr": b"b\r\ra\r",
        "mixed": b"b\n\r\na\rd\xc3\xa9",
        "no_final": b"d\xc3\xa9\nb\na",
        "bom": b"\xef\xbb\xbfc\na\n",
        "blank_last": b"a\n\n",
        "only_newline": b"\n",
    }.items():
        new = tmp_path / name
        new.write_bytes(data)
        assert assert_like_exact(old, str(new), num_oov_buckets=1)[0] == "rows", name


def test_paths_and_other_sources(tmp_path):
    o, n = write(tmp_path / "o", ["a", "b", "c"]), write(tmp_path / "n", ["c", "a", "z"])
    want = outcome(exact, o, n)
    assert outcome(file_row_map, pathlib.Path(o), pathlib.Path(n)) == want
    assert outcome(file_row_map, ["a", "b", "c"], ["c", "a", "z"]) == want  # sequences: the exact path


def test_long_tokens_and_last_byte_differences(tmp_path):
    base = ["q" * n for n in (1, 8, 15, 16, 17, 31, 32, 33, 255, 256, 257, 1000, 5000)]
    old = base + [t[:-1] + "r" for t in base]
    new = [t[:-1] + "s" for t in base] + base[::2] + [t[:-1] + "r" for t in base[1::2]]
    o, n = write(tmp_path / "o", old), write(tmp_path / "n", new)
    rm = file_row_map(o, n)
    assert [new[i] for i in rm.new_rows] == [old[i] for i in rm.old_rows]
    assert rm.carried == len(base)
    assert_like_exact(o, n)


@pytest.mark.parametrize("which", ["old", "new"])
def test_repeats_named_like_load_tokens(tmp_path, which):
    good = write(tmp_path / "good", ["a", "b", "c", "d"])
    bad = write(tmp_path / "bad", ["x", "b", "y", "b", "x", "z"])  # first repeat: "b" at 3 (first at 1)
    args = (bad, good) if which == "old" else (good, bad)
    with pytest.raises(VocabError) as got:
        file_row_map(*args, label="items")
    assert "'b' twice (positions 1 and 3)" in str(got.value)
    assert str(got.value).startswith(f"items: {bad!r} has the token")
    assert_like_exact(*args, label="items")


def test_repeats_with_matches_and_several_copies(tmp_path):
    o = write(tmp_path / "o", ["k", "m", "n"])
    for tokens in (["m", "k", "m"], ["m", "m", "m"], ["", "k", "", "k"], ["a", "b", "c", "b", "a"]):
        n = write(tmp_path / "n", tokens)
        assert assert_like_exact(o, n)[0] == "error"
    big = write(tmp_path / "big", [f"t{i}" for i in range(1000)] + ["t500", "t7", "t500"])
    with pytest.raises(VocabError, match=r"'t500' twice \(positions 500 and 1000\)"):
        file_row_map(big, o)


def test_old_repeat_before_any_new_file_error(tmp_path):
    """load_tokens(old) runs first: its repeat wins over a new file that is missing or empty."""
    old = write(tmp_path / "o", ["a", "b", "a"])
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    for new in (str(tmp_path / "missing"), str(empty), write(tmp_path / "dup", ["z", "z"])):
        assert "'a' twice (positions 0 and 2)" in assert_like_exact(old, new)[1]


def test_read_errors_worded_like_read_vocab_file(tmp_path):
    good = write(tmp_path / "good", ["a", "b"])
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    latin = tmp_path / "latin"
    latin.write_bytes("café\n".encode("latin-1"))
    truncated = tmp_path / "truncated"
    truncated.write_bytes(b"ok\n" * 1000 + b"\xe2\x82")
    for bad, words in [
        (str(tmp_path / "missing"), "No such file"),
        (str(tmp_path), "Is a directory"),
        (str(empty), "is empty"),
        (str(latin), "can't decode byte 0xe9 in position 3"),
        (str(truncated), "position 3000-3001: unexpected end of data"),
    ]:
        for args in ((bad, good), (good, bad)):
            kind, message = assert_like_exact(*args)
            assert kind == "error" and words in message, message


def test_utf8_checked_across_steps(tmp_path, monkeypatch):
    """A sequence cut by a step is still checked when the next step is ASCII."""
    monkeypatch.setattr(token_file, "_UTF8_CHUNK", 8)
    good = write(tmp_path / "good", ["a"])
    for data in (b"abcdefg\xc3" + b"12345678" + b"\xa9z\n", b"abcdef\xe2\x82" + b"\xacz\n" + b"b" * 9):
        bad = tmp_path / "bad"
        bad.write_bytes(data)
        assert_like_exact(str(bad), good)


@pytest.mark.parametrize("step", [1, 2, 3, 5])
def test_line_ends_cut_by_a_scanning_step(tmp_path, monkeypatch, step):
    monkeypatch.setattr(token_file, "_SCAN_CHUNK", step)
    good = write(tmp_path / "good", ["a", "b", "", "c", "d"])
    for i, data in enumerate([b"a\r\nb\rc\r\r\nd\n", b"\r\r\n\n\ra\r", b"b\n\r\n\r\nc\r", b"\r\n" * 5 + b"a"]):
        other = tmp_path / f"other{i}"
        other.write_bytes(data)
        assert_like_exact(good, str(other))
        assert_like_exact(str(other), good)


def test_hash_is_a_function_of_the_bytes_and_tells_them_apart(tmp_path):
    """Equal tokens hash equal wherever they sit (offset, line end, file); distinct ones differ."""
    tokens = [""]
    for n in [*range(1, 41), 63, 64, 65, 255, 256, 257, 300, 1000]:
        base = bytearray(b"%d:" % n + bytes(range(97, 123)) * 40)[:n]
        for where in {0, n // 2, n - 1}:
            for value in (0x41, 0x42, 0xC3):  # the last: "Ã", two bytes in UTF-8
                variant = bytearray(base)
                variant[where] = value
                tokens.append(variant.decode("latin-1"))
    tokens = list(dict.fromkeys(tokens))
    a = write(tmp_path / "a", tokens)
    b = write(tmp_path / "b", ["pad" * 7, *tokens[::-1]], newline="\r\n")
    fa, fb = TokenFile.read(a, "v"), TokenFile.read(b, "v")
    ha = vocab_files._token_hashes(fa, 0, fa.n)
    hb = vocab_files._token_hashes(fb, 1, fb.n)[::-1]
    assert ha.tolist() == hb.tolist()
    assert len(set(ha.tolist())) == len(tokens)


# ------------------------------------------------------------------ hash collisions


def blake(b: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(b, digest_size=8).digest(), "little")


def collision_vocab(tmp_path):
    old = [f"c{i}" for i in range(40)] + [f"a{i}" for i in range(40)] + ["", "é" * 30, "x" * 300]
    new = [f"b{i}" for i in range(40)] + [f"c{i}" for i in range(0, 40, 3)] + [f"d{i}" for i in range(0, 40, 5)]
    new += ["", "x" * 300, "x" * 299 + "y"]
    random.Random(3).shuffle(new)
    return write(tmp_path / "o", old), write(tmp_path / "n", new)


@pytest.mark.parametrize("hash_of", [
    lambda b: 0,  # one run holding every token
    lambda b: blake(b) & (3 << 62),  # four values
    lambda b: blake(b[1:]),  # "a5" / "b5" / "c5" / "d5" collide: runs of two different tokens, and more
    lambda b: blake(b[1:]) & ~((1 << 40) - 1) | 12345,  # only the high bits count
])
def test_collisions_keep_the_exact_answer(tmp_path, monkeypatch, hash_of):
    def fake(file, lo, hi):
        return np.array([hash_of(file.token(i)) for i in range(lo, hi)], np.uint64)

    monkeypatch.setattr(vocab_files, "_token_hashes", fake)
    o, n = collision_vocab(tmp_path)
    for oov in OOV[:3]:
        assert assert_like_exact(o, n, num_oov_buckets=oov[0], old_num_oov_buckets=oov[1])[0] == "rows"
    dup = write(tmp_path / "dup", ["a1", "c3", "a2", "c3", "a1"])
    assert "'c3' twice (positions 1 and 3)" in assert_like_exact(o, dup)[1]
    assert "'c3' twice (positions 1 and 3)" in assert_like_exact(dup, str(tmp_path / "missing"))[1]


def test_degenerate_hash_falls_back_to_the_exact_path(tmp_path, monkeypatch):
    calls = []
    real_load = vocab_files.load_tokens

    def counting_load(*args, **kw):
        calls.append(args[0])
        return real_load(*args, **kw)

    monkeypatch.setattr(vocab_files, "_token_hashes", lambda file, lo, hi: np.zeros(hi - lo, np.uint64))
    monkeypatch.setattr(vocab_files, "_GROUP_LIMIT", 10)
    monkeypatch.setattr(vocab_files, "load_tokens", counting_load)
    o, n = collision_vocab(tmp_path)
    assert assert_like_exact(o, n, num_oov_buckets=2, old_num_oov_buckets=2)[0] == "rows"
    assert calls == [o, n]  # file_row_map took the exact path
    dup = write(tmp_path / "dup", [f"t{i}" for i in range(20)] + ["t3"])
    assert "'t3' twice (positions 3 and 20)" in assert_like_exact(dup, str(tmp_path / "missing"))[1]


def test_unrelated_tokens_sharing_a_hash_are_not_carried(tmp_path, monkeypatch):
    """Two different tokens whose hash bits agree make a run of two: compared, not carried."""
    monkeypatch.setattr(vocab_files, "_token_hashes",
                        lambda file, lo, hi: np.array([blake(file.token(i)[:1]) for i in range(lo, hi)], np.uint64))
    o, n = write(tmp_path / "o", ["apple", "kiwi", "fig"]), write(tmp_path / "n", ["avocado", "fig", "kale"])
    rm = file_row_map(o, n)
    assert (rm.new_rows.tolist(), rm.old_rows.tolist()) == ([1], [2])
    assert_like_exact(o, n)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_tokens_differing_in_one_late_byte_share_a_hash(tmp_path, monkeypatch, newline):
    """The hash ignores the last byte: same-length tokens that differ only there meet in runs of
    two (old+new and old+old) and are told apart by their bytes, in every word and beyond the
    vectorized length."""
    monkeypatch.setattr(vocab_files, "_token_hashes",
                        lambda file, lo, hi: np.array([blake(file.token(i)[:-1]) for i in range(lo, hi)], np.uint64))
    lengths = [1, 6, 7, 8, 14, 15, 16, 23, 254, 255, 256, 400]

    def stems(fill):  # some with a multi-byte character
        return [fill * n + ("é" if n % 3 else "") for n in lengths]

    old = [t + "a" for t in ["", *stems("s")]] + [t + "a" for t in stems("u")] + [t + "b" for t in stems("u")]
    new = [t + "d" for t in ["", *stems("s")]] + [t + "x" for t in stems("v")] + [t + "y" for t in stems("v")]
    old += [t + "cc" for t in stems("w")]
    new += [t + "cc" for t in stems("w")[::3]]
    random.Random(5).shuffle(new)
    o, n = write(tmp_path / "o", old, newline=newline), write(tmp_path / "n", new, newline=newline)
    rm = file_row_map(o, n)
    assert [new[i] for i in rm.new_rows] == [old[i] for i in rm.old_rows]
    assert rm.carried == len(lengths[::3])
    assert_like_exact(o, n)


# ------------------------------------------------------------------ token lists


def exact_sides(old, new, *, label="vocab", num_oov_buckets=0, old_num_oov_buckets=0):
    """What build.vocab_row_map did for a side that is not a file: the Python join."""
    return row_map(load_tokens(old, label=f"{label} old"), load_tokens(new, label=f"{label} new"),
                   num_oov_buckets=num_oov_buckets, old_num_oov_buckets=old_num_oov_buckets)


def joined(old, new, *, label="vocab", num_oov_buckets=0, old_num_oov_buckets=0):
    return join_row_map(old, new, old_label=f"{label} old", new_label=f"{label} new",
                        old_layout=Layout(oov_last=old_num_oov_buckets), new_layout=Layout(oov_last=num_oov_buckets))


def assert_lists_like_exact(old, new, **kw):
    want = outcome(exact_sides, old, new, **kw)
    assert outcome(joined, old, new, **kw) == want
    return want


# anything a list may hold: line ends inside tokens, lone surrogates, NULs, bytes (invalid UTF-8
# too: load_tokens decodes them with surrogateescape, so b"\xff" and "\udcff" are one token),
# numbers (str(7) == "7")
odd_token = st.sampled_from(["a\nb", "\n", "\r", "a\r\n", "\udcff", "\ud800x", "\x00", "x\x00", "é", "",
                             b"\xff", b"a\nb", b"caf\xc3\xa9", 7, "7", -1, 2.5, True])
list_token = st.one_of(st.text(max_size=12), st.text(max_size=12), long_token, boundary_token, odd_token)
list_steps = steps.map(lambda d: {**d, "_SEQ_CHUNK": d["_HASH_CHUNK"]})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(list_token, max_size=30), st.lists(list_token, max_size=30), st.sampled_from(OOV), list_steps,
       st.sampled_from(["list", "tuple", "array"]))
def test_token_lists_equal_the_python_join(old, new, oov, sizes, kind):
    """Repeats, empty lists and every kind of token: the same rows, samples and errors."""
    if kind == "tuple":
        old, new = tuple(old), tuple(new)
    elif kind == "array":
        old, new = np.array(old, dtype=object), np.array(new, dtype=object)
    with small_steps(sizes):
        assert_lists_like_exact(old, new, num_oov_buckets=oov[0], old_num_oov_buckets=oov[1])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(vocab_pair(), layout, st.booleans(), steps)
def test_a_file_and_a_list_equal_the_python_join(pair, file_layout, file_is_old, sizes):
    old, new = pair
    with tempfile.TemporaryDirectory() as d, small_steps(sizes):
        if file_is_old:
            old = write(os.path.join(d, "old.txt"), old, **file_layout)
        else:
            new = write(os.path.join(d, "new.txt"), new, **file_layout)
        assert_lists_like_exact(old, new, num_oov_buckets=1)


def test_token_lists_example():
    old = [f"item{i}" for i in range(50)] + ["a\nb", "é", ""]
    new = [f"item{i}" for i in range(0, 50, 2)] + [f"fresh{i}" for i in range(10)] + ["é", "a\nb"]
    random.Random(1).shuffle(new)
    rm = joined(old, new, num_oov_buckets=2, old_num_oov_buckets=1)
    assert [new[i] for i in rm.new_rows[:-1]] == [old[i] for i in rm.old_rows[:-1]]
    assert (rm.carried, rm.fresh, rm.dropped) == (28, 11, 26)
    assert_lists_like_exact(old, new, num_oov_buckets=2, old_num_oov_buckets=1)


def test_list_errors_worded_and_ordered_like_load_tokens(tmp_path):
    good = ["a", "b"]
    for old, new in [
        (["x", "b", "y", "b", "x"], good), (good, ["x", "b", "y", "b", "x"]),  # first repeat: "b" at 3
        ([b"\xff", "a", "\udcff"], good),  # one token after load_tokens's decoding
        ([], good), (good, []), ((), good),
        (3.5, good), (good, 3.5), ({"a": 1}, good),
        (["a", "b", "a"], []), (["a", "b", "a"], 3.5),  # the old repeat first
        (["a", "b", "a"], str(tmp_path / "missing")), (str(tmp_path / "missing"), ["a", "a"]),
        ([7, "7"], good),
    ]:
        assert assert_lists_like_exact(old, new)[0] == "error", (old, new)


def test_same_tokens_compares_bytes_across_kinds(tmp_path):
    words = ["a", "bé", "", "x" * 300, "q" * 17]
    lf = TokenFile.read(write(tmp_path / "lf", words), "v")
    crlf = TokenFile.read(write(tmp_path / "crlf", words, newline="\r\n", final=False), "v")
    listed = Tokens.from_sequence(words, label="v")
    assert same_tokens(lf, crlf) and same_tokens(crlf, listed) and same_tokens(listed, lf)
    for other in (words[:-1], [*words[:-1], "q" * 16 + "r"], [*words[:-1], "q" * 18], words[::-1]):
        assert not same_tokens(listed, Tokens.from_sequence(other, label="v"))
        assert not same_tokens(lf, Tokens.from_sequence(other, label="v"))


# ------------------------------------------------------------------ tokens out of vocabulary order


def permuted(source, seed, label):
    """The tokens of a list stored in a shuffled buffer order, ``rows_of`` saying each one's
    vocabulary position (as a lookup layer's table gives them)."""
    listed = read_tokens(source, label=label)
    if not isinstance(source, list) or not source:
        return listed
    perm = np.random.default_rng(seed).permutation(len(source))
    inner = Tokens.from_sequence([source[p] for p in perm], label=label)
    return Tokens(inner.buf, inner.starts, term=inner.term, rows_of=perm.astype(np.int32), label=label,
                  where=listed.where, text=listed.text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(list_token, max_size=30), st.lists(list_token, max_size=30), st.integers(0, 2**32 - 1),
       st.sampled_from(OOV), list_steps, st.booleans())
def test_tokens_out_of_vocabulary_order_equal_the_python_join(old, new, seed, oov, sizes, collide):
    """Matches, repeats (named in vocabulary order) and runs of three or more, as lists give them."""
    patches = [mock.patch.object(vocab_files, "read_tokens", lambda src, *, label: permuted(src, seed, label))]
    if collide:  # few hash values: runs of two and more of unrelated tokens
        patches.append(mock.patch.object(vocab_files, "_token_hashes", lambda file, lo, hi: np.array(
            [blake(file.token(i)) & (7 << 61) for i in range(lo, hi)], np.uint64)))
    with small_steps(sizes), contextlib.ExitStack() as stack:
        for p in patches:
            stack.enter_context(p)
        assert_lists_like_exact(old, new, num_oov_buckets=oov[0], old_num_oov_buckets=oov[1])


# ------------------------------------------------------------------ scale


def test_scale_200k(tmp_path):
    old = [f"item{i}" for i in range(200_000)]
    new = old[::3] + [f"new{i}" for i in range(40_000)] + ["é" * 40, ""]
    random.Random(0).shuffle(new)
    o = write(tmp_path / "o", old)
    n = write(tmp_path / "n", new, newline="\r\n", final=False)
    rm = file_row_map(o, n, num_oov_buckets=1, old_num_oov_buckets=1)
    assert rm.carried == len(old[::3]) + 1
    assert_like_exact(o, n, num_oov_buckets=1, old_num_oov_buckets=1)


def test_scale_200k_lists():
    old = [f"item{i}" for i in range(200_000)]
    new = old[::3] + [f"new{i}" for i in range(40_000)] + ["é" * 40, "", "a\nb"]
    random.Random(0).shuffle(new)
    rm = joined(old, new, num_oov_buckets=1, old_num_oov_buckets=1)
    assert rm.carried == len(old[::3]) + 1
    assert_lists_like_exact(old, new, num_oov_buckets=1, old_num_oov_buckets=1)
