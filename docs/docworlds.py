"""The worlds the docs' code blocks run in: tiny real models and real checkpoints in a folder.

A code block in the docs uses names it does not define (``model``, ``"runs/v1"``, ``x``) the
way a reader's own code would have them. A *world* provides them: ``make(name, folder)``
writes the files into ``folder`` (the blocks run with it as the working directory) and
returns the namespace the blocks start from. What each world holds is listed in
:data:`WORLDS`; a page picks one with ``<!-- docs: world NAME -->`` before a block
(see ``docrun.py``).

Every world starts as a fresh process would: Keras' auto-name counters reset and the seeds
set, so that what the blocks print is the same in ``regenerate.py`` and in the tests.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

USERS = 50
ITEMS_V1 = [f"item{i:02d}" for i in range(30)]
# Day 2: five items gone, eight new, the list re-sorted (as a pipeline sorts by frequency).
ITEMS_V2 = [(ITEMS_V1[5:] + [f"new{i}" for i in range(8)])[(7 * i) % 33] for i in range(33)]

MODELS_PY = '''"""The team's model code: day 1's ranker, and day 2's."""

from docworlds import ranker


def build_v1():
    return ranker("vocab/items_v1.txt")


def build_v2():
    model = ranker("vocab/items_v2.txt", hour=True, width=24, head="click")
    model.compile(optimizer="adam", loss="binary_crossentropy")
    return model
