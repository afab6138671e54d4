"""A bridge, until the transactional branch gives :class:`~.tf2.TF2Checkpoint` the row
contract of :mod:`.base` (``verify(key, ranges, *, chunk_bytes) -> RowChecks``,
``read_rows(checks)``): the TF2-based readers here speak it by calling the current methods.

TF2's ``verify`` checks the tensor's stored crc32c; the ranges' own fingerprints are left
empty (``crcs == ()``), so ``read_rows`` re-reads without comparing, as it does today. Delete
this module when ``TF2Checkpoint`` implements the contract itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from .base import RowChecks
from .tf2 import TF2Checkpoint

__all__ = ["RowContract", "TF2Source"]


class RowContract:
    """Mixin over a :class:`TF2Checkpoint` subclass: the new signatures on the old methods."""

    def verify(self, key: str, ranges: Sequence[tuple[int, int]], *, chunk_bytes: int) -> RowChecks:
        TF2Checkpoint.verify(self, key, chunk_bytes=chunk_bytes)  # type: ignore[arg-type]
        return RowChecks(key, tuple((int(a), int(b)) for a, b in ranges), ())

    def read_rows(self, checks: RowChecks) -> Iterator[Any]:
        return TF2Checkpoint.read_rows(self, checks.key, checks.ranges)  # type: ignore[arg-type]

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()  # type: ignore[attr-defined]


class TF2Source(RowContract, TF2Checkpoint):  # type: ignore[misc]
    """A TF2 checkpoint or SavedModel's variables, with the row contract."""
