"""TF's masked crc32c: :func:`mask` / :func:`unmask` and a copy-free running crc."""

from __future__ import annotations

import google_crc32c
import numpy as np

_MASK_DELTA = 0xA282EAD8
_U32 = 0xFFFFFFFF

def mask(crc: int) -> int:
    """TF's stored form of a crc32c: rotate right by 15 bits, add ``0xa282ead8``."""
    return ((((crc >> 15) | (crc << 17)) & _U32) + _MASK_DELTA) & _U32


def unmask(masked: int) -> int:
    """The crc32c whose :func:`mask` is ``masked``."""
    rot = (masked - _MASK_DELTA) & _U32
    return ((rot >> 17) | (rot << 15)) & _U32


def _crc_extend(crc: int, data: bytes | np.ndarray) -> int:
    """``google_crc32c.extend`` without a copy: it takes only read-only buffers, so numpy
    chunks are passed as a read-only view (bytes as they are)."""
    if isinstance(data, np.ndarray):
        view = data.view()
        view.flags.writeable = False
        try:
            return google_crc32c.extend(crc, view)
        except TypeError:  # a build that rejects array buffers: pay one copy
            return google_crc32c.extend(crc, view.tobytes())
    return google_crc32c.extend(crc, data)
