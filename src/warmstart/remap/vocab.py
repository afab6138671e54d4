"""``Vocab``: the rule that an embedding table's rows follow their tokens into a new
vocabulary, and reading the tokens (files, sequences, lookup layers).

Pure Python (numpy only). Vocabularies come from files (one token a line, as TF and
tf.Transform write them), token sequences, or Keras ``StringLookup``/``IntegerLookup``
layers (their ``get_vocabulary()``, special tokens included: the lookup's output index
is the table row).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ..errors import VocabError

__all__ = ["MEAN", "Initializer", "NewRows", "Vocab", "VocabSource", "load_tokens", "read_vocab_file"]

VocabSource = str | os.PathLike[str] | Sequence[Any] | Any
Initializer = Callable[[tuple[int, ...], str], Any]
MEAN = "mean"
NewRows = Initializer | Literal["mean"]
"""What new rows get: ``initializer(shape, dtype)``, or ``"mean"``: the mean of the carried rows."""


@dataclass(frozen=True)
class Vocab:
    """Remap rows (``axis=0``) or columns (``axis=1``) of a table by token.

    Row ``i`` of the new table takes the checkpoint row of the token ``new[i]``. Rows of new
    tokens and the ``num_oov_buckets`` OOV rows after them keep the variable's current
    (freshly initialised) values, or get ``initializer(shape, dtype)`` when given, or with
    ``initializer="mean"`` the mean of the carried rows (as Hugging Face's
    ``resize_token_embeddings`` does): a new item then scores like an average one. Their
    optimizer slots keep their initial values either way. With
    ``old_num_oov_buckets``, the checkpoint's OOV rows (after its tokens) are carried onto
    the new OOV rows, as far as both have them.

    >>> ws.Vocab("vocab/items_v1.txt", "vocab/items_v2.txt", num_oov_buckets=1)  # doctest: +SKIP
    """

    old: VocabSource
    new: VocabSource
    num_oov_buckets: int = 0
    axis: int = 0
    old_num_oov_buckets: int = 0
    initializer: NewRows | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.axis not in (0, 1):
            raise VocabError(f"Vocab axis must be 0 (rows) or 1 (columns), not {self.axis!r}.")
        for name in ("num_oov_buckets", "old_num_oov_buckets"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise VocabError(f"Vocab {name} must be a non-negative int, not {value!r}.")
        init = self.initializer
        if not (init is None or init == MEAN or (callable(init) and not isinstance(init, str))):
            raise VocabError(
                f"Vocab initializer must be None (new rows keep their values), \"mean\" (the mean of the "
                f"carried rows) or a callable (shape, dtype) -> values, not {init!r}."
            )


def read_vocab_file(path: str | os.PathLike[str], *, frequency: bool = False) -> list[str]:
    """Tokens of a vocabulary file, one a line. ``frequency=True`` reads tf.Transform files
    written with ``store_frequency`` ("<count> <token>" lines)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise VocabError(f"cannot read the vocabulary file {os.fspath(path)!r}: {e}.") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline
    if "\r" in text:
        lines = [line.removesuffix("\r") for line in lines]
    if frequency:
        tokens = []
        for n, line in enumerate(lines, 1):
            count, sep, token = line.partition(" ")
            if not sep or not count.lstrip("-").isdigit():
                raise VocabError(
                    f"{os.fspath(path)!r} line {n}: expected '<count> <token>' (frequency=True), got {line!r}."
                )
            tokens.append(token)
        return tokens
    return lines


def load_tokens(source: VocabSource, *, label: str) -> list[str]:
    """Tokens from a file path, a sequence, or a Keras lookup layer; checked unique and non-empty."""
    special: set[str] = set()
    if isinstance(source, (str, os.PathLike)):
        tokens = read_vocab_file(source)
        where = repr(os.fspath(source))
    elif hasattr(source, "get_vocabulary"):
        tokens = [_token(t) for t in source.get_vocabulary()]
        where = f"the {type(source).__name__} {getattr(source, 'name', '')!r}"
        oov = getattr(source, "oov_token", None)
        special = {_token(oov)} if oov is not None else set()
        tokens = _number_repeats(tokens, special)
    elif isinstance(source, (Sequence, np.ndarray)):
        tokens = [_token(t) for t in source]
        where = "the token sequence"
    else:
        raise VocabError(
            f"{label}: a vocabulary is a file path, a sequence of tokens or a StringLookup/IntegerLookup "
            f"layer, not {type(source).__name__}."
        )
    if not tokens:
        raise VocabError(f"{label}: {where} is empty.")
    if len(set(tokens)) != len(tokens):  # the fast check; the slow one only names the culprit
        seen: dict[str, int] = {}
        for i, t in enumerate(tokens):
            if t in seen:
                raise VocabError(
                    f"{label}: {where} has the token {t!r} twice (positions {seen[t]} and {i}); a row "
                    f"cannot follow a token that is not unique.\n  Fix: deduplicate the vocabulary."
                )
            seen[t] = i
    return tokens


def _token(t: Any) -> str:
    if isinstance(t, bytes):
        return t.decode("utf-8", "surrogateescape")
    if isinstance(t, np.generic):
        t = t.item()
    return t.decode("utf-8", "surrogateescape") if isinstance(t, bytes) else str(t)


def _number_repeats(tokens: list[str], special: set[str]) -> list[str]:
    """A lookup with several OOV indices repeats its OOV token: the k-th maps to the k-th."""
    counts: dict[str, int] = {}
    out = []
    for t in tokens:
        if t in special:
            k = counts.get(t, 0)
            counts[t] = k + 1
            t = f"{t}\x00{k}" if k else t
        out.append(t)
    return out
