"""Large arrays of the joins in mappings of their own, with 4 KiB pages.

NumPy asks the kernel for transparent huge pages on every large array. Where the kernel then
compacts memory to find them on the first touch (``defrag=madvise``, a common default, this
machine's), touching a fresh array costs 0.5-2.5 ms a MiB, varying run to run, against about
0.4 ms a MiB for 4 KiB pages (fresh processes, 300 MiB arrays). The joins touch hundreds of
MiB of fresh memory (a 16-million-token join: 1.2 GiB), so they allocate it here: an anonymous
private mapping per array (no ``madvise``), given back to the system when the array is freed.
Elsewhere than Linux, plain ``np.empty``.
"""

from __future__ import annotations

import mmap
import sys
from typing import Any

import numpy as np

__all__ = ["empty", "full"]

_MAPPED_MIN = 1 << 20  # bytes; smaller arrays come from NumPy's allocator
_LINUX = sys.platform.startswith("linux")


def empty(count: int, dtype: Any) -> np.ndarray:
    """An uninitialised 1-D array of ``count`` items."""
    dtype = np.dtype(dtype)
    nbytes = count * dtype.itemsize
    if not _LINUX or nbytes < _MAPPED_MIN:
        return np.empty(count, dtype)
    return np.frombuffer(mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE), dtype)  # freed with the array


def full(count: int, value: int, dtype: Any) -> np.ndarray:
    out = empty(count, dtype)
    out.fill(value)
    return out
