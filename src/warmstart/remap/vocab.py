"""``Vocab``: the rule that an embedding table's rows follow their tokens into a new
vocabulary, and reading the tokens (files, sequences, lookup layers).

Pure Python (numpy only). Vocabularies come from files (one token a line, as TF and
tf.Transform write them), token sequences, or Keras ``StringLookup``/``IntegerLookup``
layers (their tokens, without the mask and OOV entries, which their layout places).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import EllipsisType
from typing import Any, Literal

import numpy as np

from ..errors import VocabError
from .rows import Layout

__all__ = ["MEAN", "Initializer", "NewRows", "Vocab", "VocabSource", "is_lookup", "load_tokens", "lookup_layout",
           "read_vocab_file"]

VocabSource = str | os.PathLike[str] | Sequence[Any] | Any
Initializer = Callable[[tuple[int, ...], str], Any]
MEAN = "mean"
NewRows = Initializer | Literal["mean"]
"""What new rows get: ``initializer(shape, dtype)``, or ``"mean"``: the mean of the carried rows."""


@dataclass(frozen=True)
class Vocab:
    """Remap rows (``axis=0``) or columns (``axis=1``) of a table by token.

    Row ``i``'s token takes the checkpoint row of the same token. ``old``/``new`` are vocabulary
    files (one token a line), token sequences, or Keras ``StringLookup``/``IntegerLookup``
    layers. Where the rows that are not tokens sit is the table's *layout*:

    * **Keras lookup layers** put a mask row first (when ``mask_token`` is set), then
      ``num_oov_indices`` OOV rows, then the tokens: say so with ``num_oov_indices`` and
      ``mask_token``, the lookup's own arguments. A lookup layer given as ``old``/``new``
      brings its own layout.
    * **TF1** (``VocabInfo``, tf.Transform) puts the tokens first, then ``num_oov_buckets``
      OOV rows.

    The old side has the new side's Keras layout unless ``old_num_oov_indices`` /
    ``old_mask_token`` say otherwise; TF1 OOV buckets are carried only with
    ``old_num_oov_buckets``. Special rows follow their kind (mask to mask, OOV row k to OOV
    row k, as far as both sides have them). Rows of new tokens (and special rows the
    checkpoint lacks) keep the variable's current (freshly initialised) values, or get
    ``initializer(shape, dtype)`` when given, or with ``initializer="mean"`` the mean of the
    carried token rows (mask and OOV rows left out; as Hugging Face's ``resize_token_embeddings`` does): a new item then scores
    like an average one. Their optimizer slots keep their initial values either way.

    >>> lookup = keras.layers.StringLookup(vocabulary="vocab/items_v2.txt")  # 1 OOV row first
    >>> ws.Vocab("vocab/items_v1.txt", "vocab/items_v2.txt", num_oov_indices=1)  # doctest: +SKIP
    """

    old: VocabSource
    new: VocabSource
    num_oov_buckets: int = 0
    axis: int = 0
    old_num_oov_buckets: int = 0
    initializer: NewRows | None = field(default=None, compare=False)
    num_oov_indices: int = field(default=0, kw_only=True)
    mask_token: str | None = field(default=None, kw_only=True)
    old_num_oov_indices: int | None = field(default=None, kw_only=True)
    old_mask_token: str | None | EllipsisType = field(default=..., kw_only=True)

    def __post_init__(self) -> None:
        if self.axis not in (0, 1):
            raise VocabError(f"Vocab axis must be 0 (rows) or 1 (columns), not {self.axis!r}.")
        for name in ("num_oov_buckets", "old_num_oov_buckets", "num_oov_indices", "old_num_oov_indices"):
            value = getattr(self, name)
            if value is None and name == "old_num_oov_indices":
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise VocabError(f"Vocab {name} must be a non-negative int, not {value!r}.")
        init = self.initializer
        if not (init is None or init == MEAN or (callable(init) and not isinstance(init, str))):
            raise VocabError(
                f"Vocab initializer must be None (new rows keep their values), \"mean\" (the mean of the "
                f"carried rows) or a callable (shape, dtype) -> values, not {init!r}."
            )
        keras_layout = self.num_oov_indices or self.mask_token is not None or self.old_num_oov_indices
        if keras_layout and (self.num_oov_buckets or self.old_num_oov_buckets):
            raise VocabError(
                "Vocab: num_oov_buckets (TF1: OOV rows after the tokens) and num_oov_indices/mask_token "
                "(Keras lookups: mask and OOV rows before the tokens) describe two different layouts.\n"
                "  Fix: give the one the table has: a table fed by a StringLookup/IntegerLookup has the Keras one."
            )

    def layouts(self) -> tuple[Layout, Layout]:
        """(old, new) layouts as given (a lookup layer side replaces its own)."""
        new = Layout(mask=self.mask_token is not None, oov_first=self.num_oov_indices, oov_last=self.num_oov_buckets)
        old_mask = self.mask_token if self.old_mask_token is ... else self.old_mask_token
        old_first = self.num_oov_indices if self.old_num_oov_indices is None else self.old_num_oov_indices
        old = Layout(mask=old_mask is not None, oov_first=old_first, oov_last=self.old_num_oov_buckets)
        return old, new


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


def is_lookup(source: Any) -> bool:
    """A Keras ``StringLookup``/``IntegerLookup`` (Keras 3 or tf_keras), without importing Keras."""
    return hasattr(source, "get_vocabulary") and hasattr(source, "num_oov_indices")


def lookup_layout(layer: Any) -> Layout:
    """A lookup layer's rows: the mask row (if it has a mask token and gives indices: in the
    other output modes a lookup has no mask row), its OOV rows, its tokens."""
    mask = layer.mask_token is not None and getattr(layer, "output_mode", "int") == "int"
    return Layout(mask=mask, oov_first=int(layer.num_oov_indices))


def load_tokens(source: VocabSource, *, label: str) -> list[str]:
    """Tokens from a file path, a sequence, or a Keras lookup layer (without its mask and OOV
    entries: :func:`lookup_layout` places those); checked unique and non-empty."""
    if isinstance(source, (str, os.PathLike)):
        tokens = read_vocab_file(source)
        where = repr(os.fspath(source))
    elif is_lookup(source):
        layer: Any = source
        tokens = [_token(t) for t in layer.get_vocabulary()[lookup_layout(layer).leading:]]
        where = f"the {type(source).__name__} {getattr(source, 'name', '')!r}"
    elif isinstance(source, (Sequence, np.ndarray)):
        tokens = [_token(t) for t in source]
        where = "the token sequence"
    else:
        raise not_a_vocabulary(source, label)
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


def not_a_vocabulary(source: Any, label: str) -> VocabError:
    return VocabError(
        f"{label}: a vocabulary is a file path, a sequence of tokens or a StringLookup/IntegerLookup "
        f"layer, not {type(source).__name__}."
    )


def _token(t: Any) -> str:
    if isinstance(t, bytes):
        return t.decode("utf-8", "surrogateescape")
    if isinstance(t, np.generic):
        t = t.item()
    return t.decode("utf-8", "surrogateescape") if isinstance(t, bytes) else str(t)
