"""Typed errors. Every one is a :class:`WarmStartError`; none leaves a write behind: an error
raised after writes began comes after they were undone (or, if undoing failed, is a
:class:`RollbackError` that says which variables are in which state).

Each message names the variable (or file), both shapes where relevant, and ends in
something to change. Several failures of one kind are raised once, together.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AbortedError",
    "AmbiguousMatchError",
    "ArgumentError",
    "BusyError",
    "CastOverflowError",
    "CheckpointNotFoundError",
    "CheckpointReadError",
    "IncompleteError",
    "NothingToLoadError",
    "OptimizerError",
    "ReplicasOutOfSyncError",
    "ResumeError",
    "RollbackError",
    "RuleError",
    "ShapeMismatchError",
    "TargetNotBuiltError",
    "UnsupportedStrategyError",
    "UnsupportedTargetError",
    "VocabError",
    "WarmStartError",
    "join_problems",
]


class WarmStartError(Exception):
    """Base of every error this library raises on purpose."""


class ArgumentError(WarmStartError, TypeError, ValueError):
    """An argument of the call is not one it takes: a ``memory_budget`` below 0, a source that is
    not a path, an unknown ``optimizer_step``. Also a ``TypeError``/``ValueError``.

    >>> ws.warm_start(model, "runs/v1", memory_budget=-1)  # doctest: +SKIP
    ArgumentError: memory_budget must be None or a number of bytes >= 0, not -1.
    """


class CheckpointNotFoundError(WarmStartError, FileNotFoundError):
    """The source path does not exist or holds no checkpoint.

    >>> ws.warm_start(model, "runs/does-not-exist")  # doctest: +SKIP
    CheckpointNotFoundError: no checkpoint at 'runs/does-not-exist': the path does not exist.
    """

    def __str__(self) -> str:  # FileNotFoundError would print "[Errno None] ..." otherwise
        return str(self.args[0]) if self.args else ""


class CheckpointReadError(WarmStartError):
    """The checkpoint exists but cannot be read: corrupt index, truncated or damaged data
    (TF's crc32c checksum failed), a missing data shard, or an unsupported format."""


class ResumeError(WarmStartError):
    """The run's own checkpoint does not fit the objects it is restored into.

    >>> ws.restore_or_warm_start(manager_of_a_changed_model, "runs/v1")  # doctest: +SKIP
    ResumeError: cannot resume from the run's own checkpoint 'runs/v2/ckpt-4': it does not fit ...
    """


class ShapeMismatchError(WarmStartError):
    """A paired variable's shape or dtype differs and its policy is ``"error"``.

    Raised only when ``on_mismatch`` says ``"error"`` for that name; the default skips.
    """


class CastOverflowError(WarmStartError):
    """A cast (a safe one such as float32 -> float16, or one allowed with ``cast=``) meets a
    finite checkpoint value that the model's dtype cannot hold: it would become inf, or an
    integer would wrap. Raised before that variable is written, and after the variables
    written before it were put back. Infs and NaNs already in the checkpoint load as they are;
    values too small for the dtype become 0 (precision, not range).

    >>> ws.warm_start(model_in_float16, "runs/v1")  # doctest: +SKIP
    CastOverflowError: cannot warm-start 'bn/moving_variance' from 'bn/moving_variance':
      2 of 3 value(s) are beyond float16's range (float32 -> float16 makes them inf); ...
    """


class RuleError(WarmStartError):
    """A rule is invalid or did nothing: a bad regex, an include/exclude/rename/on_mismatch/
    expect_missing pattern that matched no variable, a rename whose sources do not exist,
    two targets claiming one source, or one target that would get two sources."""


class IncompleteError(WarmStartError):
    """``strict=True`` and some included target would not be loaded (and is not covered by
    ``expect_missing``). Raised before any write."""


class AmbiguousMatchError(IncompleteError):
    """``strict=True`` and some pairing is a guess: the model and the checkpoint hold different
    numbers of auto-named layers of one class (``dense``, ``dense_1``, ...), so no name says
    which layer is new. Raised before any write; without ``strict`` the report warns."""


class TargetNotBuiltError(WarmStartError, ValueError):
    """The model has no variables yet (a subclassed or Sequential model before its first
    call). Build it first: ``model.build(input_shape)`` or call it once on a batch."""


class UnsupportedTargetError(WarmStartError, TypeError):
    """The target is not a Keras model or layer, a ``tf.Module`` or a mapping of variables."""


class UnsupportedStrategyError(UnsupportedTargetError):
    """A variable is held by a ``tf.distribute`` strategy that warmstart cannot write on every
    device (``TPUStrategy``, ``CentralStorageStrategy``, ...), or the call was made in a
    replica context (inside ``strategy.run``). Raised before anything is written.

    >>> with central_storage.scope(): model = build()  # doctest: +SKIP
    >>> ws.warm_start(model, "runs/v1")  # doctest: +SKIP
    UnsupportedStrategyError: cannot write 'd/kernel', 'd/bias': each is an AggregatingVariable of CentralStorageStrategy; ...
    """


class ReplicasOutOfSyncError(WarmStartError):
    """The replicas of a mirrored variable differ before a warm start that writes part of it
    (a write went through one replica's handle; Keras 3's ``fit`` leaves BatchNormalization
    statistics so), or the workers of a ``MultiWorkerMirroredStrategy`` would write different
    values (other arguments or checkpoint files on one of them). Raised before anything is
    written, on every worker.

    >>> mirrored_kernel[0:2].assign(x)  # outside the scope: reaches replica 0 only  # doctest: +SKIP
    >>> ws.warm_start(model, "runs/v1")  # doctest: +SKIP
    ReplicasOutOfSyncError: the replicas of 'd/kernel' (MirroredStrategy) are out of sync: ...
    """


class OptimizerError(WarmStartError, ValueError):
    """The optimizer cannot carry slots for this target: it was built on variables that are
    not the target's, or it is of a kind warmstart does not know."""


class VocabError(WarmStartError):
    """A vocabulary that cannot be used for a remap."""


class NothingToLoadError(WarmStartError):
    """The warm start would load no variable at all. Loading nothing is never a success:
    usually the rules exclude everything or the checkpoint belongs to another model."""


class AbortedError(WarmStartError):
    """The warm start was stopped by something other than the checkpoint: the ``progress``
    callback raised, or a write failed (TF ran out of memory, ...). Every variable written
    was put back first; the cause is chained (``__cause__``). A ``KeyboardInterrupt`` is not
    wrapped: it is raised again as itself, after the same undo.

    >>> ws.warm_start(model, "runs/v1", progress=stop_after_1_gib)  # doctest: +SKIP
    AbortedError: the progress callback raised ValueError: enough; nothing was left written.
    """


class RollbackError(WarmStartError):
    """A warm start failed after writing, and putting the written variables back failed too.
    The message names every variable restored, every one still holding what was written,
    and the one that failed; the error from the undo is chained. Rebuild the model."""


class BusyError(WarmStartError):
    """A warm start was started from inside another one that writes the same variables, on
    the same thread (from its ``progress`` callback). Warm starts into the same variables
    from different threads do not raise this: they run one after the other. Raised from a
    ``progress`` callback, it stops the outer warm start too, which then raises an
    ``AbortedError`` whose ``__cause__`` is this error (everything undone)."""


def join_problems(headline: str, problems: Sequence[str], *, limit: int = 20) -> str:
    """One message for several failures: the count, the first in full, then the rest."""
    if not problems:
        return headline
    if len(problems) == 1:
        return f"{headline}\n{problems[0]}"
    first, rest = problems[0], problems[1:]
    shown = [f"  - {_one_line(p)}" for p in rest[:limit]]
    more = len(rest) - len(shown)
    tail = f"\n  ... and {more} more" if more > 0 else ""
    return (
        f"{headline} ({len(problems)} problems)\n{first}\nThe other {len(rest)}:\n"
        + "\n".join(shown)
        + tail
    )


def _one_line(problem: str) -> str:
    """A problem without its fix, on one line (the fix was shown with the first)."""
    lines = []
    for line in problem.splitlines():
        if line.strip().startswith("Fix:"):
            break
        lines.append(line.strip())
    return " ".join(lines)
