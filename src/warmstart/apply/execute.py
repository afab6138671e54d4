"""Execute a plan's steps: read and verify, then write through an undo log; held within the
memory budget, streamed beyond it.

What is guaranteed (the README's "Transactional" paragraph says the same):

* **One snapshot.** The source was opened once; every byte written comes from its held
  files, verified: a held tensor's crc32c is checked when it is read; a streamed tensor is
  checked whole in the first pass, which also fingerprints each row range, and every range
  is checked again when the second pass reads it, before it is written.
* **All or nothing.** Nothing is written before every byte that will be written has been
  verified once. Every write goes through a :class:`~.undo.Journal`; if anything fails
  during the writes (a read error, bytes changed since they were verified, an exception or
  ``KeyboardInterrupt`` from the ``progress`` callback, a SIGINT, an error from TF), every
  variable written is put back, then a :class:`~warmstart.errors.WarmStartError` is raised
  with the cause chained (a ``KeyboardInterrupt`` is raised again as itself).
* **Memory.** Peak memory above the model stays within ``memory_budget`` plus the
  constants below. Within the budget everything is read (and verified), then written; old
  values are kept by reference for the undo (no copy). Beyond it, half the budget holds
  small tensors, in batches if needed, and the other half is the working memory of the
  streamed ones (:mod:`.stream`, strings included); the overwritten values go to the undo
  file. Beyond the budget: a remap's row pairs (32 bytes a carried row, with the plan's;
  its vocabulary join happens before this stage), and a tensor that cannot be streamed (a
  column remap, a tensor stored in slices across columns, a variant) and is larger than
  half the budget, which is held whole (logged).
* **No after-effect.** Variables written in place (``scatter_update``) are taken out of
  TF's copy-on-read mode once the writes are done (or undone), so that later dense reads
  (a forward pass) share their buffer again.

``memory_budget=None`` holds everything, as ``tf.train.Checkpoint.restore`` does (+1x the data).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import tensorflow as tf

from ..entries import nbytes
from ..errors import AbortedError, CastOverflowError, CheckpointReadError, WarmStartError, join_problems
from ..plan import Action, Step
from ..sources.base import Source
from ..targets.distributed import placement
from .preserve import write_placed, write_zeros
from .stream import plan_stream, stream
from .transform import CarriedMean, fresh_values, prepared
from .undo import Journal

__all__ = ["DEFAULT_MEMORY_BUDGET", "Progress", "execute"]

log = logging.getLogger(__name__)

DEFAULT_MEMORY_BUDGET = 256 << 20

Progress = Callable[[int, int], None]  # (bytes done, bytes total), over both passes

_MIN_CHUNK = 1 << 20


def execute(
    steps: Sequence[Step],
    source: Source,
    variables: Mapping[str, Any],
    *,
    memory_budget: int | None = DEFAULT_MEMORY_BUDGET,
    progress: Progress | None = None,
    diverged: Collection[str] = (),
) -> None:
    """Write every step's value into ``variables[step.target]``, all or nothing. ``diverged``:
    targets whose mirrored replicas differ (each replica saved for the undo on its own)."""
    apart = [id(variables[name]) for name in diverged]
    sizes = [source.nbytes(s.key) for s in steps]
    costs = [_held_cost(s, n) for s, n in zip(steps, sizes, strict=True)]
    tick = _Ticker(progress, sum(sizes))
    if memory_budget is None or sum(costs) <= memory_budget:
        values = _read(steps, source)
        _transaction(Journal(diverged=apart), lambda j: _write(steps, values, variables, j, tick, source))
        return
    working = memory_budget // 2  # streamed tensors' working memory; the rest holds small ones
    allowance = memory_budget - working
    chunk = max(_MIN_CHUNK, working // 4)
    streamed = [
        plan_stream(s, n, working, **_shard_cuts(s, variables[s.target], source))
        for s, n, c in zip(steps, sizes, costs, strict=True)
        if c > chunk and _can_stream(s, source)
    ]
    names = {p.step.target for p in streamed}
    held = [s for s in steps if s.target not in names]
    held_costs = [c for s, c in zip(steps, costs, strict=True) if s.target not in names]
    batches = list(_batches(held, held_costs, allowance if sum(held_costs) > allowance else None, chunk))
    held_bytes = sum(source.nbytes(s.key) for s in held)
    tick.total += sum(p.nbytes for p in streamed) + (held_bytes if len(batches) > 1 else 0)
    log.info("%.1f MiB to load exceeds the %.1f MiB memory budget: verifying %d tensor(s) first, then "
             "streaming them", sum(sizes) / 2**20, memory_budget / 2**20, len(streamed))

    checks = []  # pass 1: verify everything, fingerprint what is streamed; write nothing
    for plan in streamed:
        with _naming(plan.step):
            checks.append(source.verify(plan.step.key, plan.ranges, chunk_bytes=chunk))
        tick(plan.nbytes)
    held_values = None
    if len(batches) == 1:
        held_values = _read(batches[0], source)
    else:
        for batch in batches:
            source.read(_keys(batch), _labels(batch))  # checksums only; read again to write
            tick(sum(source.nbytes(s.key) for s in batch))

    def writes(journal: Journal) -> None:  # pass 2
        if held_values is not None:
            _write(batches[0], held_values, variables, journal, tick, source)
        else:
            for batch in batches:
                _write(batch, _read(batch, source), variables, journal, tick, source)
        for plan, check in zip(streamed, checks, strict=True):
            with _naming(plan.step):
                stream(plan, check, source, variables[plan.step.target], journal, tick)

    _transaction(Journal(keep_limit=allowance // 2 if held_values is None else None, diverged=apart), writes)


def _transaction(journal: Journal, writes: Callable[[Journal], None]) -> None:
    """Run ``writes``; on any failure undo them all and raise (see the module's note)."""
    try:
        writes(journal)
    except BaseException as e:
        written = journal.writes
        try:
            journal.rollback()  # raises RollbackError if it cannot
        finally:
            journal.close()
        log.info("warm start failed after %d write(s); all undone", written)
        if isinstance(e, WarmStartError):
            raise
        if not isinstance(e, Exception):  # KeyboardInterrupt, SystemExit: raised as themselves
            e.add_note("warmstart: the warm start was undone; every variable is as it was before the call.")
            raise
        raise AbortedError(
            f"writing failed ({type(e).__name__}: {_first_line(e)}); every variable written was put "
            f"back as it was before the call."
        ) from e
    log.debug("undo log: %.1f MiB held by reference, %.1f MiB spilled, %.1f MiB kept on parameter servers",
              journal.kept_bytes / 2**20, journal.spilled_bytes / 2**20, journal.ps_kept_bytes / 2**20)
    journal.commit()


class _Ticker:
    """Progress in bytes; an exception from the callback becomes an AbortedError."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress, self.total, self.done = progress, total, 0

    def __call__(self, n: int) -> None:
        self.done += n
        if self.progress is None:
            return
        try:
            self.progress(self.done, self.total)
        except Exception as e:
            raise AbortedError(
                f"the progress callback raised {type(e).__name__}: {_first_line(e)}; the warm start "
                f"stopped, and every variable is as it was before the call."
            ) from e


def _held_cost(step: Step, read_bytes: int) -> int:
    """Memory a held step takes: what is read, plus its transformed value when it differs."""
    if step.action is Action.COPY and step.remap is None:
        return read_bytes
    return read_bytes + (nbytes(step.dtype, step.block) or read_bytes)


def _keys(steps: Sequence[Step]) -> list[str]:
    return list(dict.fromkeys(s.key for s in steps))


def _labels(steps: Sequence[Step]) -> dict[str, str]:
    """What errors call each key: the model's variables it loads (``d/kernel@velocities`` for a
    slot), not the checkpoint's name (``optimizer/_variables/3``)."""
    targets: dict[str, list[str]] = {}
    for s in steps:
        targets.setdefault(s.key, []).append(s.target)
    return {key: ", ".join(dict.fromkeys(names)) for key, names in targets.items()}


