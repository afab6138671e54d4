"""Vocabulary remap by token: rows follow their tokens into a grown, re-sorted vocabulary."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from support import assert_untouched, save, snapshot

import warmstart as ws
from warmstart.remap import Layout, load_tokens, row_map
from warmstart.remap.vocab import lookup_layout

OLD = [f"item{i}" for i in range(40)]
rng = np.random.default_rng(0)
NEW = [OLD[i] for i in rng.permutation(40)[:30]] + [f"fresh{i}" for i in range(12)]  # 10 gone, 12 new
rng.shuffle(NEW)


def write_vocab(path, tokens):
    path.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    return str(path)


def tf1_oracle(prefix, key, new_shape, old_file, new_file, *, oov=0, axis=0, dtype="float32"):
    """What TF1's warm_start with VocabInfo gives for the same checkpoint."""
    var = tf.Variable(np.full(new_shape, np.nan, dtype), name="oracle")
    info = tf.compat.v1.train.VocabInfo(
        new_vocab=new_file, new_vocab_size=len(open(new_file).read().split()), num_oov_buckets=oov,
        old_vocab=old_file, backup_initializer=tf.compat.v1.constant_initializer(np.nan), axis=axis,
    )
    tf.compat.v1.train.warm_start(prefix, vars_to_warm_start=[var], var_name_to_vocab_info={"oracle": info},
                                  var_name_to_prev_var_name={"oracle": key})
    return var.numpy()


def test_row_map_counts():
    rows = row_map(["a", "b", "c"], ["c", "x", "a"], num_oov_buckets=2, old_num_oov_buckets=1)
    assert rows.new_rows.tolist() == [0, 2, 3] and rows.old_rows.tolist() == [2, 0, 3]
    assert (rows.carried, rows.fresh, rows.dropped) == (3, 2, 1)
    assert rows.fresh_rows.tolist() == [1, 4]


def test_tokens_from_files_sequences_and_lookup_layers(tmp_path):
    assert load_tokens(write_vocab(tmp_path / "v.txt", ["a", "b c", "é"]), label="x") == ["a", "b c", "é"]
    (tmp_path / "f.txt").write_text("12 a\n3 b\n")
    assert ws.read_vocab_file(tmp_path / "f.txt", frequency=True) == ["a", "b"]
    assert load_tokens([b"a", "b", 3], label="x") == ["a", "b", "3"]
    lookup = keras.layers.StringLookup(vocabulary=["x", "y"], num_oov_indices=2, mask_token="")
    assert lookup.get_vocabulary() == ["", "[UNK]", "[UNK]", "x", "y"]
    assert load_tokens(lookup, label="x") == ["x", "y"]  # the mask and OOV rows are its layout
    assert lookup_layout(lookup) == Layout(mask=True, oov_first=2) and lookup_layout(lookup).leading == 3
    assert load_tokens(keras.layers.IntegerLookup(vocabulary=[7, 9]), label="x") == ["7", "9"]


@pytest.mark.parametrize(
    "source, match",
    [(["a", "b", "a"], "twice"), ([], "empty"), ("/nonexistent/vocab.txt", "cannot read"), (3.5, "not float")],
)
def test_bad_vocabularies(source, match):
    with pytest.raises(ws.VocabError, match=match):
        load_tokens(source, label="vocab['emb']")


def test_matches_tf1_warm_start_axis0(tmp_path):
    old = tf.Variable(rng.normal(size=(40, 6)).astype("float32"))
    prefix = save(tmp_path, emb=old)
    old_file, new_file = write_vocab(tmp_path / "old.txt", OLD), write_vocab(tmp_path / "new.txt", NEW)
    target = {"emb": tf.Variable(np.full((len(NEW) + 2, 6), -3.0, "float32"))}
    report = ws.warm_start(target, prefix, vocab={"emb": ws.Vocab(old_file, new_file, num_oov_buckets=2)})
    got = target["emb"].numpy()
    expected = tf1_oracle(prefix, "emb/.ATTRIBUTES/VARIABLE_VALUE", got.shape, old_file, new_file, oov=2)
    carried = ~np.isnan(expected[:, 0])
    assert carried.sum() == 30
    np.testing.assert_array_equal(got[carried], expected[carried])
    assert (got[~carried] == -3.0).all()  # new tokens and OOV rows keep their initial values
    entry = report.loaded[0]
    assert entry.action is ws.Action.VOCAB and entry.detail == "30 rows carried, 14 new, 10 old dropped"
    assert report.to_dict()["loaded"][0]["detail"] == entry.detail
    assert report.to_dict()["loaded"][0]["rows"] == {"carried": 30, "new": 14, "dropped": 10}


