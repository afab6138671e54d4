"""``ws.Vocab(..., initializer="mean")``: new tokens' rows start at the mean of the carried rows
(held and streamed), their optimizer slots at their init, and the report says ``mean``."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from support import save

import warmstart as ws

OLD = [f"item{i}" for i in range(40)]
rng = np.random.default_rng(0)
NEW = [OLD[i] for i in rng.permutation(40)[:30]] + [f"fresh{i}" for i in range(12)]  # 10 gone, 12 new
rng.shuffle(NEW)


def table_model(rows: int, width: int = 6) -> keras.Model:
    ids = keras.Input((), dtype="int32")
    return keras.Model(ids, keras.layers.Dense(1, name="out")(keras.layers.Embedding(rows, width, name="emb")(ids)))


def test_new_rows_are_the_mean_of_the_carried_rows_and_slots_keep_their_init(tmp_path):
    keras.utils.set_random_seed(0)
    old = table_model(len(OLD) + 1)
    old.compile(optimizer="adam", loss="mse")
    ids = np.arange(len(OLD) + 1, dtype="int32")
    old.fit(ids, np.linspace(-1, 1, len(ids)).astype("float32")[:, None], epochs=2, verbose=0)
    prefix = save(tmp_path, model=old, optimizer=old.optimizer)

    new = table_model(len(NEW) + 1)
    optimizer = keras.optimizers.Adam()
    vocab = ws.Vocab(OLD, NEW, num_oov_buckets=1, old_num_oov_buckets=1, initializer="mean")
    report = ws.warm_start(new, prefix, vocab={"emb/embeddings": vocab}, optimizer=optimizer)

    table_old, table_new = old.get_layer("emb").embeddings.numpy(), new.get_layer("emb").embeddings.numpy()
    index = {t: i for i, t in enumerate(OLD)}
    carried = [i for i, t in enumerate(NEW) if t in index] + [len(NEW)]  # the OOV row is carried too
    sources = [index[NEW[i]] for i in carried[:-1]] + [len(OLD)]
    np.testing.assert_array_equal(table_new[carried], table_old[sources])
    fresh = [i for i, t in enumerate(NEW) if t not in index]
    assert len(fresh) == 12
    mean = table_old[sources[:-1]].astype("float64").mean(axis=0)  # the OOV row is not a token: not averaged
    np.testing.assert_allclose(table_new[fresh], np.broadcast_to(mean, (12, 6)), rtol=1e-6)

    momentum = next(v for v in optimizer.variables if v.path.endswith("emb_embeddings_momentum")).numpy()
    assert (momentum[fresh] == 0).all() and np.abs(momentum[carried]).sum() > 0  # new rows' slots: init

    (entry,) = [e for e in report.loaded if e.target == "emb/embeddings"]
    assert entry.detail == "31 rows carried, 12 new (mean of 30 token rows), 10 old dropped"
    assert report.to_dict()["loaded"][[e.target for e in report.loaded].index("emb/embeddings")]["detail"] == (
        entry.detail)
    assert "vocab: 31 rows carried, 12 new (mean of 30 token rows), 10 old dropped" in str(report)


def test_streamed_mean_equals_the_held_one(tmp_path):
    rows, width = 20_000, 64  # 5 MiB: streamed in row chunks under a 1 MiB budget
    table = np.random.default_rng(1).normal(size=(rows, width)).astype("float32")
    prefix = save(tmp_path, emb=tf.Variable(table))
    old_vocab = [f"t{i}" for i in range(rows)]
    keep = np.random.default_rng(2).permutation(rows)[: rows * 4 // 5]
    new_vocab = [old_vocab[i] for i in keep] + [f"new{i}" for i in range(rows // 5)]
    vocab = {"emb": ws.Vocab(old_vocab, new_vocab, initializer="mean")}
    held = {"emb": tf.Variable(np.zeros((len(new_vocab), width), "float32"))}
    streamed = {"emb": tf.Variable(np.zeros((len(new_vocab), width), "float32"))}
    ws.warm_start(held, prefix, vocab=vocab)
    ws.warm_start(streamed, prefix, vocab=vocab, memory_budget=1 << 20)
    expected = table[keep].astype("float64").mean(axis=0)
    for target in (held, streamed):
        got = target["emb"].numpy()
        np.testing.assert_array_equal(got[: len(keep)], table[keep])
        np.testing.assert_allclose(got[len(keep):], np.broadcast_to(expected, (rows // 5, width)), rtol=1e-5,
                                   atol=1e-7)


def test_mean_on_a_narrower_block_fills_the_block_only(tmp_path):
    """With the width grown too (overlap), the mean is as wide as the carried rows; the rest
    of a new row keeps its value."""
    old = np.arange(40 * 4, dtype="float32").reshape(40, 4)
    prefix = save(tmp_path, emb=tf.Variable(old))
    target = {"emb": tf.Variable(np.full((len(NEW), 6), -1, "float32"))}
    ws.warm_start(target, prefix, vocab={"emb": ws.Vocab(OLD, NEW, initializer="mean")}, on_mismatch="overlap")
    got = target["emb"].numpy()
    carried = [OLD.index(t) for t in NEW if t in OLD]
    fresh = [i for i, t in enumerate(NEW) if t not in OLD]
    np.testing.assert_allclose(got[fresh, :4], np.broadcast_to(old[carried].mean(axis=0), (12, 4)), rtol=1e-6)
    assert (got[fresh, 4:] == -1).all()


def test_a_bad_initializer_fails_before_anything_is_read():
    with pytest.raises(ws.VocabError, match='"mean"'):
        ws.Vocab(OLD, NEW, initializer="average")


@pytest.mark.parametrize("budget", [None, 1024], ids=["held", "streamed"])
def test_the_mean_leaves_out_the_lookups_mask_and_oov_rows(tmp_path, budget):
    # a lookup's mask row and OOV rows are carried (mask to mask, OOV to OOV) but are not
    # tokens: a new token starts as an average token, not partly as the OOV row
    old_tokens = [f"t{i}" for i in range(40)]
    new_tokens = old_tokens[::-1][:30] + ["new_a", "new_b"]

    def build(tokens: list[str]) -> keras.Model:
        inp = keras.Input((1,), dtype="string")
        lookup = keras.layers.StringLookup(vocabulary=tokens, mask_token="", num_oov_indices=2, name="lk")
        return keras.Model(inp, keras.layers.Embedding(len(tokens) + 3, 8, name="emb")(lookup(inp)))

    day1 = build(old_tokens)
    table = np.arange(43 * 8, dtype=np.float32).reshape(43, 8)
    table[:3] = 1e4  # mask and OOV rows far from every token row
    day1.get_layer("emb").embeddings.assign(table)
    prefix = tf.train.Checkpoint(model=day1).write(str(tmp_path / "ckpt"))
    day2 = build(new_tokens)
    report = ws.warm_start(day2, prefix, memory_budget=budget, vocab={"emb/embeddings": ws.Vocab(
        day1.get_layer("lk"), day2.get_layer("lk"), initializer="mean")})
    assert report.loaded[0].detail == "33 rows carried, 2 new (mean of 30 token rows), 10 old dropped"
    got = day2.get_layer("emb").embeddings.numpy()
    carried = [3 + old_tokens.index(t) for t in new_tokens[:30]]
    np.testing.assert_array_equal(got[:3], table[:3])
    np.testing.assert_array_equal(got[3:33], table[carried])
    np.testing.assert_allclose(got[33:], np.broadcast_to(table[carried].mean(axis=0), (2, 8)), rtol=1e-6)