@contextmanager
def _naming(step: Step) -> Iterator[None]:
    """A streamed tensor's read errors say which model variable it was for."""
    try:
        yield
    except CheckpointReadError as e:
        raise CheckpointReadError(f"cannot read {step.target!r} (key {step.key!r}): {e}") from e


def _can_stream(step: Step, source: Source) -> bool:
    if step.remap is not None and step.remap.axis != 0:
        return False  # column remaps (class-vocabulary output layers) are small: held
    return len(step.source_shape) >= 1 and source.streamable(step.key)


def _shard_cuts(step: Step, v: Any, source: Source) -> dict[str, Any]:
    """Where a streamed step's row ranges are cut: at the target's shard boundaries and the
    checkpoint's stored slices (in source rows), so that a range is read from the slices
    that hold it and written into one shard."""
    where = placement(v)
    offset = step.origin[0] if step.shape else 0
    cuts = {b - offset for b in where.bounds}
    row_slices = getattr(source, "row_slices", None)
    if row_slices is not None:
        cuts |= set(itertools.accumulate(row_slices(step.key)))
    return {"bounds": tuple(sorted(cuts)), "split": where.sharded}


def _read(steps: Sequence[Step], source: Source) -> list[tf.Tensor]:
    keys = _keys(steps)
    read = dict(zip(keys, source.read(keys, _labels(steps)), strict=True))
    values, overflows = [], []
    for s in steps:  # every value that does not fit, in one error
        try:
            values.append(prepared(s, read[s.key]))
        except CastOverflowError as e:
            overflows.append(e)
    if len(overflows) == 1:
        raise overflows[0]
    if overflows:
        raise CastOverflowError(join_problems("values do not fit the model's dtypes:", [str(e) for e in overflows]))
    return values


