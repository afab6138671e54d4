"""The demo's ranking model, as a team writes it on day 1 and changes it by day 2.

Day 1: user, item and weekday embeddings, the item popularity (a dense feature), the dot
product of the user and item vectors, all concatenated into an MLP tower (``tower_0``,
``tower_1``) and a sigmoid head (``head``). Day 2 changes what teams change between
runs: the item table follows a new vocabulary, a new ``hour`` feature gets its own
embedding (``hour_emb``), ``tower_0`` is wider, and the head is renamed ``click``. New
inputs are concatenated last, so the old ones keep their rows in ``tower_0``'s kernel, and
``on_mismatch="preserve"`` lines them up and zeroes the rows of the new ones.

The ``warm_start`` rules for that change live here too, next to the change they describe.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

__all__ = ["EXPECT_MISSING", "ITEM_TABLE", "ON_MISMATCH", "RENAME", "Shape", "compile_model", "ranker"]

# The rules a user writes for the day-2 change (the item table's Vocab needs the files).
ITEM_TABLE = r"item_emb/embeddings"
RENAME = [(r"click/(.*)", r"head/\1")]
ON_MISMATCH = {r"tower_.*": "preserve"}  # wider, and computing what day 1 computed
EXPECT_MISSING = [r"hour_emb/.*"]


@dataclass(frozen=True)
class Shape:
    """What differs between the two days' models."""

    users: int  # rows of the user table (tokens + OOV)
    items: int  # rows of the item table (tokens + OOV)
    width: int = 64  # tower_0's units
    hour: bool = False  # the day-2 feature
    head: str = "head"
    dim: int = 16


def ranker(shape: Shape, *, name: str) -> keras.Model:
    """The model, built (a functional model has its variables once constructed)."""
    user = keras.Input((), dtype="int32", name="user")
    item = keras.Input((), dtype="int32", name="item")
    day = keras.Input((), dtype="int32", name="weekday")
    popularity = keras.Input((1,), name="popularity")
    u = keras.layers.Embedding(shape.users, shape.dim, name="user_emb")(user)
    v = keras.layers.Embedding(shape.items, shape.dim, name="item_emb")(item)
    w = keras.layers.Embedding(7, 4, name="weekday_emb")(day)
    features = [keras.layers.Dot(axes=1, name="affinity")([u, v]), u, v, w, popularity]
    inputs = {"user": user, "item": item, "weekday": day, "popularity": popularity}
    if shape.hour:
        inputs["hour"] = keras.Input((), dtype="int32", name="hour")
        features.append(keras.layers.Embedding(24, 4, name="hour_emb")(inputs["hour"]))
    x = keras.layers.Concatenate(name="features")(features)
    x = keras.layers.Dense(shape.width, activation="relu", name="tower_0")(x)
    x = keras.layers.Dense(32, activation="relu", name="tower_1")(x)
    out = keras.layers.Dense(1, activation="sigmoid", name=shape.head)(x)
    return keras.Model(inputs, out, name=name)


def day1_shape(users: int, items: int) -> Shape:
    return Shape(users=users, items=items)


def day2_shape(users: int, items: int) -> Shape:
    return Shape(users=users, items=items, width=96, hour=True, head="click")


def compile_model(model: keras.Model, *, learning_rate: float) -> keras.optimizers.Adam:
    """Adam and log loss, as the training job compiles it; returns the optimizer."""
    optimizer = keras.optimizers.Adam(learning_rate)
    model.compile(optimizer=optimizer, loss=keras.losses.BinaryCrossentropy())
    return optimizer
