"""A checkpoint's files opened once: :class:`BundleFiles`, the snapshot every read goes through.

A warm start must write bytes from one consistent checkpoint, whatever happens to the paths
while it runs (a ``CheckpointManager`` deleting old checkpoints, a restarted job saving to the
same prefix, a copy replacing the directory). So the index is read into memory once and every
data shard is opened once, up front; later reads use those descriptors, never the paths. A
rename, an unlink or a rewrite-by-rename of a path then cannot change what is read. Bytes
changed *in place* (the same inode overwritten or truncated) can still change what a
descriptor reads; the checksums catch that (TF's crc32c per tensor, and crc32c per row range
in :mod:`.verify`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Self

from ...errors import CheckpointReadError
from .entries import BundleEntry
from .index import BundleIndex, _open_error, data_path, index_path, parse_index

__all__ = ["BundleFiles", "FileIdentity"]

_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
_OPEN_TRIES = 3  # a writer replacing the prefix while it is opened: open it again


FileIdentity = tuple[int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns


def _identity(st: os.stat_result) -> FileIdentity:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class BundleFiles:
    """``<prefix>.index`` (parsed from one read) and every ``<prefix>.data-*`` shard, each opened
    once and held open until :meth:`close`. Use as a context manager, or close it."""

    def __init__(self, prefix: str | os.PathLike[str]) -> None:
        self.prefix = os.fspath(prefix)
        self._fds: list[int] = []
        for attempt in range(_OPEN_TRIES):
            index_id = self._open()
            # A writer that replaced the index after we read it may also have replaced data
            # shards we opened after: the pair would not match. Open again while it moves.
            try:
                now = _identity(os.stat(self.index.path))
            except OSError:
                now = None
            if now == index_id or attempt == _OPEN_TRIES - 1:
                return
            self.close()

    def _open(self) -> FileIdentity:
        path = index_path(self.prefix)
        fd = _open(path, "checkpoint index")
        try:
            st = os.fstat(fd)
            data = _read_all(fd, st.st_size)
        except OSError as e:
            raise CheckpointReadError(f"cannot read the checkpoint index {path!r}: {e.strerror or e}.") from None
        finally:
            os.close(fd)
        self.index: BundleIndex = parse_index(self.prefix, path, data)
        shards = self.index.header.num_shards
        fds: list[int] = []
        try:
            for shard in range(shards):
                fds.append(_open(data_path(self.prefix, shard, shards), "checkpoint data file"))
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        self._fds = fds
        self._identities = [_identity(os.fstat(fd)) for fd in fds]
        self._index_identity = _identity(st)
        return self._index_identity

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return not self._fds

    def close(self) -> None:
        """Close every data file (idempotent)."""
        fds, self._fds = self._fds, []
        for fd in fds:
            os.close(fd)

    def path(self, entry: BundleEntry) -> str:
        """The path ``entry``'s data file had when it was opened (for messages)."""
        return self.index.data_path(entry)

    def fd(self, entry: BundleEntry) -> int:
        """The held descriptor of ``entry``'s data file."""
        if not self._fds:
            raise ValueError(f"the checkpoint {self.prefix!r} was closed; open it again to read it")
        return self._fds[entry.shard_id]

    def moved(self) -> list[str]:
        """The index and data files whose path no longer names the file that was opened (renamed,
        deleted, replaced) or whose size or mtime changed since: what a reader that goes by
        path (TensorFlow's ``RestoreV2``) would read differently."""
        out = []
        try:
            index_now = _identity(os.stat(self.index.path))
        except OSError:
            index_now = None
        if index_now != self._index_identity:
            out.append(self.index.path)
        for shard, (fd, then) in enumerate(zip(self._fds, self._identities, strict=True)):
            path = data_path(self.prefix, shard, len(self._fds))
            try:
                now_path = _identity(os.stat(path))
            except OSError:
                now_path = None
            if now_path != then or _identity(os.fstat(fd)) != then:
                out.append(path)
        return out


def _open(path: str, what: str) -> int:
    try:
        fd = os.open(path, _FLAGS)
    except OSError as e:
        raise _open_error(path, e, what) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise CheckpointReadError(f"the {what} {path!r} is not a regular file.")
    return fd


def _read_all(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    at = 0
    while True:
        chunk = os.pread(fd, max(size - at, 1 << 16), at)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        at += len(chunk)


@contextmanager
def opened(src: str | os.PathLike[str] | BundleFiles, index: BundleIndex, entry: BundleEntry) -> Iterator[tuple[int, str]]:
    """``(fd, path)`` of ``entry``'s data file: the held one of a :class:`BundleFiles`, or one
    opened by path for this read (and closed after it)."""
    if isinstance(src, BundleFiles):
        yield src.fd(entry), src.path(entry)
        return
    path = data_path(src, entry.shard_id, index.header.num_shards)
    fd = _open(path, "checkpoint data file")
    try:
        yield fd, path
    finally:
        os.close(fd)
