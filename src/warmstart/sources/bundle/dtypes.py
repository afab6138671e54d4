"""TF ``DataType`` numbers as stored in the index, and their numpy dtypes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np


@dataclass(frozen=True)
class DType:
    """A TF ``DataType`` as stored in the index.

    ``enum`` is the ``DataType`` number (``tf.DType.as_datatype_enum``), ``name`` the TF name
    (``tf.DType.name``). ``itemsize`` is None for variable-size types (string, variant,
    resource). ``numpy`` is the exact numpy dtype when numpy has one (float16 yes, bfloat16
    no); ``storage`` is a numpy dtype with the same bytes (``uint16`` for bfloat16, ``int8``
    for qint8), which is what :func:`read_rows` fills when ``numpy`` is None.
    """

    enum: int
    name: str
    itemsize: int | None
    numpy: np.dtype | None
    storage: np.dtype | None

    @property
    def fixed_size(self) -> bool:
        """True when every element has ``itemsize`` bytes, so rows sit at computable offsets."""
        return self.itemsize is not None


_STRING, _RESOURCE, _VARIANT = 7, 20, 21

# enum: (TF name, exact numpy dtype or None, storage dtype or None). Numbers from types.proto.
_DTYPES: dict[int, tuple[str, str | None, str | None]] = {
    1: ("float32", "float32", "float32"),
    2: ("float64", "float64", "float64"),
    3: ("int32", "int32", "int32"),
    4: ("uint8", "uint8", "uint8"),
    5: ("int16", "int16", "int16"),
    6: ("int8", "int8", "int8"),
    _STRING: ("string", None, None),
    8: ("complex64", "complex64", "complex64"),
    9: ("int64", "int64", "int64"),
    10: ("bool", "bool", "bool"),
    11: ("qint8", None, "int8"),
    12: ("quint8", None, "uint8"),
    13: ("qint32", None, "int32"),
    14: ("bfloat16", None, "uint16"),
    15: ("qint16", None, "int16"),
    16: ("quint16", None, "uint16"),
    17: ("uint16", "uint16", "uint16"),
    18: ("complex128", "complex128", "complex128"),
    19: ("float16", "float16", "float16"),
    _RESOURCE: ("resource", None, None),
    _VARIANT: ("variant", None, None),
    22: ("uint32", "uint32", "uint32"),
    23: ("uint64", "uint64", "uint64"),
    24: ("float8_e5m2", None, "uint8"),
    25: ("float8_e4m3fn", None, "uint8"),
    26: ("float8_e4m3fnuz", None, "uint8"),
    27: ("float8_e4m3b11fnuz", None, "uint8"),
    28: ("float8_e5m2fnuz", None, "uint8"),
    29: ("int4", None, "int8"),
    30: ("uint4", None, "uint8"),
    31: ("int2", None, "int8"),
    32: ("uint2", None, "uint8"),
    33: ("float4_e2m1fn", None, "uint8"),
}


def _dtype(enum: int, byteorder: Literal["<", ">"]) -> DType:
    """The :class:`DType` of a ``DataType`` number; unknown numbers are kept, not fatal,
    so a checkpoint from a newer TF still lists (and verifies) its other tensors."""
    if enum not in _DTYPES:
        return DType(enum, f"dtype_{enum}", None, None, None)
    name, exact, storage = _DTYPES[enum]
    store = np.dtype(storage).newbyteorder(byteorder) if storage else None
    return DType(
        enum=enum,
        name=name,
        itemsize=store.itemsize if store is not None else None,
        numpy=np.dtype(exact).newbyteorder(byteorder) if exact else None,
        storage=store,
    )
