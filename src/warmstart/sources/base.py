"""The reader contract: what :mod:`warmstart.apply` asks of any checkpoint format.

A source is opened once (:func:`warmstart.sources.open_source`), planned against through its
``entries``, read through the methods below, and closed (it is a context manager too).
``apply`` never asks which format it is: TF2 checkpoints, Keras files and TF1 checkpoints
are all one of these.

**One snapshot.** Opening a source takes a snapshot: every file it will read is opened once,
and every later read goes through those handles, never the paths again. So a rename, an
unlink or a rewrite-by-rename of the checkpoint while a warm start runs cannot change what
is read. Bytes changed in place (the same file overwritten or truncated) can; the checks
below catch them before they are written.

Reads come in two kinds:

* **whole tensors**, verified before they are returned (``read``): what fits the memory budget;
* **row ranges** of large tensors, for streaming: ``verify`` checks a tensor's bytes with
  bounded memory and fingerprints the row ranges that will be read (``RowChecks``);
  ``read_rows`` then reads each range again and raises before yielding one whose bytes are
  not the ones verified.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, Self, runtime_checkable

from ..entries import SourceEntry
from .locate import Location

__all__ = ["RowChecks", "Source"]


@dataclass(frozen=True, slots=True)
class RowChecks:
    """Fingerprints taken while verifying a tensor: the crc32c of each row range's bytes
    (row-major, as ``read_rows`` yields them), so that the second read can be checked."""

    key: str
    ranges: tuple[tuple[int, int], ...]
    crcs: tuple[int, ...]


@runtime_checkable
class Source(Protocol):
    """An opened checkpoint."""

    location: Location
    """Where it is: the path its reader opened, its format, its files."""
    entries: tuple[SourceEntry, ...]
    """Every entry, under the names rules refer to."""
    models: tuple[str, ...]
    """The sub-objects that each hold a model, when the checkpoint holds several
    (``Checkpoint(generator=g, discriminator=d)``); ``source_root`` picks one."""

    def read(self, keys: Sequence[str], labels: Mapping[str, str] | None = None) -> list[Any]:
        """The whole tensors of ``keys``, verified (checksums, sizes), as tensors of the stored
        dtype, from the snapshot taken at open. ``labels`` names keys in errors. Raises
        ``CheckpointReadError`` naming every key that cannot be read."""
        ...

    def nbytes(self, key: str) -> int:
        """Bytes ``read([key])`` holds in memory: the dense size, or for a string tensor its
        stored bytes plus TF's 24-byte string header per element."""
        ...

    def streamable(self, key: str) -> bool:
        """Can ``key`` be verified and read by row ranges (a dense tensor of rank >= 1)?"""
        ...

    def verify(self, key: str, ranges: Sequence[tuple[int, int]], *, chunk_bytes: int) -> RowChecks:
        """Check the whole of ``key``'s bytes (of a tensor stored in row slices: the whole of
        every slice the ranges read) and fingerprint each row range ``[start, stop)`` (sorted,
        not overlapping), reading at most about ``chunk_bytes`` at a time. Raises
        ``CheckpointReadError``."""
        ...

    def read_rows(self, checks: RowChecks) -> Iterator[Any]:
        """Rows ``[start, stop)`` of ``checks.key`` for each of its ranges, in order, as tensors.
        Raises ``CheckpointReadError`` before yielding a range whose bytes differ from the
        verified ones. A yielded tensor may be reused for a later range: use it before asking
        for the next."""
        ...

    def close(self) -> None:
        """Release the files (idempotent). Reading after ``close`` is an error."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...