'''


def ranker(items: str, *, hour: bool = False, width: int = 16, head: str = "head") -> Any:
    """A Keras recommender: item ids (strings) through a ``StringLookup`` into ``item_emb``,
    user ids into ``user_emb``, on day 2 an ``hour`` feature with ``hour_emb`` concatenated
    last; an MLP tower ``tower_0`` -> ``tower_1`` and a sigmoid head."""
    import keras

    user = keras.Input((), dtype="int32", name="user")
    item = keras.Input((), dtype="string", name="item")
    lookup = keras.layers.StringLookup(vocabulary=items, name="item_lookup")  # 1 OOV row first
    inputs = {"user": user, "item": item}
    features = [keras.layers.Embedding(USERS, 8, name="user_emb")(user),
                keras.layers.Embedding(lookup.vocabulary_size(), 8, name="item_emb")(lookup(item))]
    if hour:
        inputs["hour"] = keras.Input((), dtype="int32", name="hour")
        features.append(keras.layers.Embedding(24, 4, name="hour_emb")(inputs["hour"]))
    x = keras.layers.Concatenate(name="features")(features)
    x = keras.layers.Dense(width, activation="relu", name="tower_0")(x)
    x = keras.layers.Dense(8, activation="relu", name="tower_1")(x)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", name=head)(x), name="ranker")


def logs(n: int, *, items: list[str], hour: bool, seed: int) -> tuple[dict[str, Any], Any]:
    """``n`` interactions: features ``x`` and a 0/1 label ``y``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x: dict[str, Any] = {"user": rng.integers(0, USERS, n).astype("int32"),
                         "item": np.array(items, dtype=object)[rng.integers(0, len(items), n)]}
    if hour:
        x["hour"] = rng.integers(0, 24, n).astype("int32")
    return x, rng.integers(0, 2, (n, 1)).astype("float32")


def _fresh(seed: int = 0) -> None:
    """As a new process: auto-names from ``dense``, ``adam``; seeded initialisers."""
    import keras

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)


def _write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def _day1(folder: Path) -> None:
    """Day 1, trained and checkpointed as a training job does, in every form the docs use."""
    import keras
    import tensorflow as tf

    _write(folder / "vocab" / "items_v1.txt", "".join(t + "\n" for t in ITEMS_V1))
    _write(folder / "vocab" / "items_v2.txt", "".join(t + "\n" for t in ITEMS_V2))
    _write(folder / "models.py", MODELS_PY)
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        _fresh(1)
        model = ranker("vocab/items_v1.txt")
        model.compile(optimizer="adam", loss="binary_crossentropy")
        x, y = logs(256, items=ITEMS_V1, hour=False, seed=1)
        model.fit(x, y, batch_size=64, epochs=1, verbose=0)
        checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
        tf.train.CheckpointManager(checkpoint, "runs/v1", max_to_keep=3).save()
        Path("models").mkdir()
        model.save("models/v1.keras")
        # The same run, its data file cut short (as a copy that did not finish leaves it).
        shutil.copytree("runs/v1", "runs/broken")
        data = next(Path("runs/broken").glob("*.data-*"))
        data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
        # Two models in one checkpoint, as a GAN is saved.
        _fresh(2)
        generator = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, name="hidden"),
                                      keras.layers.Dense(4, name="out")], name="generator")
        critic = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, name="hidden"),
                                   keras.layers.Dense(1, name="out")], name="critic")
        tf.train.Checkpoint(generator=generator, critic=critic).write("runs/gan/ckpt-1")
    finally:
        os.chdir(cwd)


_CACHE: dict[str, Path] = {}


def _cached(name: str, build: Callable[[Path], None]) -> Path:
    """Files a world copies: written once per process (a trained checkpoint takes seconds)."""
    if name not in _CACHE:
        folder = Path(tempfile.mkdtemp(prefix=f"warmstart-docs-{name}-"))
        atexit.register(shutil.rmtree, folder, True)
        build(folder)
        _CACHE[name] = folder
    return _CACHE[name]


def _base() -> dict[str, Any]:
    import keras
    import numpy as np
    import tensorflow as tf

    import warmstart as ws

    return {"ws": ws, "keras": keras, "tf": tf, "np": np}


def recsys(folder: Path) -> dict[str, Any]:
    """Day 1's run and day 2's model.

    Files: ``runs/v1`` (a ``CheckpointManager`` directory: the day-1 ranker and its Adam,
    after training), ``models/v1.keras`` (the same model, ``model.save``), ``vocab/items_v1.txt``
    and ``vocab/items_v2.txt`` (30 items; day 2: 5 gone, 8 new, re-sorted), ``runs/broken``
    (``runs/v1`` with its data file cut in half), ``runs/gan/ckpt-1``
    (``tf.train.Checkpoint(generator=..., critic=...)``), ``models.py`` (``build_v1``,
    ``build_v2`` for ``--model``). Names: ``model`` (day 2's ranker, built and compiled with
    Adam: a new ``hour_emb``, ``tower_0`` 16 -> 24 units, the head renamed ``click``, the item
    table on the new vocabulary), ``build_model`` (makes another one, uncompiled), ``x``, ``y``
    (day 2's logs: 256 interactions).
    """
    shutil.copytree(_cached("day1", _day1), folder, dirs_exist_ok=True)
    _fresh(0)

    def build_model() -> Any:
        return ranker("vocab/items_v2.txt", hour=True, width=24, head="click")

    model = build_model()
    model.compile(optimizer="adam", loss="binary_crossentropy")
    x, y = logs(256, items=ITEMS_V2, hour=True, seed=2)
    return {**_base(), "model": model, "build_model": build_model, "x": x, "y": y}


def blank(folder: Path) -> dict[str, Any]:
    """An empty folder; the blocks build what they use. Names: ``ws``, ``keras``, ``tf``, ``np``."""
    _fresh(0)
    return _base()


def failing_undo(folder: Path) -> dict[str, Any]:
    """``recsys``, on a machine whose disk fails during an undo: the second variable that an
    undo puts back raises ``OSError("the disk went away")`` (for the ``RollbackError`` entry of
    the troubleshooting page; put right by :func:`cleanup`)."""
    from warmstart.apply import undo

    restore = undo.Journal._restore
    count = [0]

    def failing(self: Any, record: Any) -> None:
        count[0] += 1
        if count[0] == 2:
            raise OSError("the disk went away")
        restore(self, record)

    undo.Journal._restore = failing  # type: ignore[method-assign,assignment]
    _CLEANUPS.append(lambda: setattr(undo.Journal, "_restore", restore))
    return recsys(folder)


WORLDS: dict[str, Callable[[Path], dict[str, Any]]] = {"recsys": recsys, "blank": blank,
                                                       "failing_undo": failing_undo}
_CLEANUPS: list[Callable[[], None]] = []


def cleanup() -> None:
    """Undo what a world changed outside its folder (see :func:`failing_undo`)."""
    while _CLEANUPS:
        _CLEANUPS.pop()()


def make(name: str, folder: Path) -> dict[str, Any]:
    """The namespace of world ``name``, its files written into ``folder``; run from ``folder``."""
    if name not in WORLDS:
        raise KeyError(f"no docs world {name!r}; there are: {', '.join(WORLDS)}")
    cleanup()
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        return WORLDS[name](folder)
    finally:
        os.chdir(cwd)
