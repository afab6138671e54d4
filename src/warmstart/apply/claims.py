"""Warm starts into the same variables run one at a time.

Two threads warm-starting one model from two checkpoints would otherwise interleave their
writes (and their undo logs) and leave rows of both. Each warm start claims its target's
variables and its optimizer before it opens the checkpoint; a second one that shares any of
them waits until the first has finished (committed or undone), then runs. Warm starts into
disjoint variables run in parallel. A warm start started from inside another on the same
thread (from its ``progress`` callback) would wait for itself: it raises
:class:`~warmstart.errors.BusyError` instead.

Only warm starts are serialised: a thread that trains or assigns the same variables
meanwhile is not stopped (TensorFlow has no lock a library could hold across its writes).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import BusyError
from ..targets.variables import tf_variable

__all__ = ["claimed"]

_changed = threading.Condition()
_owners: dict[int, int] = {}  # id(object) -> the thread that holds it


@contextmanager
def claimed(objects: Iterable[Any]) -> Iterator[None]:
    """Hold ``objects`` (variables, an optimizer) for the block, waiting for other threads'
    warm starts that hold any of them."""
    ids = {id(tf_variable(o)) for o in objects if o is not None} | {id(o) for o in objects if o is not None}
    me = threading.get_ident()
    with _changed:
        while True:
            holders = {_owners[i] for i in ids if i in _owners}
            if me in holders:
                raise BusyError(
                    "a warm start into these variables is already running in this thread (this one was "
                    "started from its progress callback).\n"
                    "  Fix: start the second warm start after the first returns."
                )
            if not holders:
                break
            _changed.wait()
        for i in ids:
            _owners[i] = me
    try:
        yield
    finally:
        with _changed:
            for i in ids:
                _owners.pop(i, None)
            _changed.notify_all()
