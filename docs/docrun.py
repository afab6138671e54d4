"""Run the code blocks of the README and the docs, and produce the outputs they show.

One engine for both sides: ``regenerate.py`` writes what the blocks print into the files,
``tests/test_docs.py`` runs the same blocks and fails when a shown output differs.

The rules, for whoever writes a page:

* Every fenced ``python`` block runs, in order, in one namespace per page. The namespace
  comes from a *world* (``docworlds.py``): tiny real models and checkpoints written into a
  temporary folder, which is the working directory, so ``"runs/v1"`` is a real run.
  ``<!-- docs: world NAME -->`` on the line before a block starts a fresh world there
  (``world NAME keep A,B`` carries the names ``A`` and ``B`` over); a page starts in
  ``recsys``.
* In a ``bash`` block, each ``warmstart ...`` command runs in-process
  (``warmstart.cli.main``), and so does ``python docs/scripts/NAME.py`` (as ``__main__``);
  other lines (``pip``, ``python3 -m venv``) are left to CI, which runs the README's test
  command itself.
* A ``text`` block right after a code block (nothing but blank lines between) is that block's
  output: what it printed, and, if it raised, ``ErrorClass: message`` last.
* A block that shows a failure is marked ``<!-- docs: raises -->``: it must raise a
  ``WarmStartError`` (or a ``warmstart`` command must exit non-zero) and have an output
  block. Any other failure, and a marked block that does not fail, is an error of the page.
* ``<!-- docs: elsewhere TEST -->`` before a block: the block runs in the test module ``TEST``
  (a path under ``tests/``), in a process of its own (a ``tf.distribute`` cluster fixes the
  devices of the process that starts it, so it cannot run here). The module must exist and
  name the page; this runner leaves the block out.
* ``<!-- docs: demo -->`` before a ``bash`` block marks a ``warmstart demo`` run: its
  output blocks, each marked ``<!-- docs: demo PART -->`` (``report``, ``summary``), are
  regenerated from a real run at the size the command gives, and tested against a tiny run
  for their shape only (the lines and headers, numbers masked): see :func:`demo_shape`.

Shown outputs are compared after :func:`normalise`: the world's folder, times and object
addresses masked, trailing spaces dropped.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import runpy
import shlex
import sys
import tempfile
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docworlds

ROOT = Path(__file__).resolve().parent.parent
PAGES = ("README.md", "CONTRIBUTING.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")))
FIRST_WORLD = "recsys"

_FENCE = re.compile(r"^```(\w*)\s*$")
_DIRECTIVE = re.compile(r"^<!-- docs: (.+?) -->\s*$")
# A tiny `warmstart demo`, for the shape of the README's demo output: about 5 s.
TINY_DEMO = ("--users", "60", "--items", "60", "--interactions", "20000", "--day1-steps", "60", "--steps", "20",
             "--eval-every", "10")


@dataclass
class Block:
    """A fenced block of a page: its language, text, where it is, and the directives above it."""

    page: str
    lang: str
    text: str
    line: int  # 1-based line of the opening fence
    start: int  # 0-based index of the first line of the text
    end: int  # 0-based index of the closing fence
    directives: list[str] = field(default_factory=list)
    output: Block | None = None  # the text block that shows what this one prints

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def parse(page: str, text: str) -> list[Block]:
    """The fenced blocks of a page, each code block paired with the output block after it."""
    lines = text.split("\n")
    blocks: list[Block] = []
    pending: list[str] = []
    last_end = -10
    i = 0
    while i < len(lines):
        directive = _DIRECTIVE.match(lines[i])
        fence = _FENCE.match(lines[i])
        if directive:
            pending.append(directive.group(1).strip())
        elif fence:
            j = i + 1
            while j < len(lines) and lines[j].rstrip() != "```":
                j += 1
            if j == len(lines):
                raise ValueError(f"{page}:{i + 1}: a fence that is never closed")
            block = Block(page, fence.group(1), "\n".join(lines[i + 1:j]), i + 1, i + 1, j, pending)
            previous = blocks[-1] if blocks else None
            if (block.lang == "text" and previous is not None and previous.lang != "text"
                    and all(not s.strip() or _DIRECTIVE.match(s) for s in lines[last_end + 1:i])):
                previous.output = block
            blocks.append(block)
            pending, last_end, i = [], j, j
        elif lines[i].strip():
            pending = []
        i += 1
    return blocks


def normalise(text: str, folders: tuple[str, ...] = ()) -> str:
    """What must match between a shown output and a fresh one."""
    for folder in folders:
        text = text.replace(folder + os.sep, "").replace(folder, ".")
    text = re.sub(r"\b\d+(?:\.\d+)? ?(?:ms|s)\b", "<time>", text)
    text = re.sub(r"0x[0-9a-f]{6,}", "0x<address>", text)
    return "\n".join(_tidy(text))


@dataclass
class Ran:
    """A code block that has an output block, and what it printed this time."""

    block: Block
    printed: str
    folders: tuple[str, ...]


class Session:
    """A page's blocks run in order: one namespace, one world folder at a time."""

    def __init__(self, page: str, scratch: Path) -> None:
        self.page = page
        self.scratch = scratch
        self.ns: dict[str, Any] = {}
        self.folder: Path | None = None
        self.count = 0

    def world(self, spec: str) -> None:
        """``NAME`` or ``NAME keep A,B``: a fresh world, with names ``A`` and ``B`` carried over."""
        name, _, keep = spec.partition(" keep ")
        kept = {k: self.ns[k] for k in keep.replace(",", " ").split()}
        self.count += 1
        self.folder = self.scratch / f"{Path(self.page).stem}-{self.count}-{name.strip()}"
        self.folder.mkdir(parents=True)
        self.ns = docworlds.make(name.strip(), self.folder) | kept

    @property
    def folders(self) -> tuple[str, ...]:
        assert self.folder is not None
        return (str(self.folder), os.path.realpath(self.folder))

    @contextlib.contextmanager
    def inside(self) -> Iterator[None]:
        cwd = os.getcwd()
        assert self.folder is not None
        os.chdir(self.folder)
        try:
            yield
        finally:
            os.chdir(cwd)

    def run(self, block: Block) -> str:
        """Run one block; return what it printed (and the error it raised, last)."""
        for d in block.directives:
            if d.startswith("world "):
                self.world(d.removeprefix("world ").strip())
        if self.folder is None:
            self.world(FIRST_WORLD)
        out = io.StringIO()
        expected = "raises" in block.directives
        failed = False
        with self.inside(), contextlib.redirect_stdout(out):
            try:
                if block.lang == "python":
                    code = compile("\n" * block.start + block.text, str(ROOT / block.page), "exec")
                    exec(code, self.ns)  # noqa: S102 - running the docs is the point
                elif block.lang == "bash":
                    for argv in commands(block.text):
                        failed |= _command(argv, out) != 0
            except Exception as e:
                from warmstart import WarmStartError

                if not (expected and isinstance(e, WarmStartError) and block.output is not None):
                    raise BlockError(f"{block.where}: the block raised"
                                     + ("" if expected else " (a block that shows an error is marked "
                                        "<!-- docs: raises -->)") + ":\n"
                                     + "".join(traceback.format_exception(e))) from e
                out.write(f"{type(e).__name__}: {e}\n")
                failed = True
        if expected and not failed:
            raise BlockError(f"{block.where}: marked <!-- docs: raises -->, but it ran without an error:\n"
                             + out.getvalue())
        if failed and not expected:
            raise BlockError(f"{block.where}: a command failed:\n{out.getvalue()}")
        return out.getvalue()


