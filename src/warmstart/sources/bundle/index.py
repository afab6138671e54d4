"""``<prefix>.index`` read into a :class:`BundleIndex` (header checked, slice entries grouped
under their tensor), and the index and data file paths of a prefix."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

from ...errors import CheckpointNotFoundError, CheckpointReadError
from .entries import BundleEntry, BundleHeader, _parse_entry, _parse_header
from .slices import decode_slice_key, slice_key
from .sstable import _table_items
from .wire import _Malformed

_BUNDLE_VERSION = 1  # the newest bundle format version this reader understands (TF's too)

@dataclass(frozen=True)
class BundleIndex:
    """A parsed ``<prefix>.index``.

    ``entries`` maps every tensor key to its logical entry (the header and the physical slice
    entries left out, as ``tf.train.load_checkpoint(...).get_variable_to_shape_map()`` does);
    :meth:`parts` gives a sliced tensor's physical entries.
    """

    prefix: str
    path: str
    header: BundleHeader
    entries: Mapping[str, BundleEntry]
    slice_entries: Mapping[str, tuple[BundleEntry, ...]]

    def entry(self, key: str) -> BundleEntry:
        """The entry of ``key``; a missing key raises CheckpointReadError with near names."""
        try:
            return self.entries[key]
        except KeyError:
            near = difflib.get_close_matches(key, list(self.entries), n=3)
            hint = f" Close keys: {', '.join(map(repr, near))}." if near else ""
            raise CheckpointReadError(
                f"checkpoint {self.prefix!r} has no tensor {key!r}.{hint}\n"
                f"  Fix: use one of the keys of read_index(prefix).entries."
            ) from None

    def parts(self, key: str) -> tuple[BundleEntry, ...]:
        """The physical entries of a sliced tensor, in the order of its ``slices``; an
        unsliced tensor gives its own entry alone."""
        entry = self.entry(key)
        return self.slice_entries[key] if entry.sliced else (entry,)

    def data_path(self, entry: BundleEntry) -> str:
        """The data file holding ``entry``'s bytes."""
        return data_path(self.prefix, entry.shard_id, self.header.num_shards)


def index_path(prefix: str | os.PathLike[str]) -> str:
    """``<prefix>.index``."""
    return os.fspath(prefix) + ".index"


def data_path(prefix: str | os.PathLike[str], shard_id: int, num_shards: int) -> str:
    """``<prefix>.data-<shard_id>-of-<num_shards>``, both zero-padded to 5 digits as TF does."""
    if not 0 <= shard_id < num_shards:
        raise CheckpointReadError(
            f"checkpoint {os.fspath(prefix)!r}: shard {shard_id} is outside 0..{num_shards - 1}; "
            f"the index is damaged.\n  Fix: use another checkpoint."
        )
    return f"{os.fspath(prefix)}.data-{shard_id:05d}-of-{num_shards:05d}"


def _open_error(path: str, e: OSError, what: str) -> Exception:
    if isinstance(e, FileNotFoundError):
        return CheckpointNotFoundError(
            f"no {what} at {path!r}: the file does not exist.\n"
            f"  Fix: check the checkpoint prefix; a bundle needs <prefix>.index and its "
            f"<prefix>.data-NNNNN-of-NNNNN files side by side."
        )
    return CheckpointReadError(f"cannot read the {what} {path!r}: {e.strerror or e}.")


def read_index(prefix: str | os.PathLike[str]) -> BundleIndex:
    """Parse ``<prefix>.index`` into a :class:`BundleIndex` (every block crc checked)."""
    prefix = os.fspath(prefix)
    path = index_path(prefix)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise _open_error(path, e, "checkpoint index") from None
    return parse_index(prefix, path, data)


def parse_index(prefix: str, path: str, data: bytes) -> BundleIndex:
    """Parse the bytes of ``<prefix>.index`` (read from ``path``)."""
    try:
        return _parse_index(prefix, path, data)
    except _Malformed as e:
        raise CheckpointReadError(
            f"cannot read the checkpoint index {path!r}: {e}.\n"
            f"  Fix: the index is damaged or not a TF checkpoint index; restore it or use "
            f"another checkpoint."
        ) from None


def _parse_index(prefix: str, path: str, data: bytes) -> BundleIndex:
    items = _table_items(data)
    first = next(items, None)
    if first is None or first[0] != b"":
        raise _Malformed('its first key is not the header key ""')
    try:
        header = _parse_header(bytes(first[1]))
    except _Malformed as e:
        raise _Malformed(f"the header does not decode as a BundleHeaderProto ({e})") from None
    _check_header(header)
    entries: dict[str, BundleEntry] = {}
    physical: dict[bytes, BundleEntry] = {}
    for raw, value in items:
        entry = _decode_entry(raw, bytes(value), header)
        if entry.part is None:
            entries[entry.key] = entry
        else:
            physical[raw] = entry
    slice_entries = {k: _parts_of(e, physical) for k, e in entries.items() if e.sliced}
    return BundleIndex(
        prefix=prefix,
        path=path,
        header=header,
        entries=MappingProxyType(entries),
        slice_entries=MappingProxyType(slice_entries),
    )


def _check_header(header: BundleHeader) -> None:
    if header.num_shards < 1:
        raise _Malformed(f"the header says {header.num_shards} data shards")
    if header.min_consumer > _BUNDLE_VERSION or _BUNDLE_VERSION in header.bad_consumers:
        raise _Malformed(
            f"it needs bundle format version >= {header.min_consumer} (this reader knows "
            f"{_BUNDLE_VERSION}); it was written by a newer TensorFlow"
        )


def _decode_entry(raw: bytes, value: bytes, header: BundleHeader) -> BundleEntry:
    part = None
    try:
        if raw.startswith(b"\x00"):
            key, part = decode_slice_key(raw)
        else:
            key = raw.decode("utf-8", "surrogateescape")
    except ValueError as e:
        raise _Malformed(f"key {raw!r} does not decode ({e})") from None
    try:
        entry = _parse_entry(value, key, raw, header.endianness)
    except _Malformed as e:
        raise _Malformed(f"the entry of {raw!r} does not decode as a BundleEntryProto: {e}") from None
    if part is not None:
        entry = replace(entry, part=part)
    if not entry.sliced and entry.shard_id >= header.num_shards:
        raise _Malformed(f"{key!r} is in shard {entry.shard_id} of {header.num_shards}")
    return entry


def _parts_of(entry: BundleEntry, physical: Mapping[bytes, BundleEntry]) -> tuple[BundleEntry, ...]:
    parts = []
    for s in entry.slices:
        part = physical.get(slice_key(entry.key, s))
        if part is None:
            raise _Malformed(f"{entry.key!r} lists slice {s.spec} but the index has no entry for it")
        if part.shape != s.shape(entry.shape) or part.dtype != entry.dtype:
            raise _Malformed(
                f"slice {s.spec} of {entry.key!r} is stored as {part.dtype.name}{list(part.shape)}, "
                f"expected {entry.dtype.name}{list(s.shape(entry.shape))}"
            )
        parts.append(part)
    return tuple(parts)