def test_class_vocabulary_axis1_and_bias_axis0_match_tf1(tmp_path):
    kernel = tf.Variable(rng.normal(size=(5, 40)).astype("float32"))
    bias = tf.Variable(rng.normal(size=(40,)).astype("float32"))
    prefix = save(tmp_path, kernel=kernel, bias=bias)
    old_file, new_file = write_vocab(tmp_path / "old.txt", OLD), write_vocab(tmp_path / "new.txt", NEW)
    target = {"kernel": tf.Variable(np.zeros((5, 42), "float32")), "bias": tf.Variable(np.zeros(42, "float32"))}
    ws.warm_start(target, prefix, vocab={
        "kernel": ws.Vocab(old_file, new_file, axis=1), "bias": ws.Vocab(old_file, new_file, axis=0)})
    expected = tf1_oracle(prefix, "kernel/.ATTRIBUTES/VARIABLE_VALUE", (5, 42), old_file, new_file, axis=1)
    carried = ~np.isnan(expected[0])
    np.testing.assert_array_equal(target["kernel"].numpy()[:, carried], expected[:, carried])
    expected_bias = bias.numpy()[[OLD.index(t) for t in NEW if t in OLD]]
    np.testing.assert_array_equal(target["bias"].numpy()[carried], expected_bias)


def test_any_dtype_and_rank_old_oov_rows_and_initializer(tmp_path):
    old = tf.Variable(np.arange(43 * 2 * 3, dtype="int64").reshape(43, 2, 3))  # 40 tokens + 3 OOV
    prefix = save(tmp_path, t=old)
    target = {"t": tf.Variable(np.full((len(NEW) + 2, 2, 3), -1, "int64"))}
    vocab = ws.Vocab(OLD, NEW, num_oov_buckets=2, old_num_oov_buckets=3,
                     initializer=lambda shape, dtype: np.full(shape, 99, dtype))
    report = ws.warm_start(target, prefix, vocab={"t": vocab})
    got, src = target["t"].numpy(), old.numpy()
    for i, token in enumerate(NEW):
        expected = src[OLD.index(token)] if token in OLD else np.full((2, 3), 99)
        np.testing.assert_array_equal(got[i], expected, err_msg=token)
    np.testing.assert_array_equal(got[len(NEW):], src[40:42])  # two old OOV rows carried, third dropped
    assert report.loaded[0].detail == "32 rows carried, 12 new, 11 old dropped"


def test_remap_with_overlap_on_the_width(tmp_path):
    old = tf.Variable(rng.normal(size=(40, 4)).astype("float32"))
    prefix = save(tmp_path, emb=old)
    target = {"emb": tf.Variable(np.zeros((42, 6), "float32"))}
    with pytest.raises(ws.ShapeMismatchError, match="other axes differ"):
        ws.warm_start(target, prefix, vocab={"emb": ws.Vocab(OLD, NEW)}, on_mismatch="error")
    ws.warm_start(target, prefix, vocab={"emb": ws.Vocab(OLD, NEW)}, on_mismatch="overlap")
    got = target["emb"].numpy()
    i = NEW.index(OLD[5]) if OLD[5] in NEW else NEW.index(next(t for t in NEW if t in OLD))
    np.testing.assert_array_equal(got[i, :4], old.numpy()[OLD.index(NEW[i])])
    assert (got[:, 4:] == 0).all()


