"""``Tokens`` from a token sequence: the tokens ``load_tokens`` gives, as bytes and bounds. No
TensorFlow. (Files: ``test_vocab_files.py``; lookup layers: ``tests/test_lookup_tokens.py``.)"""

from __future__ import annotations

import numpy as np
import pytest

from warmstart.errors import VocabError
from warmstart.remap import load_tokens
from warmstart.remap import tokens as tokens_module
from warmstart.remap.tokens import Tokens
from warmstart.remap.vocab_files import read_tokens


@pytest.mark.parametrize("tokens", [
    ["a", "b", "c"],
    ["a\nb", "c", "\n"],  # a line end inside a token: encoded one by one
    [b"a", "b", 3, np.int64(4), np.str_("e"), b"\xff"],  # load_tokens's conversions
    np.array(["a", "bé", ""]), np.array([b"a", b"b"]), np.array([3, 1, 2]),
])
def test_sequences_as_tokens(tokens):
    got = read_tokens(tokens, label="x")
    want = load_tokens(tokens, label="x")
    assert [got.text(i) for i in range(got.n)] == want
    assert [got.token(i) for i in range(got.n)] == [t.encode("utf-8", "surrogatepass") for t in want]
    assert got.first_tokens(2) == tuple(want[:2])


def test_sequence_growth_and_int64_bounds(monkeypatch):
    """The buffer grows past its first guess (the first block's tokens are short), and bounds
    switch to int64 past the int32 limit (lowered here)."""
    monkeypatch.setattr(tokens_module, "_SEQ_CHUNK", 4)
    monkeypatch.setattr(tokens_module, "_INT32_LIMIT", 100)
    old = ["a", "b", "c", "d"] + ["long" * 20 + str(i) for i in range(30)]
    got = read_tokens(old, label="x")
    assert got.starts.dtype == np.int64
    assert [got.text(i) for i in range(got.n)] == old
    assert [got.token(i) for i in range(got.n)] == [t.encode() for t in old]


def test_line_ends_inside_tokens_switch_to_one_by_one(monkeypatch):
    monkeypatch.setattr(tokens_module, "_SEQ_CHUNK", 2)
    words = ["a", "b", "c", "d\ne", "f"]  # the third block finds the line end
    got = Tokens.from_sequence(words, label="x")
    assert got.term == 0
    assert [got.token(i) for i in range(got.n)] == [w.encode() for w in words]


def test_empty_sequence_wording():
    with pytest.raises(VocabError, match=r"^x: the token sequence is empty\.$"):
        Tokens.from_sequence([], label="x")
    with pytest.raises(VocabError) as want:
        load_tokens([], label="x")
    assert str(want.value) == "x: the token sequence is empty."
