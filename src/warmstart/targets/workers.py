"""``MultiWorkerMirroredStrategy``: every worker runs its own warm start into its own copy of
the variables, and nothing else makes them agree. Workers given different vocabularies,
rules or checkpoint files would each load correctly for what they were given and silently
train on diverged replicas. So before anything is written the workers compare what they will
write: a digest of the plan (every step by its variable's position, its row map, the stored
checksums of what it reads, and the kinds of problem the run has found), broadcast from the
first replica and compared on every worker; any difference is a
:class:`~warmstart.errors.ReplicasOutOfSyncError` on every worker, before any write. Two small
collectives a round, only when a variable of the target belongs to a
``MultiWorkerMirroredStrategy``.

A worker whose call fails before this check (a vocabulary that does not fit its table) takes
part in it with its failure (``warm_start`` sees to it), so the others raise at once and the
workers' collectives stay in step. A worker that stops otherwise (killed, interrupted) is
waited for up to :data:`AGREE_TIMEOUT_S`; then the others raise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from ..plan import Step
from .distributed import strategy_of

__all__ = ["AGREE_TIMEOUT_S", "plan_digest", "workers_disagree"]

AGREE_TIMEOUT_S = 600
"""How long a worker waits for the others at the check (they may still be joining a large
vocabulary); then the warm start fails, nothing written."""

_MWMS = ("CollectiveAllReduceStrategy", "MultiWorkerMirroredStrategy")
_PARTS = 4  # the 64-bit digest in 16-bit pieces: exact in an int32 sum over any worker count


def plan_digest(steps: Sequence[Step], checksums: Callable[[str], tuple[int, ...]],
                problems: Iterable[str] = (), order: Mapping[str, int] | None = None) -> int:
    """A 64-bit digest of what ``steps`` will write: each step's target (its position in
    ``order`` when given: auto-name counters may differ between processes), source key,
    action, shapes, dtypes, placement and row map, the checkpoint's stored checksums of the
    key (``checksums``), and ``problems`` (what would stop the run)."""
    h = hashlib.blake2b(digest_size=8)
    for s in steps:
        target: str | int = s.target if order is None else order.get(s.target, s.target)
        h.update(repr((target, s.key, s.action.value, s.shape, s.source_shape, s.dtype, s.source_dtype,
                       s.offset, s.zero, checksums(s.key))).encode())
        if s.remap is not None:
            rows = s.remap.rows
            h.update(repr((s.remap.axis, rows.new_size, rows.old_size, _initializer(s.remap.initializer))).encode())
            for array in (rows.new_rows, rows.old_rows):
                h.update(np.ascontiguousarray(array, np.int64).data)
    for p in problems:
        h.update(p.encode("utf-8", "surrogatepass"))
    return int.from_bytes(h.digest(), "little")


def _initializer(init: Any) -> str:
    if init is None or isinstance(init, str):
        return str(init)
    return str(getattr(init, "__qualname__", None) or type(init).__qualname__)


def workers_disagree(variables: Iterable[Any], digest: Callable[[], int]) -> str | None:
    """Under ``MultiWorkerMirroredStrategy`` (if one of ``variables`` belongs to it): why the
    workers would write different values, or None when every worker's ``digest()`` equals
    the first replica's. Every worker must call it, at the same point, with its own digest."""
    strategy = next((s for s in map(strategy_of, variables) if s is not None and type(s).__name__ in _MWMS), None)
    if strategy is None:
        return None
    mine = digest()
    pieces = [(mine >> (16 * k)) & 0xFFFF for k in range(_PARTS)]
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=AGREE_TIMEOUT_S)

    def summed(value_fn: Callable[[Any], tf.Tensor]) -> np.ndarray:
        values = strategy.experimental_distribute_values_from_function(value_fn)
        return np.asarray(strategy.extended.reduce_to(tf.distribute.ReduceOp.SUM, values, "/cpu:0", options=options))

    try:  # the first replica's digest, on every worker; then how many replicas differ from it
        first = summed(lambda ctx: tf.constant(pieces if ctx.replica_id_in_sync_group == 0 else [0] * _PARTS,
                                               tf.int32))
        differ = int(not np.array_equal(first, pieces))
        count = int(summed(lambda ctx: tf.constant([differ], tf.int32))[0])
    except tf.errors.OpError as e:  # timed out, a peer gone, or collectives out of step
        why = (str(e).strip().splitlines() or [""])[0][:200]
        return (f"the workers of MultiWorkerMirroredStrategy did not all take part in the warm start's agreement "
                f"check ({type(e).__name__}: {why}): another worker stopped before it (it waits up to "
                f"{AGREE_TIMEOUT_S} s); nothing was written.\n"
                f"  Fix: see the other workers' errors; every worker calls warm_start with the same arguments.")
    if not count:
        return None
    whose = "this worker's" if differ else "another worker's"
    return (f"the workers of MultiWorkerMirroredStrategy would write different values: {whose} plan differs "
            f"from the first replica's ({count} replica(s) differ), so the replicas would train apart. Different "
            f"vocabularies, rules or options, checkpoint files that differ between the workers, or a worker "
            f"whose warm start failed (see its error) do this; nothing was written.\n"
            f"  Fix: give every worker the same arguments and the same checkpoint (a path, not 'the latest' "
            f"resolved at different times).")
