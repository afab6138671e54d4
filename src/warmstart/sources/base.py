"""The reader contract: what :mod:`warmstart.apply` asks of any checkpoint format.

A source is opened once (:func:`warmstart.sources.open_source`), planned against through its
``entries``, read through the methods below, and closed. ``apply`` never asks which format
it is: TF2 checkpoints, Keras files and TF1 checkpoints are all one of these.

Reads come in two kinds:

* **whole tensors**, verified before they are returned (``read``): what fits the memory budget;
* **row ranges** of large tensors, for streaming (``streamable``, ``verify``, ``read_rows``):
  ``verify`` checks a tensor's bytes with bounded memory; ``read_rows`` then yields row ranges
  of it straight from the file.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..entries import SourceEntry
from .locate import Location

__all__ = ["RowChecks", "Source"]


@dataclass(frozen=True, slots=True)
class RowChecks:
    """What ``verify`` saw of one tensor: the crc32c of the bytes of each row range, taken
    while the whole tensor was checked; ``read_rows`` re-reads the ranges and compares."""

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
        dtype. ``labels`` names keys in errors. Raises ``CheckpointReadError`` naming every
        key that cannot be read."""
        ...

    def streamable(self, key: str) -> bool:
        """Can ``key`` be verified and read by row ranges (a dense tensor of rank >= 1)?"""
        ...

    def verify(self, key: str, ranges: Sequence[tuple[int, int]], *, chunk_bytes: int) -> RowChecks:
        """Check all of ``key``'s bytes, reading at most ``chunk_bytes`` at a time, and
        fingerprint each row range ``[start, stop)``. Raises ``CheckpointReadError``."""
        ...

    def read_rows(self, checks: RowChecks) -> Iterator[Any]:
        """The rows of each range of ``checks``, in order, as tensors; raises
        ``CheckpointReadError`` before yielding a range whose bytes differ from what
        ``verify`` saw. A yielded tensor may be reused for a later range: use it before
        asking for the next."""
        ...

    def close(self) -> None:
        """Release the files. Reading after ``close`` is an error."""
        ...

    def __enter__(self) -> Any:
        """``with open_source(path) as source:`` closes it after the block."""
        ...

    def __exit__(self, *exc: object) -> None: ...
