"""How the demo talks while it runs: narration (off with ``--quiet``), the summary (always),
and progress bars (on a terminal only).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["Voice", "bytes_bar", "step_bar"]

WIDTH = 110  # prose is folded here even on a wide terminal: long lines are hard to read


@dataclass(frozen=True)
class Voice:
    console: Console
    quiet: bool = False

    def say(self, text: str = "", *, fold: bool = True) -> None:
        """Narration: what is happening and why; silent with ``--quiet``."""
        if not self.quiet:
            self.always(text, fold=fold)

    def always(self, text: str = "", *, fold: bool = True) -> None:
        """The summary lines, printed even with ``--quiet``; never parsed as rich markup
        (regexes and shapes hold brackets). ``fold``: long lines are folded at words, each
        continuation indented under its line (code is printed with ``fold=False``)."""
        if fold:
            text = "\n".join(_fold(line, min(WIDTH, self.console.width)) for line in text.split("\n"))
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def bars(self) -> Progress:
        """Progress bars, shown while in ``with``; on a terminal only: a file or a pipe would
        get one frame per refresh. The last frame stays, as a record of how long each part took."""
        return Progress(TextColumn("   {task.description:<20}"), BarColumn(), TextColumn("{task.fields[what]}"),
                        TimeElapsedColumn(), console=self.console, disable=self.quiet or not self.console.is_terminal)


def _fold(line: str, width: int) -> str:
    if len(line) <= width:
        return line
    indent = " " * (len(line) - len(line.lstrip(" ")))
    heading = re.match(r"\d+\. ", line)  # "2. Day 2. ...": continue under the text
    more = " " * heading.end() if heading else indent + "  "
    return textwrap.fill(line, width, subsequent_indent=more, break_long_words=False, break_on_hyphens=False)


def step_bar(progress: Progress, name: str, total: int) -> Callable[[int, float], None]:
    """A bar of training steps, with the last batch's loss; an ``on_step`` callback."""
    task = progress.add_task(name, total=total, what="")
    digits = len(f"{total:,}")

    def on_step(done: int, loss: float) -> None:
        if done % 10 == 0 or done == total:  # a refresh per step would cost more than the step
            progress.update(task, completed=done, what=f"{done:>{digits},}/{total:,}  loss {loss:.4f}")
    return on_step


def bytes_bar(progress: Progress, name: str) -> Callable[[int, int], None]:
    """A bar of bytes loaded: ``ws.warm_start(progress=...)``."""
    task = progress.add_task(name, total=None, what="")

    def on_bytes(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total, what=f"{done / 1e6:.2f}/{total / 1e6:.2f} MB")
    return on_bytes
