"""Tables fed by Keras lookup layers: the lookup puts its mask and OOV rows first, so a row's
token is the lookup's, and a remap must say so. Every carried row is checked the way a user
would: the day-2 model gives a shared token the same embedding as the day-1 model."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from support import assert_untouched, snapshot

import warmstart as ws

OLD = [f"item{i}" for i in range(25)]
_rng = np.random.default_rng(3)
NEW = [OLD[i] for i in _rng.permutation(25)[:20]] + [f"new{i}" for i in range(8)]  # 20 shared, 5 gone, 8 new
_rng.shuffle(NEW)


def write(path, tokens):
    path.write_text("".join(t + "\n" for t in tokens))
    return str(path)


def tower(vocabulary, *, mask_token=None, num_oov_indices=1, dim=4):
    """Strings -> lookup -> embedding, as a Keras recommender feeds an item id."""
    lookup = keras.layers.StringLookup(vocabulary=vocabulary, mask_token=mask_token,
                                       num_oov_indices=num_oov_indices, name="item_lookup")
    ids = keras.Input((1,), dtype="string")
    emb = keras.layers.Embedding(lookup.vocabulary_size(), dim, name="item_emb")
    return keras.Model(ids, emb(lookup(ids)))


def embedding_of(model, tokens):
    return model(tf.constant([[t] for t in tokens])).numpy()[:, 0]


@pytest.fixture
def day1(tmp_path):
    keras.utils.set_random_seed(0)
    model = tower(write(tmp_path / "old.txt", OLD))
    prefix = tf.train.Checkpoint(model=model).write(str(tmp_path / "day1"))
    return model, prefix, str(tmp_path / "old.txt"), write(tmp_path / "new.txt", NEW)


def test_the_tf1_layout_for_a_lookup_fed_table_is_refused_with_the_fix(day1):
    _, prefix, old_file, new_file = day1
    new = tower(new_file)
    before = snapshot(new)
    trap = ws.Vocab(old_file, new_file, num_oov_buckets=1, old_num_oov_buckets=1)  # sizes fit: 26 == 25 + 1
    with pytest.raises(ws.VocabError) as e:
        ws.warm_start(new, prefix, vocab={"item_emb/.*": trap})
    message = str(e.value)
    assert "StringLookup 'item_lookup' holds the same 28 tokens" in message
    assert "at rows 1..28 (1 OOV row(s) first, then the tokens)" in message
    assert "rows 0..27 (the tokens, then 1 OOV bucket(s))" in message
    assert "Fix: ws.Vocab(old, new, num_oov_indices=1)" in message
    assert_untouched(before, new)


@pytest.mark.parametrize("how", ["files", "new-lookup-layer", "token-lists"])
def test_keras_layout_carries_every_shared_token_to_its_row(day1, how):
    old_model, prefix, old_file, new_file = day1
    new = tower(new_file)
    vocab = {
        "files": ws.Vocab(old_file, new_file, num_oov_indices=1),
        "new-lookup-layer": ws.Vocab(old_file, new.get_layer("item_lookup")),
        "token-lists": ws.Vocab(OLD, NEW, num_oov_indices=1),
    }[how]
    fresh = embedding_of(new, NEW + ["[never seen]"])
    report = ws.warm_start(new, prefix, vocab={"item_emb/embeddings": vocab}, strict=True)
    shared = [t for t in NEW if t in OLD]
    np.testing.assert_array_equal(embedding_of(new, shared), embedding_of(old_model, shared))
    # the OOV row follows the OOV row; new tokens keep their initial rows
    np.testing.assert_array_equal(embedding_of(new, ["[never seen]"]), embedding_of(old_model, ["[never seen]"]))
    new_tokens = [t for t in NEW if t not in OLD]
    np.testing.assert_array_equal(embedding_of(new, new_tokens), fresh[[NEW.index(t) for t in new_tokens]])
    (entry,) = report.loaded
    assert entry.detail == "21 rows carried, 8 new, 5 old dropped"  # 20 tokens + the OOV row


def test_mask_row_follows_the_mask_row(tmp_path):
    keras.utils.set_random_seed(1)
    old_model = tower(write(tmp_path / "old.txt", OLD), mask_token="", num_oov_indices=2)
    prefix = tf.train.Checkpoint(model=old_model).write(str(tmp_path / "day1"))
    new = tower(write(tmp_path / "new.txt", NEW), mask_token="", num_oov_indices=2)
    report = ws.warm_start(new, prefix, vocab={"item_emb/embeddings": ws.Vocab(
        str(tmp_path / "old.txt"), str(tmp_path / "new.txt"), mask_token="", num_oov_indices=2)})
    old_table = old_model.get_layer("item_emb").embeddings.numpy()
    new_table = new.get_layer("item_emb").embeddings.numpy()
    np.testing.assert_array_equal(new_table[:3], old_table[:3])  # mask row and both OOV rows
    shared = [t for t in NEW if t in OLD]
    np.testing.assert_array_equal(embedding_of(new, shared), embedding_of(old_model, shared))
    assert report.loaded[0].rows == (("carried", 23), ("new", 8), ("dropped", 5))


def test_a_table_without_its_lookup_that_does_not_fit_names_the_lookup_knobs(day1):
    """Without the lookup in the model (ids computed upstream), the row count still tells."""
    _, prefix, old_file, new_file = day1
    ids = keras.Input((1,), dtype="int32")
    new = keras.Model(ids, keras.layers.Embedding(len(NEW) + 1, 4, name="item_emb")(ids))
    with pytest.raises(ws.VocabError, match=r"(?s)has 29 rows, but the new vocabulary has 28 tokens.*"
                                            r"num_oov_indices=1 \(or mask_token=''\)"):
        ws.warm_start(new, prefix, vocab={"item_emb/.*": ws.Vocab(old_file, new_file)})
    report = ws.warm_start(new, prefix, vocab={"item_emb/.*": ws.Vocab(old_file, new_file, num_oov_indices=1)})
    assert report.loaded[0].detail == "21 rows carried, 8 new, 5 old dropped"


def test_layout_options_contradicting_a_lookup_or_each_other_are_errors(day1):
    _, prefix, old_file, new_file = day1
    new = tower(new_file)
    with pytest.raises(ws.VocabError, match="brings its own layout"):
        ws.warm_start(new, prefix, vocab={"item_emb/.*": ws.Vocab(old_file, new.get_layer("item_lookup"),
                                                                  num_oov_indices=1)})
    with pytest.raises(ws.VocabError, match="two different layouts"):
        ws.Vocab(old_file, new_file, num_oov_indices=1, num_oov_buckets=1)


def test_a_multi_hot_lookup_has_no_mask_row():
    from warmstart.remap import Layout, load_tokens
    from warmstart.remap.vocab import lookup_layout

    lookup = keras.layers.StringLookup(vocabulary=["a", "b"], mask_token="", output_mode="multi_hot")
    assert lookup.get_vocabulary() == ["[UNK]", "a", "b"]  # no mask entry in this mode
    assert lookup_layout(lookup) == Layout(mask=False, oov_first=1)
    assert load_tokens(lookup, label="x") == ["a", "b"]
    as_int = keras.layers.StringLookup(vocabulary=["a", "b"], mask_token="")
    assert lookup_layout(as_int) == Layout(mask=True, oov_first=1) and load_tokens(as_int, label="x") == ["a", "b"]
