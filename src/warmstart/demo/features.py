"""The demo's data pipeline: vocabulary files, and logs turned into model inputs.

Each run builds its item vocabulary from its own training logs, most frequent first (as
tf.Transform's ``vocabulary`` does), and writes it to a file, one token a line; ids not in
it go to one OOV bucket after the last token. So between runs the item table changes
size, new items appear, gone ones drop out and every row moves: the table can only be
carried by token, which is what ``ws.Vocab`` does with the two files. The user vocabulary
is built on day 1 and kept, so the user table keeps its shape and is carried by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .data import Interactions, hour, weekday

__all__ = ["Features", "Pipeline", "Vocabulary", "frequency_order"]


def frequency_order(tokens: np.ndarray) -> list[str]:
    """Distinct tokens, most frequent first; ties by token, so the order is reproducible."""
    values, counts = np.unique(tokens, return_counts=True)
    order = np.lexsort((values, -counts))
    return [str(v) for v in values[order]]


@dataclass(frozen=True)
class Vocabulary:
    """Tokens in table order, one OOV bucket after them, and the file they were written to."""

    tokens: tuple[str, ...]
    path: Path
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})

    @classmethod
    def write(cls, tokens: list[str], path: Path) -> Vocabulary:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{t}\n" for t in tokens), encoding="utf-8")
        return cls(tuple(tokens), path)

    @property
    def size(self) -> int:
        """Rows of the embedding table: the tokens and the OOV bucket."""
        return len(self.tokens) + 1

    def lookup(self, tokens: np.ndarray) -> np.ndarray:
        oov = len(self.tokens)
        return np.fromiter((self._index.get(str(t), oov) for t in tokens), "int32", count=len(tokens))


@dataclass(frozen=True)
class Features:
    """Model inputs by input name, and the labels."""

    inputs: dict[str, np.ndarray]
    label: np.ndarray

    def __len__(self) -> int:
        return int(self.label.size)

    def batch(self, index: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        return {k: v[index] for k, v in self.inputs.items()}, self.label[index]


@dataclass(frozen=True)
class Pipeline:
    """One run's feature pipeline: its vocabularies and the item counts of its training logs.

    Inputs: ``user`` and ``item`` (table rows), ``weekday`` (0-6), ``popularity`` (log1p of
    the item's interactions per 10,000 in the run's training logs), and, for the day-2
    model, ``hour`` (0-23).
    """

    users: Vocabulary
    items: Vocabulary
    item_rate: np.ndarray  # per item row: interactions per 10,000 (OOV row: 0)
    hour: bool

    @classmethod
    def fit(cls, train: Interactions, *, users: Vocabulary, item_vocab_path: Path, hour: bool) -> Pipeline:
        items = Vocabulary.write(frequency_order(train.item), item_vocab_path)
        counts = np.bincount(items.lookup(train.item), minlength=items.size).astype("float64")
        counts[-1] = 0.0
        return cls(users, items, 1e4 * counts / max(len(train), 1), hour)

    def encode(self, logs: Interactions) -> Features:
        item = self.items.lookup(logs.item)
        inputs = {
            "user": self.users.lookup(logs.user),
            "item": item,
            "weekday": weekday(logs.timestamp).astype("int32"),
            "popularity": np.log1p(self.item_rate[item]).astype("float32")[:, None],
        }
        if self.hour:
            inputs["hour"] = hour(logs.timestamp).astype("int32")
        return Features(inputs, logs.label.astype("float32")[:, None])
