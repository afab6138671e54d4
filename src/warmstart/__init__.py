"""warmstart: partial warm-starting of TensorFlow 2 / Keras models from checkpoints.

>>> import warmstart as ws
>>> report = ws.warm_start(new_model, "runs/v1")  # doctest: +SKIP
>>> print(report)  # doctest: +SKIP

The pure parts (rules, matching, plan, vocab) import without TensorFlow; ``warm_start``
and ``inspect_checkpoint`` load it on first use.
"""

import logging
from typing import TYPE_CHECKING, Any

from .entries import EntryKind, SourceEntry, TargetEntry
from .errors import (
    AbortedError,
    AmbiguousMatchError,
    ArgumentError,
    BusyError,
    CastOverflowError,
    CheckpointNotFoundError,
    CheckpointReadError,
    IncompleteError,
    NothingToLoadError,
    OptimizerError,
    ReplicasOutOfSyncError,
    ResumeError,
    RollbackError,
    RuleError,
    ShapeMismatchError,
    TargetNotBuiltError,
    UnsupportedStrategyError,
    UnsupportedTargetError,
    VocabError,
    WarmStartError,
)
from .plan import (
    Action,
    LoadedEntry,
    SkippedEntry,
    SkipReason,
    SlotEntry,
    SlotOutcome,
    StateEntry,
    StateKind,
    StateOutcome,
    Strategy,
)
from .remap import Hashed, Vocab, read_vocab_file
from .rules import OnMismatch
from .sources.locate import Location, locate

if TYPE_CHECKING:
    from .api import inspect_checkpoint, warm_start
    from .report import Report
    from .resume import restore_or_warm_start
    from .saving import save

# The one place the version is written: pyproject.toml reads it (setuptools' dynamic version),
# CHANGELOG.md's latest release must match it (tests/test_docs.py).
__version__ = "0.1.0"

# A library logs; the application decides where it goes (without this, warnings would
# reach stderr through Python's last-resort handler).
logging.getLogger(__name__).addHandler(logging.NullHandler())

_LAZY = {
    "warm_start": "api",
    "inspect_checkpoint": "api",
    "save": "saving",
    "Report": "report",
    "restore_or_warm_start": "resume",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'warmstart' has no attribute {name!r}")


__all__ = [
    "AbortedError",
    "Action",
    "AmbiguousMatchError",
    "ArgumentError",
    "BusyError",
    "CastOverflowError",
    "CheckpointNotFoundError",
    "CheckpointReadError",
    "EntryKind",
    "Hashed",
    "IncompleteError",
    "LoadedEntry",
    "Location",
    "NothingToLoadError",
    "OnMismatch",
    "OptimizerError",
    "ReplicasOutOfSyncError",
    "Report",
    "ResumeError",
    "RollbackError",
    "RuleError",
    "ShapeMismatchError",
    "SkipReason",
    "SkippedEntry",
    "SlotEntry",
    "SlotOutcome",
    "SourceEntry",
    "StateEntry",
    "StateKind",
    "StateOutcome",
    "Strategy",
    "TargetEntry",
    "TargetNotBuiltError",
    "UnsupportedStrategyError",
    "UnsupportedTargetError",
    "Vocab",
    "VocabError",
    "WarmStartError",
    "inspect_checkpoint",
    "locate",
    "read_vocab_file",
    "restore_or_warm_start",
    "save",
    "warm_start",
]
