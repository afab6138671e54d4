"""What each command does, once its arguments are parsed: ``inspect``, ``plan``, ``apply``, ``demo``.

A command returns its :class:`~.status.ExitStatus` and writes to the console it is given;
it imports TensorFlow, the library's heavy parts and the demo only when it runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console

from . import render
from .models import load_model
from .status import CliError, ExitStatus

__all__ = ["cmd_apply", "cmd_demo", "cmd_inspect", "cmd_plan", "mismatch_policy", "warm_start_options"]


def cmd_inspect(args: argparse.Namespace, console: Console, out: TextIO) -> ExitStatus:
    import warmstart as ws
    from warmstart.sources import open_source

    with open_source(args.source, source_root=args.source_root) as source:  # notes: how names were made
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
    report = ws.warm_start(model, args.source, dry_run=True, **warm_start_options(args, model))
    _show(report, args, console, out)
    return ExitStatus.SUCCESS if report.ok else ExitStatus.PROBLEMS


def cmd_apply(args: argparse.Namespace, console: Console, out: TextIO) -> ExitStatus:
    import tensorflow as tf

    import warmstart as ws

    ws.locate(args.source)
    folder = Path(args.out)
    if folder.exists() and any(folder.iterdir()):
        raise CliError(f"apply --out {args.out!r}: the folder is not empty; give a new folder, so that the "
                       f"day-2 starting point is only what this run wrote", ExitStatus.USAGE)
    model = load_model(args.model)
    options = warm_start_options(args, model)
    if args.memory_budget is not None:
        options["memory_budget"] = args.memory_budget << 20
    report = ws.warm_start(model, args.source, **options)
    prefix = ws.save(model, folder / "ckpt-1", optimizer=options["optimizer"])
    # the state file a CheckpointManager writes, so that the folder itself names the checkpoint
    tf.compat.v1.train.update_checkpoint_state(str(folder), prefix)
    render.write_json_file(folder / "report.json", report.to_dict())
    _show(report, args, console, out)
    if not args.json:
        console.print(f"Wrote {prefix} and {folder / 'report.json'}", markup=False, highlight=False)
    return ExitStatus.SUCCESS


def warm_start_options(args: argparse.Namespace, model: Any) -> dict[str, Any]:
    """The library's keyword arguments from ``plan``'s and ``apply``'s options."""
    import warmstart as ws

    vocab: dict[str, Any] = {pattern: ws.Vocab(**kwargs) for pattern, kwargs in args.vocab}
    vocab.update({pattern: ws.Hashed(*bins) for pattern, bins in args.hashed})
    optimizer = None
    if args.optimizer:
        optimizer = getattr(model, "optimizer", None)
        if optimizer is None:
            raise CliError(f"--optimizer: the model from {args.model!r} is not compiled, so it has no optimizer; "
                           f"compile it in the factory, or leave --optimizer out", ExitStatus.USAGE)
    return {
        "include": args.include, "exclude": args.exclude, "rename": args.rename,
        "on_mismatch": mismatch_policy(args.on_mismatch, args.on_mismatch_for), "vocab": vocab or None,
        "cast": args.cast, "optimizer": optimizer, "strict": args.strict, "expect_missing": args.expect_missing,
        "source_root": args.source_root,
    }


def _show(report: Any, args: argparse.Namespace, console: Console, out: TextIO) -> None:
    if args.json:
        render.write_json(out, report.to_dict())
    else:
        for line in report.renderable(full=args.all):
            console.print(line)


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