def _write(steps: Sequence[Step], values: list[tf.Tensor], variables: Mapping[str, Any], journal: Journal,
           tick: _Ticker, source: Source) -> None:
    for n, step in enumerate(steps):
        v = variables[step.target]
        value, values[n] = values[n], None  # the list lets go: written values are not held twice
        if step.remap is not None:
            journal.rows(step.target, v, step.remap.rows.new_rows, value, axis=step.remap.axis)
            fresh = fresh_values(step, CarriedMean.of(step, value))
            if fresh is not None:
                journal.rows(step.target, v, step.remap.rows.fresh_rows, fresh, axis=step.remap.axis)
            write_zeros(journal, v, step)
        elif step.action in (Action.OVERLAP, Action.PRESERVE):
            write_placed(journal, v, step, value)
        else:
            journal.assign(step.target, v, value)
        del value
        tick(source.nbytes(step.key))


def _batches(steps: Sequence[Step], costs: Sequence[int], limit: int | None,
             chunk: int = _MIN_CHUNK) -> Iterator[list[Step]]:
    """Consecutive batches of at most ``limit`` bytes (one batch when ``limit`` is None); a
    step larger than the limit is a batch of its own (logged: it is held whole)."""
    batch: list[Step] = []
    size = 0
    for s, n in zip(steps, costs, strict=True):
        if limit is not None and n > limit:
            why = (f"is not larger than one streaming chunk ({chunk / 2**20:.0f} MiB)" if n <= chunk
                   else "cannot be streamed")
            log.warning("%s (%.2f MiB) %s and is larger than half the memory budget: it is held whole",
                        s.target, n / 2**20, why)
        if batch and limit is not None and size + n > limit:
            yield batch
            batch, size = [], 0
        batch.append(s)
        size += n
    if batch or not steps:
        yield batch


def _first_line(e: BaseException) -> str:
    text = str(e) or type(e).__name__
    return text.strip().splitlines()[0].rstrip(".")