@pytest.mark.parametrize(
    "vocab, match",
    [
        (ws.Vocab(OLD, NEW[:-1]), r"model's table has 42 rows, but the new vocabulary has 41 tokens, laid out as "
         r"the tokens: 41 rows.\n.*num_oov_indices=1 \(or mask_token=''\).*num_oov_buckets=1\."),
        (ws.Vocab(OLD[:-2], NEW), r"(?s)checkpoint's table 'emb' has 40 rows, but the old vocabulary has 38 tokens"
         r".*old_num_oov_indices=2 \(or old_mask_token='' and old_num_oov_indices=1\).*old_num_oov_buckets=2"),
        (ws.Vocab(OLD, NEW, num_oov_buckets=3), r"3 row\(s\) short"),
    ],
    ids=["new-too-short", "old-too-short", "too-many-oov"],
)
def test_vocabulary_that_does_not_fit(tmp_path, vocab, match):
    prefix = save(tmp_path, emb=tf.Variable(np.ones((40, 4), "float32")), w=tf.Variable(np.ones(2, "float32")))
    target = {"emb": tf.Variable(np.zeros((42, 4), "float32")), "w": tf.Variable(np.zeros(2, "float32"))}
    before = snapshot(target)
    with pytest.raises(ws.VocabError, match=match):
        ws.warm_start(target, prefix, vocab={"emb": vocab})
    assert_untouched(before, target)


def test_vocab_rule_that_matched_nothing(tmp_path):
    prefix = save(tmp_path, emb=tf.Variable(np.ones((40, 4), "float32")))
    target = {"emb": tf.Variable(np.zeros((42, 4), "float32"))}
    with pytest.raises(ws.VocabError, match=r"'items/.*' matched no variable.*emb"):
        ws.warm_start(target, prefix, vocab={"items/.*": ws.Vocab(OLD, NEW)})


def test_slots_follow_the_rows(tmp_path):
    ids = np.arange(40, dtype="int32")[:, None]
    keras.utils.set_random_seed(0)

    def model(n):
        inp = keras.Input((1,), dtype="int32")
        out = keras.layers.Dense(1, name="head")(keras.layers.Flatten()(keras.layers.Embedding(n, 3, name="emb")(inp)))
        return keras.Model(inp, out)

    old = model(40)
    old.compile(keras.optimizers.Adagrad(0.1, initial_accumulator_value=0.5), "mse")
    old.fit(ids, np.linspace(0, 1, 40)[:, None], epochs=2, verbose=0)
    prefix = save(tmp_path, model=old, optimizer=old.optimizer)
    new = model(42)
    opt = keras.optimizers.Adagrad(0.1, initial_accumulator_value=0.5)
    report = ws.warm_start(new, prefix, optimizer=opt, vocab={"emb/embeddings": ws.Vocab(OLD, NEW)})
    assert ("emb/embeddings", "accumulators", ws.Action.VOCAB) in {(e.target, e.slot, e.action) for e in report.slots}
    old_acc, new_acc = old.optimizer._accumulators[0].numpy(), opt._accumulators[0].numpy()
    for i, token in enumerate(NEW):
        expected = old_acc[OLD.index(token)] if token in OLD else np.full(3, 0.5, "float32")
        np.testing.assert_array_equal(new_acc[i], expected, err_msg=token)
    old_emb, new_emb = old.get_layer("emb").embeddings.numpy(), new.get_layer("emb").embeddings.numpy()
    for i, token in enumerate(NEW):
        if token in OLD:
            np.testing.assert_array_equal(new_emb[i], old_emb[OLD.index(token)], err_msg=token)


