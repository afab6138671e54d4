"""The plan: every decision of a warm start, as data, before anything is read or written.

Pure Python. :func:`warmstart.matching.make_plan` builds it; :mod:`warmstart.apply`
executes it; :mod:`warmstart.report` renders its outcome.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from .entries import nbytes

__all__ = ["Action", "Plan", "Skip", "SkipReason", "Step", "Strategy"]

Shape = tuple[int, ...]


class Action(enum.StrEnum):
    COPY = "copy"  # same shape and dtype
    CAST = "cast"  # same shape, safe dtype change
    OVERLAP = "overlap"  # shapes differ; the common block is copied
    VOCAB = "vocab"  # rows remapped by token


class SkipReason(enum.StrEnum):
    EXCLUDED = "excluded"
    SHAPE_MISMATCH = "shape_mismatch"
    DTYPE_MISMATCH = "dtype_mismatch"
    RENAME_NONE = "rename_none"


class Strategy(enum.StrEnum):
    """Which rule paired a target with its source."""

    RENAME = "rename"  # an explicit rename rule
    NAME = "name"  # equal names
    AUTO_NAME = "auto_name"  # equal up to Keras auto-name counters (dense_3 ~ dense_7)
    STRUCTURE = "structure"  # same path in the object graph (the checkpoint's name is unusable)


@dataclass(frozen=True, slots=True)
class Step:
    """Load ``source`` (checkpoint key ``key``) into ``target``."""

    target: str
    source: str
    key: str
    action: Action
    shape: Shape  # the target's shape
    source_shape: Shape
    dtype: str  # the target's dtype
    source_dtype: str
    strategy: Strategy
    by_structure: bool = False  # several candidates; a shared object-graph path decided
    rule: str | None = None  # the rename pattern that made the pair
    vocab: Any = field(default=None, compare=False, repr=False)  # (Vocab, RowMap) for VOCAB
    axis: int = 0  # the remapped axis, for VOCAB

    @property
    def detail(self) -> str:
        return self.vocab[1].describe() if self.vocab is not None else ""

    @property
    def block(self) -> Shape:
        """The region written: the whole target, or the common block for an overlap."""
        block = [min(a, b) for a, b in zip(self.shape, self.source_shape, strict=True)]
        if self.vocab is not None:  # the remapped axis is written row by row, in full
            block[self.axis] = self.shape[self.axis]
        return tuple(block)


@dataclass(frozen=True, slots=True)
class Skip:
    target: str
    source: str | None
    reason: SkipReason
    detail: str


@dataclass(frozen=True, slots=True)
class Plan:
    """What a warm start will do. ``problems`` would stop a real run (a dry run reports them)."""

    steps: tuple[Step, ...]
    skipped: tuple[Skip, ...]
    missing: tuple[str, ...]
    unused: tuple[str, ...]
    missing_detail: dict[str, str] = field(default_factory=dict)
    mismatch_errors: tuple[str, ...] = ()  # on_mismatch="error" pairs, full messages
    incomplete: tuple[str, ...] = ()  # strict: included targets not loaded

    @property
    def nbytes(self) -> int:
        return sum(nbytes(s.source_dtype, s.source_shape) for s in self.steps)