class BlockError(Exception):
    """A block that failed where the page does not say it fails."""


def commands(text: str) -> list[list[str]]:
    """The commands of a bash block that run here (``warmstart ...``, ``python docs/scripts/...``),
    continuation lines joined, as argv lists."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [shlex.split(line, comments=True) for line in joined.split("\n")
            if line.strip().startswith(("warmstart ", "python docs/scripts/"))]


def _command(argv: list[str], out: io.StringIO) -> int:
    """Run one command; its exit status."""
    if argv[0] == "warmstart":
        return _cli(argv[1:], out)
    script = ROOT / argv[1]
    saved = sys.argv
    sys.argv = [str(script), *argv[2:]]
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as e:
        return int(e.code or 0)
    finally:
        sys.argv = saved
    return 0


def _cli(argv: list[str], out: io.StringIO) -> int:
    from warmstart.cli import main

    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "80"  # argparse wraps --help to the terminal's width: make it one width
    try:
        return int(main(argv, stdout=out, stderr=out))
    finally:
        if saved is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = saved


def run_page(page: str, scratch: Path) -> list[Ran]:
    """Run every code block of ``page``; return those that have an output block, with what
    they printed. ``demo`` blocks are left out (see :func:`run_demo`)."""
    text = (ROOT / page).read_text()
    session = Session(page, scratch)
    ran = []
    try:
        for block in parse(page, text):
            if block.lang not in ("python", "bash") or "demo" in block.directives:
                continue
            elsewhere = [d.split(None, 1)[1] for d in block.directives if d.startswith("elsewhere ")]
            if elsewhere:
                test = ROOT / elsewhere[0]
                if not test.is_file() or page not in test.read_text():
                    raise BlockError(f"{block.where}: marked <!-- docs: elsewhere {elsewhere[0]} -->, but that "
                                     f"test module does not exist or does not name {page}")
                continue
            printed = session.run(block)
            if block.output is not None:
                ran.append(Ran(block, printed, session.folders))
    finally:
        docworlds.cleanup()
    return ran


def demo_blocks(page: str) -> tuple[Block | None, dict[str, Block]]:
    """The page's ``demo`` command block, and its output blocks by part."""
    command, parts = None, {}
    for block in parse(page, (ROOT / page).read_text()):
        if "demo" in block.directives:
            command = block
        for d in block.directives:
            if d.startswith("demo ") and block.lang == "text":
                parts[d.removeprefix("demo ").strip()] = block
    return command, parts