def test_a_remap_that_carries_no_row_is_an_error_naming_both_sides(tmp_path):
    prefix = save(tmp_path, emb=tf.Variable(np.ones((40, 4), "float32")))
    wrong = [f"w{i}" for i in range(42)]  # e.g. the wrong column of the day-2 file
    target = {"emb": tf.Variable(np.zeros((42, 4), "float32"))}
    before = snapshot(target)
    for strict in (False, True):
        with pytest.raises(ws.VocabError) as e:
            ws.warm_start(target, prefix, vocab={"emb": ws.Vocab(OLD, wrong)}, strict=strict)
        message = str(e.value)
        assert "vocab['emb'] on 'emb' (axis 0): no row would be carried" in message
        assert f"none of the 42 new tokens ('w0', 'w1', 'w2', ...) is among the 40 old ones ({OLD[0]!r}" in message
    assert_untouched(before, target)


def test_a_remap_that_carries_less_than_half_of_the_old_rows_is_warned(tmp_path, caplog):
    old = tf.Variable(rng.normal(size=(40, 4)).astype("float32"))
    prefix = save(tmp_path, emb=old)
    few = OLD[:10] + [f"w{i}" for i in range(32)]
    target = {"emb": tf.Variable(np.zeros((42, 4), "float32"))}
    report = ws.warm_start(target, prefix, vocab={"emb": ws.Vocab(OLD, few)})
    np.testing.assert_array_equal(target["emb"].numpy()[:10], old.numpy()[:10])
    (warning,) = report.warnings
    assert warning.startswith("'emb': the remap carries 10 of the checkpoint's 40 tokens (25%)")
    assert "1 warning(s)" in report.summary() and "WARNING: 'emb': the remap carries 10 of" in str(report)
    assert report.to_dict()["warnings"] == [warning] and report.ok
    assert any(warning in r.getMessage() for r in caplog.records)
    report = ws.warm_start(target, prefix, vocab={"emb": ws.Vocab(OLD, OLD[:20] + few[10:32])})
    assert report.warnings == ()  # half carried: no warning


def test_hashed_bins_that_divide_keep_every_key_row(tmp_path):
    keras.utils.set_random_seed(2)
    old_bins, new_bins = 10, 30
    old = tf.Variable(rng.normal(size=(old_bins, 3)).astype("float32"))
    prefix = save(tmp_path, emb=old)
    target = {"emb": tf.Variable(np.zeros((new_bins, 3), "float32"))}
    report = ws.warm_start(target, prefix, vocab={"emb": ws.Hashed(old_bins, new_bins)})
    hashing_old, hashing_new = keras.layers.Hashing(old_bins), keras.layers.Hashing(new_bins)
    keys = tf.constant([f"user{i}" for i in range(200)])
    got = tf.gather(target["emb"], hashing_new(keys)).numpy()
    want = tf.gather(old, hashing_old(keys)).numpy()
    np.testing.assert_array_equal(got, want)  # every key's embedding is its old one
    assert report.loaded[0].detail == "hashed: 10 -> 30 bins, every key keeps its row"


def test_hashed_bins_that_do_not_divide_say_what_share_kept_its_row(tmp_path):
    old = tf.Variable(rng.normal(size=(100, 3)).astype("float32"))
    prefix = save(tmp_path, emb=old)
    target = {"emb": tf.Variable(np.zeros((150, 3), "float32"))}
    report = ws.warm_start(target, prefix, vocab={"emb": ws.Hashed(100, 150)})
    keys = tf.constant([f"k{i}" for i in range(4000)])
    kept = np.mean(np.all(tf.gather(target["emb"], keras.layers.Hashing(150)(keys)).numpy()
                          == tf.gather(old, keras.layers.Hashing(100)(keys)).numpy(), axis=1))
    assert 0.4 < kept < 0.6  # gcd(150, 100) / 100 = 50% of keys, measured over 4,000 keys
    assert report.loaded[0].detail == "hashed: 100 -> 150 bins, 50% of keys keep their row (150 is not a multiple of 100)"
    with pytest.raises(ws.VocabError, match=r"(?s)has 150 rows, but ws.Hashed says new_bins=200.*Fix: new_bins=150"):
        ws.warm_start(target, prefix, vocab={"emb": ws.Hashed(100, 200)})
    with pytest.raises(ws.VocabError, match="positive int"):
        ws.Hashed(0, 10)
