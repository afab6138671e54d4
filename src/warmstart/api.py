"""``warm_start``: rules, source and target in; a report out. Orchestration only."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping
from typing import Any

from .apply import DEFAULT_HOLD_BYTES, Progress, execute
from .entries import EntryKind, SourceEntry
from .errors import IncompleteError, NothingToLoadError, ShapeMismatchError, join_problems
from .matching import make_plan
from .names import closest
from .plan import Plan
from .report import Report, report_from_plan
from .rules import MismatchPolicy, PatternLike, RenameRules, compile_rules
from .sources import open_source
from .targets import walk_target

__all__ = ["inspect_checkpoint", "warm_start"]

log = logging.getLogger("warmstart")


def warm_start(
    target: Any,
    source: str | os.PathLike[str],
    *,
    include: Iterable[PatternLike] | PatternLike | None = None,
    exclude: Iterable[PatternLike] | PatternLike = (),
    rename: RenameRules = (),
    on_mismatch: MismatchPolicy = "skip",
    vocab: Mapping[str, Any] | None = None,
    optimizer: Any = None,
    strict: bool = False,
    expect_missing: Iterable[PatternLike] | PatternLike = (),
    dry_run: bool = False,
    progress: Progress | None = None,
    hold_bytes: int = DEFAULT_HOLD_BYTES,
) -> Report:
    """Load every checkpoint variable that fits into ``target``, by name; report the rest.

    ``target`` is a built ``keras.Model``, a ``tf.Module`` or a ``Mapping[str, tf.Variable]``;
    ``source`` a checkpoint prefix, a ``CheckpointManager`` directory (its latest) or a
    SavedModel directory. Rules use ``re.fullmatch`` on target names, the names
    ``warmstart inspect`` shows. Nothing is written unless everything checks out: an error
    leaves every variable as it was.

    >>> report = ws.warm_start(model, "runs/v1", exclude=["head/.*"],
    ...                        on_mismatch={"tower/.*": "overlap"})  # doctest: +SKIP
    >>> print(report)  # doctest: +SKIP
    """
    if vocab:
        raise NotImplementedError("vocab= (vocabulary remap) is not available in this version yet.")
    if optimizer is not None:
        raise NotImplementedError("optimizer= (carrying optimizer slots) is not available in this version yet.")
    started = time.perf_counter()
    rules = compile_rules(
        include=include, exclude=exclude, rename=rename,
        on_mismatch=on_mismatch, expect_missing=expect_missing,
    )
    live = walk_target(target)
    src = open_source(source)
    plan = make_plan(src.entries, live.entries, rules)
    problems = _problems(plan, src.entries, strict=strict)
    label = os.fspath(source)
    if dry_run:
        report = report_from_plan(plan, label, dry_run=True, problems=tuple(p for _, p in problems))
        log.info("%s", report.summary())
        return report
    for kind, message in problems:
        raise kind(message)
    execute(plan, src, live.variables, hold_bytes=hold_bytes, progress=progress)
    report = report_from_plan(plan, label, dry_run=False, seconds=time.perf_counter() - started)
    log.info("%s", report.summary())
    not_loaded = len(report.missing) + sum(1 for s in report.skipped if s.reason.value.endswith("mismatch"))
    if not_loaded:
        log.warning("warm start: %d included variable(s) were not loaded (%s%s)", not_loaded,
                    ", ".join((report.missing + tuple(s.target for s in report.skipped))[:5]),
                    ", ..." if not_loaded > 5 else "")
    return report


def inspect_checkpoint(source: str | os.PathLike[str]) -> tuple[SourceEntry, ...]:
    """Every entry of a checkpoint, with the names rules can refer to."""
    return open_source(source).entries


def _problems(plan: Plan, entries, *, strict: bool) -> list[tuple[type[Exception], str]]:
    """What stops a real run, in the order it is raised; a dry run lists them instead."""
    out: list[tuple[type[Exception], str]] = []
    if plan.mismatch_errors:
        out.append((ShapeMismatchError, join_problems("shapes or dtypes differ:", list(plan.mismatch_errors))))
    if strict and plan.incomplete:
        lines = [
            f"{n!r} would not be loaded: {plan.missing_detail.get(n) or _skip_detail(plan, n)}."
            for n in plan.incomplete
        ]
        lines[0] += "\n  Fix: add a rule that loads it, or expect_missing=[...] the names you expect to stay new."
        out.append((IncompleteError, join_problems("strict warm start is incomplete:", lines)))
    if not plan.steps:
        sources = [e.name for e in entries if e.kind is EntryKind.VARIABLE]
        targets = list(plan.missing) + [s.target for s in plan.skipped]
        near = closest(targets[0], sources) if targets and sources else []
        out.append((NothingToLoadError, (
            f"nothing would be loaded: {len(targets)} target variable(s), {len(sources)} checkpoint "
            f"variable(s), no pair that fits"
            + (f" (e.g. {targets[0]!r}; checkpoint names nearby: {', '.join(near)})" if near else "")
            + ".\n  Fix: compare the names with `warmstart inspect`, then add rename rules or loosen "
            f"include/exclude."
        )))
    return out


def _skip_detail(plan: Plan, name: str) -> str:
    for s in plan.skipped:
        if s.target == name:
            return f"{s.reason}: {s.detail}"
    return "not loaded"
