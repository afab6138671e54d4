"""The command's exit statuses, each with what it means, and its own error.

The table is written here once: ``warmstart --help`` prints :func:`status_table`.
"""

from __future__ import annotations

import enum
import textwrap
from typing import Self

__all__ = ["CliError", "ExitStatus", "status_table"]


class ExitStatus(enum.IntEnum):
    """The process exit status; ``description`` says when it is returned."""

    description: str

    def __new__(cls, value: int, description: str) -> Self:
        member = int.__new__(cls, value)
        member._value_ = value
        member.description = description
        return member

    SUCCESS = 0, "success"
    PROBLEMS = 1, ("the plan has problems: a real run fails or would fail (--strict, --on-mismatch error, "
                   "an ambiguous pairing) or would load nothing")
    USAGE = 2, "usage error (bad arguments, a --model that cannot be found)"
    CHECKPOINT = 3, "checkpoint not found or unreadable"
    RULE = 4, "rule error: a bad regex, a rule that matched nothing"
    ERROR = 5, "any other error: the model is not built, the model factory failed"
    INTERRUPTED = 130, "interrupted"


def status_table(*, width: int = 84) -> str:
    """``exit status:`` and one row per status, as ``--help`` prints it."""
    rows = [textwrap.fill(s.description, width, initial_indent=f"  {s.value:<5}", subsequent_indent=" " * 7)
            for s in ExitStatus]
    return "\n".join(["exit status:", *rows])


class CliError(Exception):
    """A failure of the command itself (not the library), with the status to exit with."""

    def __init__(self, message: str, status: ExitStatus) -> None:
        super().__init__(message)
        self.status = status
