"""A lookup layer's tokens from its table's tensors: the tokens ``load_tokens(layer)`` gives (from
``get_vocabulary()``), in row order, for every kind of lookup, without calling ``get_vocabulary``
where the table can tell; and the join over lookups equals the Python join."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from warmstart.errors import VocabError
from warmstart.remap import Layout, load_tokens, row_map
from warmstart.remap import lookup_tokens as lookup_tokens_module
from warmstart.remap.lookup_tokens import lookup_tokens
from warmstart.remap.vocab import lookup_layout
from warmstart.remap.vocab_files import join_row_map, read_tokens, same_tokens

WORDS = ["b", "a", "café", "x" * 40, "日本", " sp ace", "q" * 17]


def texts(tokens):
    return [tokens.text(i) for i in range(tokens.n)]


def token_bytes(tokens):
    """Each token's bytes, in vocabulary order."""
    return [tokens.token(int(i)) for i in tokens.at_rows(np.arange(tokens.n))]


def no_get_vocabulary(layer):
    def refuse(*args, **kwargs):
        raise AssertionError("get_vocabulary was called")

    layer.get_vocabulary = refuse
    return layer


def string_lookup(**kw):
    return keras.layers.StringLookup(vocabulary=WORDS, **kw)


FAST = {
    "string": lambda: string_lookup(),
    "string, mask and 2 OOV": lambda: string_lookup(mask_token="", num_oov_indices=2),
    "string, no OOV": lambda: string_lookup(num_oov_indices=0),
    "string, inverted": lambda: string_lookup(invert=True),
    "string, adapted": lambda: _adapted(),
    "integer": lambda: keras.layers.IntegerLookup(vocabulary=[7, -3, 2**40, 0, 12]),
    "integer, mask": lambda: keras.layers.IntegerLookup(vocabulary=[7, 3, 5], mask_token=0),
}


def _adapted():
    layer = keras.layers.StringLookup()
    layer.adapt(np.array(["x", "y", "y", "z", "z", "z", "é"]))
    return layer


@pytest.mark.parametrize("make", FAST.values(), ids=FAST.keys())
def test_table_tokens_equal_load_tokens(make):
    layer = make()
    want = load_tokens(layer, label="v")
    got = lookup_tokens(no_get_vocabulary(layer), label="v")
    assert got.rows_of is not None  # read from the table
    assert texts(got) == want
    assert token_bytes(got) == [t.encode() for t in want]


def test_tokens_joined_into_bytes_a_block_at_a_time(monkeypatch):
    monkeypatch.setattr(lookup_tokens_module, "_JOIN_CHUNK", 3)
    for make in FAST.values():
        layer = make()
        want = load_tokens(layer, label="v")
        assert texts(lookup_tokens(no_get_vocabulary(layer), label="v")) == want


def test_a_file_vocabulary_and_tf_keras(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("".join(w + "\n" for w in WORDS), encoding="utf-8")
    layers = [keras.layers.StringLookup(vocabulary=str(path), num_oov_indices=3)]
    tf_keras = pytest.importorskip("tf_keras")
    layers.append(tf_keras.layers.StringLookup(vocabulary=WORDS, mask_token=""))
    layers.append(tf_keras.layers.IntegerLookup(vocabulary=[5, 9, 1]))
    for layer in layers:
        want = load_tokens(layer, label="v")
        got = lookup_tokens(no_get_vocabulary(layer), label="v")
        assert texts(got) == want, type(layer)


def _adapted_nul():
    layer = keras.layers.StringLookup()
    layer.adapt(tf.constant(["a", "b\x00", "b\x00", "c"]))  # in the table; get_vocabulary's numpy drops it
    return layer


@pytest.mark.parametrize("make", [
    _adapted_nul,
    lambda: keras.layers.StringLookup(vocabulary=["a", "é"], encoding="latin-1"),
])
def test_what_the_table_cannot_promise_comes_from_get_vocabulary(make):
    layer = make()
    got = lookup_tokens(layer, label="v")
    assert got.rows_of is None  # the sequence path
    assert texts(got) == load_tokens(layer, label="v")


def test_a_multi_hot_lookup_with_a_mask_token_is_read_from_its_table():
    layer = string_lookup(mask_token="[M]", output_mode="multi_hot")  # no mask row in this mode
    got = lookup_tokens(layer, label="v")
    assert got.rows_of is not None  # the table's path: the layout says no mask row
    assert texts(got) == load_tokens(layer, label="v") == layer.get_vocabulary()[1:]


def test_an_empty_lookup_is_load_tokens_error():
    layer = keras.layers.StringLookup()  # no vocabulary yet
    with pytest.raises(VocabError) as want:
        load_tokens(layer, label="v")
    with pytest.raises(VocabError) as got:
        lookup_tokens(layer, label="v")
    assert str(got.value) == str(want.value)


def outcome(fn):
    try:
        rm = fn()
    except VocabError as e:
        return ("error", str(e))
    return ("rows", rm.new_rows.tolist(), rm.old_rows.tolist(), rm.new_size, rm.old_size, rm.samples)


@pytest.mark.parametrize("kinds", [("lookup", "lookup"), ("list", "lookup"), ("lookup", "list"), ("file", "lookup")])
def test_joins_with_lookups_equal_the_python_join(tmp_path, kinds):
    rng = np.random.default_rng(0)
    old = [f"t{i}" for i in range(300)] + ["é", "x" * 300]
    new = [old[i] for i in rng.permutation(len(old))[:200]] + [f"n{i}" for i in range(60)]
    rng.shuffle(new)

    def side(kind, tokens, name):
        if kind == "lookup":
            return no_get_vocabulary(keras.layers.StringLookup(vocabulary=tokens, mask_token="", name=name))
        if kind == "file":
            (tmp_path / name).write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
            return str(tmp_path / name)
        return tokens

    o, n = side(kinds[0], old, "old"), side(kinds[1], new, "new")
    layouts = {"old_layout": Layout(mask=True, oov_first=1), "new_layout": Layout(mask=True, oov_first=1)}
    want = outcome(lambda: row_map(old, new, **layouts))
    got = outcome(lambda: join_row_map(o, n, old_label="v old", new_label="v new", **layouts))
    assert got == want and got[0] == "rows"


def test_same_tokens_of_a_lookup_and_its_file(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("".join(w + "\r\n" for w in WORDS), encoding="utf-8")
    layer = keras.layers.StringLookup(vocabulary=WORDS, num_oov_indices=2)
    assert lookup_layout(layer).leading == 2
    assert same_tokens(read_tokens(layer, label="v"), read_tokens(str(path), label="v"))
    assert not same_tokens(read_tokens(layer, label="v"), read_tokens(WORDS[::-1], label="v"))
