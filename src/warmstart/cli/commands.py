"""What each command does, once its arguments are parsed: ``inspect``, ``plan``, ``demo``.

A command returns its :class:`~.status.ExitStatus` and writes to the console it is given;
it imports TensorFlow, the library's heavy parts and the demo only when it runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from rich.console import Console

from . import render
from .models import load_model
from .status import CliError, ExitStatus

__all__ = ["cmd_demo", "cmd_inspect", "cmd_plan", "mismatch_policy"]


def cmd_inspect(args: argparse.Namespace, console: Console, out: TextIO) -> ExitStatus:
    import warmstart as ws
    from warmstart.sources import open_source

    with open_source(args.source) as source:  # its notes say how a Keras file's names were made
        located, found, notes = source.location, source.entries, tuple(getattr(source, "notes", ()))
    order = list(ws.EntryKind)  # variables, slots, other
    entries = sorted(found, key=lambda e: order.index(e.kind))  # stable: checkpoint order kept
    shown = [e for e in entries if args.all or e.kind is not ws.EntryKind.OTHER]
    if args.json:
        render.write_json(out, [render.entry_dict(e) for e in shown])
    else:
        render.inspect_table(console, shown, prefix=located.path, fmt=located.format,
                             hidden_other=len(entries) - len(shown))
        for note in notes:
            console.print(f"note: {note}", markup=False)
    return ExitStatus.SUCCESS


def cmd_plan(args: argparse.Namespace, console: Console, out: TextIO) -> ExitStatus:
    import warmstart as ws
    ws.locate(args.source)  # a wrong path fails now, not after building a large model
    model = load_model(args.model)
    report = ws.warm_start(
        model, args.source,
        include=args.include, exclude=args.exclude, rename=args.rename,
        on_mismatch=mismatch_policy(args.on_mismatch, args.on_mismatch_for),
        strict=args.strict, expect_missing=args.expect_missing, dry_run=True,
    )
    if args.json:
        render.write_json(out, report.to_dict())
    else:
        console.print(report)
    return ExitStatus.SUCCESS if report.ok else ExitStatus.PROBLEMS


def cmd_demo(args: argparse.Namespace, console: Console, out: TextIO) -> ExitStatus:
    from warmstart.demo import DataError, DemoConfig, run_demo

    sizes = {k: getattr(args, k) for k in ("users", "items", "interactions") if getattr(args, k) is not None}
    if args.data is not None:
        if sizes:
            raise CliError(f"demo: --{next(iter(sizes))} sizes generated logs; it cannot be combined "
                           f"with --data", ExitStatus.USAGE)
        if not Path(args.data).is_file():
            raise CliError(f"demo --data: no file {args.data!r}", ExitStatus.USAGE)
    config = DemoConfig(seed=args.seed, data=None if args.data is None else Path(args.data), steps=args.steps,
                        day1_steps=args.day1_steps, every=args.eval_every, batch=args.batch, **sizes)
    try:
        run_demo(Path(args.out), config, console=console, quiet=args.quiet)
    except DataError as e:
        raise CliError(f"demo --data: {e}", ExitStatus.USAGE) from e
    return ExitStatus.SUCCESS


def mismatch_policy(default: str, per_pattern: Sequence[tuple[str, str]]) -> str | dict[str, str]:
    """The library's ``on_mismatch``: a string, or a mapping that ends in the default.

    A mapping leaves unmatched names at "skip", so a non-skip default becomes a final
    catch-all ``.*``.
    """
    if not per_pattern:
        return default
    policies = dict(per_pattern)
    if default != "skip":
        policies.setdefault(".*", default)
    return policies
