"""``warmstart``: look into a checkpoint, plan a warm start, run the demo.

``main(argv, stdout, stderr)`` runs in-process and returns an :class:`ExitStatus`, so
tests call it with ``io.StringIO`` streams; ``run()`` is the console script. The exit
statuses and what each means are listed once, in :class:`~.status.ExitStatus`
(``warmstart --help`` prints them).

Errors are one line on stderr (``warmstart: error: Kind: message``, a few indented lines
of detail at most); the stack only with ``--traceback``. TensorFlow is imported by the
commands, never at import time, and its logging is kept off stderr.

The grammar is in :mod:`.parser`, the commands in :mod:`.commands`, ``--model`` loading
in :mod:`.models`; this module runs one command and turns its failure into a status.
"""

from __future__ import annotations

import os

# Before anything can import TensorFlow: its C++ start-up chatter would otherwise reach
# stderr around the one line a failing command prints.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse
import sys
from collections.abc import Sequence
from contextlib import redirect_stderr, redirect_stdout
from typing import TextIO

from . import render
from .commands import mismatch_policy
from .models import load_model
from .parser import PROG, build_parser, rename_rule
from .status import CliError, ExitStatus

# Also re-exported: build_parser, load_model, mismatch_policy and rename_rule, for code that
# imports them from here (the tests, and callers of the single-module CLI this once was).
__all__ = ["CliError", "ExitStatus", "build_parser", "load_model", "main", "mismatch_policy", "rename_rule",
           "run"]


def _import_tensorflow() -> None:
    """Import TensorFlow (which every command needs) with the process's stderr muted.

    TensorFlow 2.21 prints its oneDNN notice while its shared libraries load, even with
    TF_CPP_MIN_LOG_LEVEL set from Python; only the file descriptor can be silenced. Python
    errors are exceptions, not writes, so nothing the user needs is lost.
    """
    if "tensorflow" in sys.modules:
        return
    try:
        with render.fd_muted(2):
            import tensorflow  # noqa: F401
    except ModuleNotFoundError as e:
        if e.name == "tensorflow":
            raise CliError(f"{e.name} is not installed.\n  Fix: pip install 'warmstart[cpu]' "
                           f"(or 'warmstart[gpu]').", ExitStatus.ERROR) from e
        raise


def exit_status_for(exc: BaseException) -> ExitStatus:
    if isinstance(exc, CliError):
        return exc.status
    from warmstart.errors import (
        CheckpointNotFoundError,
        CheckpointReadError,
        IncompleteError,
        NothingToLoadError,
        RuleError,
        ShapeMismatchError,
    )

    if isinstance(exc, (CheckpointNotFoundError, CheckpointReadError)):
        return ExitStatus.CHECKPOINT
    if isinstance(exc, RuleError):
        return ExitStatus.RULE
    if isinstance(exc, (IncompleteError, ShapeMismatchError, NothingToLoadError)):
        return ExitStatus.PROBLEMS
    return ExitStatus.ERROR


def _error_text(exc: BaseException, *, traced: bool) -> str:
    from warmstart.errors import WarmStartError

    if isinstance(exc, CliError):
        return render.error_text(exc, prog=PROG, kind=False)
    text = render.error_text(exc, prog=PROG)
    if not isinstance(exc, WarmStartError) and not traced:  # a bug, ours or a dependency's
        text = text.rstrip("\n") + "\n  (unexpected; rerun with --traceback to see where it came from)\n"
    return text


def _parse(argv: Sequence[str] | None, out: TextIO, err: TextIO) -> argparse.Namespace | ExitStatus:
    # argparse writes to sys.stdout/sys.stderr and exits; redirect both so that tests
    # (and embedding programs) get the text and a status instead of a dead process.
    with redirect_stdout(out), redirect_stderr(err):
        try:
            return build_parser().parse_args(argv)
        except SystemExit as e:
            return ExitStatus.SUCCESS if e.code in (0, None) else ExitStatus.USAGE


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> ExitStatus:
    """Run one command in this process and return its exit status."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    args = _parse(argv, out, err)
    if isinstance(args, ExitStatus):
        return args
    try:
        with render.quiet_libraries(err, verbose=args.verbose):
            _import_tensorflow()
            return args.handler(args, render.make_console(out), out)
    except KeyboardInterrupt:
        err.write(f"\n{PROG}: interrupted\n")
        return ExitStatus.INTERRUPTED
    except BrokenPipeError:
        raise  # the reader went away (`| head`); run() ends quietly
    except Exception as e:  # noqa: BLE001  the one place every failure becomes a line and a status
        if args.traceback:
            err.write(render.traceback_text(e))
        err.write(_error_text(e, traced=args.traceback))
        return exit_status_for(e)


def run() -> None:
    """The console script: ``sys.exit(main())``."""
    try:
        status: int = main()
    except BrokenPipeError:
        # Python would print a traceback while flushing the closed pipe at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        status = 128 + 13  # what a process killed by SIGPIPE reports, as `yes | head` does
    sys.exit(status)
