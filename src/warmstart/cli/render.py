"""Everything the command prints, and what it keeps others from printing: consoles, the
checkpoint table, JSON, error lines; TensorFlow's and the library's logs kept off stderr.

The library returns data and raises; this module is where data becomes text. Of the
library it imports only the pure :mod:`warmstart.entries`, and no TensorFlow, so
``warmstart --help`` stays fast.
"""

from __future__ import annotations

import json
import logging
import os
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.table import Table

from warmstart.entries import SourceEntry, shape_text

__all__ = [
    "ERROR_LINES",
    "entry_dict",
    "error_text",
    "fd_muted",
    "inspect_table",
    "make_console",
    "quiet_libraries",
    "traceback_text",
    "write_json",
    "write_json_file",
]

# Continuation lines of an error message shown on stderr. Messages end in a "Fix:" line
# that users copy, so a few are kept; a long list of problems is cut.
ERROR_LINES = 6
_PIPE_WIDTH = 160  # piped output is grepped, so long variable names are not folded at 80


def make_console(file: TextIO) -> Console:
    """A console on ``file``: colour and the terminal's width on a terminal, plain text
    of a fixed, generous width otherwise (files, pipes, tests)."""
    probe = Console(file=file)
    if probe.is_terminal:
        return Console(file=file, highlight=False)
    return Console(file=file, highlight=False, width=_PIPE_WIDTH, color_system=None)


def entry_dict(entry: SourceEntry) -> dict[str, Any]:
    """One checkpoint entry as JSON-ready data (enums as their strings)."""
    return {
        "name": entry.name,
        "key": entry.key,
        "shape": list(entry.shape),
        "dtype": entry.dtype,
        "kind": str(entry.kind),
        "slot_owner": entry.slot_owner,
        "slot_name": entry.slot_name,
        "full_name": entry.full_name,
        "name_source": str(entry.name_source),
    }


def inspect_table(console: Console, entries: Iterable[SourceEntry], *, prefix: str, fmt: str,
                  hidden_other: int) -> None:
    """The header line and one row per entry: the names rules can refer to.

    Slots name their owner, so a user can see which variable an ``optimizer/_variables/N``
    belongs to without decoding Keras's positional lists.
    """
    rows = list(entries)
    counts = {kind: sum(1 for e in rows if str(e.kind) == kind) for kind in ("variable", "slot", "other")}
    header = (
        f"{prefix} ({fmt}): {counts['variable']} variable(s), {counts['slot']} optimizer slot(s), "
        f"{counts['other'] + hidden_other} other"
        + (" (hidden; --all shows them)" if hidden_other else "")
    )
    console.print(header, markup=False)
    if not rows:
        return
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("name", "shape", "dtype", "kind", "slot of", "slot"):
        table.add_column(column)
    for e in rows:
        table.add_row(e.name, shape_text(e.shape), e.dtype, str(e.kind), e.slot_owner or "", e.slot_name or "")
    console.print(table)


def write_json(out: TextIO, data: Any) -> None:
    """JSON straight to the stream: rich would highlight and wrap it."""
    out.write(json.dumps(data, indent=2) + "\n")


def write_json_file(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def error_text(exc: BaseException, *, prog: str = "warmstart", kind: bool = True) -> str:
    """``warmstart: error: Kind: first line``, then a few indented continuation lines.

    Library messages put the headline first and the fix last; both matter, so up to
    ``ERROR_LINES`` lines follow the first one. ``kind=False`` drops the class name, for
    the command's own errors, whose class says nothing to a user.
    """
    lines = [ln.rstrip() for ln in (str(exc) or type(exc).__name__).strip().splitlines()]
    lines = [ln for ln in lines if ln] or [type(exc).__name__]
    label = f"{type(exc).__name__}: " if kind else ""
    first = f"{prog}: error: {label}{lines[0]}"
    rest = [ln if ln.startswith(" ") else f"  {ln}" for ln in lines[1 : 1 + ERROR_LINES]]
    if len(lines) > 1 + ERROR_LINES:
        rest.append(f"  ... {len(lines) - 1 - ERROR_LINES} more line(s); --traceback shows all")
    return "\n".join([first, *rest]) + "\n"


def traceback_text(exc: BaseException) -> str:
    """The full stack, for ``--traceback``."""
    return "".join(traceback.format_exception(exc))


@contextmanager
def fd_muted(fd: int) -> Iterator[None]:
    """Send what C code writes to ``fd`` to /dev/null; sys.stderr's Python writes too."""
    try:
        saved = os.dup(fd)
    except OSError:  # no such descriptor (a daemon): nothing to mute
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


@contextmanager
def quiet_libraries(err: TextIO, *, verbose: bool, prog: str = "warmstart") -> Iterator[None]:
    """Keep TensorFlow's and absl's Python logs off stderr; show the library's own only
    with ``--verbose`` (the rendered report already says what its warnings say)."""
    lib = logging.getLogger("warmstart")
    handler: logging.Handler = logging.StreamHandler(err) if verbose else logging.NullHandler()
    handler.setFormatter(logging.Formatter(f"{prog}: %(levelname)s: %(message)s"))
    noisy = [logging.getLogger(n) for n in ("tensorflow", "absl")]
    saved = (lib.level, lib.propagate, [n.level for n in noisy])
    lib.addHandler(handler)
    lib.setLevel(logging.INFO if verbose else logging.WARNING)
    lib.propagate = False
    for n in noisy:
        n.setLevel(logging.ERROR)
    try:
        yield
    finally:
        lib.removeHandler(handler)
        lib.setLevel(saved[0])
        lib.propagate = saved[1]
        for n, level in zip(noisy, saved[2], strict=True):
            n.setLevel(level)
