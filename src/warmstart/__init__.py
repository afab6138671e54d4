"""warmstart: partial warm-starting of TensorFlow 2 / Keras models from checkpoints.

>>> import warmstart as ws
>>> report = ws.warm_start(new_model, "runs/v1")  # doctest: +SKIP
>>> print(report)  # doctest: +SKIP
"""

from .api import inspect_checkpoint, warm_start
from .entries import EntryKind, SourceEntry, TargetEntry
from .errors import (
    CheckpointNotFoundError,
    CheckpointReadError,
    IncompleteError,
    NothingToLoadError,
    RuleError,
    ShapeMismatchError,
    VocabError,
    WarmStartError,
)
from .plan import Action, SkipReason, Strategy
from .optimizers import OptimizerError
from .report import LoadedEntry, Report, SkippedEntry
from .rules import OnMismatch
from .slots import SlotEntry, SlotOutcome
from .targets import TargetNotBuiltError

__version__ = "0.1.0"

__all__ = [
    "Action",
    "CheckpointNotFoundError",
    "CheckpointReadError",
    "EntryKind",
    "IncompleteError",
    "LoadedEntry",
    "NothingToLoadError",
    "OnMismatch",
    "OptimizerError",
    "Report",
    "RuleError",
    "ShapeMismatchError",
    "SkipReason",
    "SkippedEntry",
    "SlotEntry",
    "SlotOutcome",
    "SourceEntry",
    "Strategy",
    "TargetEntry",
    "TargetNotBuiltError",
    "VocabError",
    "WarmStartError",
    "inspect_checkpoint",
    "warm_start",
]