def run_demo(argv: list[str]) -> str:
    """``warmstart demo ...`` in this process; what it printed."""
    out = io.StringIO()
    _cli(["demo", *argv], out)
    return out.getvalue()


def demo_parts(printed: str) -> dict[str, str]:
    """The parts of a demo's output the README shows: ``report`` (the warm start's report)
    and ``summary`` (from ``Summary`` to the end)."""
    lines = printed.rstrip("\n").split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("warm start from "))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("note: optimizer step"))
    summary = next(i for i, line in enumerate(lines) if line == "Summary")
    return {"report": "\n".join(lines[start:end + 1]), "summary": "\n".join(lines[summary:])}


def demo_shape(text: str) -> list[str]:
    """A demo output with its figures masked: what a run at any size has in common.

    Numbers become ``#``, spaces and table rules collapse, and lines are taken by their
    first two words (tables and wrapped summary lines keep their line breaks only where the
    layout does not depend on the figures); a line repeated with other figures counts once.
    """
    shape: list[str] = []
    for line in text.split("\n"):
        if not line.strip() or line.startswith("    "):  # blank, or a wrapped continuation
            continue
        line = re.sub(r"/\S*wsdemo\S*", "<dir>", line)
        words = re.sub(r"\d[\d,.]*", "#", re.sub(r"─+", "─", line)).split()
        key = " ".join(words[:2])
        if not shape or shape[-1] != key:
            shape.append(key)
    return shape


def rewrite(page: str, outputs: dict[int, str]) -> bool:
    """Replace the output blocks of ``page`` (by their opening line) with ``outputs``;
    return whether the file changed."""
    path = ROOT / page
    text = path.read_text()
    lines = text.split("\n")
    by_line = {b.line: b for b in parse(page, text)}
    for line in sorted(outputs, reverse=True):
        block = by_line[line]
        lines[block.start:block.end] = _tidy(outputs[line])
    new = "\n".join(lines)
    if new != text:
        path.write_text(new)
        return True
    return False


def _tidy(text: str) -> list[str]:
    """An output's lines without trailing spaces or blank lines around it."""
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n").split("\n")


def scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="warmstart-docs-run-"))
