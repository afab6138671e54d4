"""The report as text: a summary line, then one table per outcome.

Tables are laid out here, in plain text (a column is as wide as its widest cell), because a
daily job prints the report every run and a generic table renderer takes seconds for
thousands of rows. Long tables are summarised unless ``full``: the first rows of each action
(loaded), reason (skipped) or kind, then a count of the rest.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from ..entries import shape_text
from ..plan import Action, LoadedEntry, SlotOutcome, StateOutcome
from ..shards import size_text

if TYPE_CHECKING:
    from .report import Report

__all__ = ["SHOWN_PER_GROUP", "Line", "lines"]

SHOWN_PER_GROUP = 10  # rows shown per action / reason / table when the report is summarised

Line = tuple[str, str]  # (style: "title" | "header" | "rule" | "" | "warning" | "problem", text)


def lines(report: Report, *, full: bool = False) -> Iterator[Line]:
    """The report's lines, each with a style for consoles that have colour."""
    yield "title", report.summary()
    hidden = 0
    if report.loaded:
        title = f"{'Would load' if report.dry_run else 'Loaded'} ({len(report.loaded)})"
        rows = [_loaded_row(e) for e in report.loaded]
        shown, more = _summarised(rows, [str(e.action) for e in report.loaded], full, "more {}")
        hidden += sum(n for _, n in more)
        yield from _table(title, ("target", "source", "action", "shape", "matched by"), shown, more)
    if report.skipped:
        rows = [(s.target, s.source or "", str(s.reason), s.detail) for s in report.skipped]
        shown, more = _summarised(rows, [str(s.reason) for s in report.skipped], full, "more {}")
        hidden += sum(n for _, n in more)
        yield from _table(f"Skipped ({len(report.skipped)})", ("target", "source", "reason", "detail"), shown, more)
    if report.missing:
        rows = [(n, report.missing_detail.get(n, "")) for n in report.missing]
        shown, more = _summarised(rows, [""] * len(rows), full, "more")
        hidden += sum(n for _, n in more)
        title = f"Missing: not in the checkpoint, left as initialised ({len(report.missing)})"
        yield from _table(title, ("target", "detail"), shown, more)
    if report.unused:
        names = report.unused if full else report.unused[: 2 * SHOWN_PER_GROUP]
        rest = len(report.unused) - len(names)
        hidden += rest
        yield "", ""
        yield "", (f"Unused checkpoint variables ({len(report.unused)}): " + ", ".join(names)
                   + (f", ... and {rest} more" if rest else ""))
    if report.slots:
        title, rows = _slot_rows(report)
        shown, more = _summarised(rows, [""] * len(rows), full, "more variables")
        hidden += sum(n for _, n in more)
        yield from _table(title, ("variable", "loaded", "fresh (variable not loaded)", "skipped (why)"), shown, more)
    if report.optimizer_state:
        rows = [(e.target, str(e.kind), str(e.outcome), f"from {e.source!r}" if e.source else e.reason)
                for e in report.optimizer_state]
        shown, more = _summarised(rows, [str(e.kind) for e in report.optimizer_state], full, "more {}")
        hidden += sum(n for _, n in more)
        carried = sum(1 for e in report.optimizer_state if e.outcome is StateOutcome.CARRIED)
        title = f"Other optimizer variables ({carried} of {len(report.optimizer_state)} carried)"
        yield from _table(title, ("variable", "kind", "outcome", "from / why"), shown, more)
    if report.shards:
        verb = "would read" if report.dry_run else "read"
        rows = [(e.target, e.text(), ", ".join(size_text(n) for n in e.read)) for e in report.shards]
        shown, more = _summarised(rows, [""] * len(rows), full, "more")
        hidden += sum(n for _, n in more)
        yield from _table(f"Shards and slices ({len(report.shards)})", ("target", "model ← checkpoint",
                                                                       f"{verb} for each shard"), shown, more)
    if report.notes or report.warnings or report.problems:
        yield "", ""
    for n in report.notes:
        yield "", f"note: {n}"
    for w in report.warnings:
        yield "warning", f"WARNING: {w}"
    for p in report.problems:
        yield "problem", f"PROBLEM: {p}"
    if hidden:
        yield "", ""
        yield "", (f"({hidden} rows not shown: report.text(full=True), report.to_dict() or "
                   f"`warmstart plan --all` show every row)")


def _loaded_row(e: LoadedEntry) -> tuple[str, ...]:
    shape = shape_text(e.shape) if e.shape == e.source_shape else f"{shape_text(e.source_shape)} -> {shape_text(e.shape)}"
    how = str(e.strategy) + (f" {e.rule!r}" if e.rule else "")
    action = f"{e.action}: {e.detail}" if e.detail else str(e.action)
    if e.action is Action.CAST:
        action = f"cast {e.source_dtype} -> {e.dtype}"
    return e.target, "" if e.source == e.target else e.source, action, shape, how


def _summarised(rows: list[tuple[str, ...]], groups: list[str], full: bool,
                what: str) -> tuple[list[tuple[str, ...]], list[tuple[str, int]]]:
    """The rows to show (all, or the first of each group in order) and, per group, how many not
    (``what`` names them, ``{}`` standing for the group)."""
    if full:
        return rows, []
    seen: Counter[str] = Counter()
    shown = []
    for row, group in zip(rows, groups, strict=True):
        seen[group] += 1
        if seen[group] <= SHOWN_PER_GROUP:
            shown.append(row)
    more = [(what.format(g), n - SHOWN_PER_GROUP) for g, n in seen.items() if n > SHOWN_PER_GROUP]
    return shown, more


def _table(title: str, header: Sequence[str], rows: Sequence[tuple[str, ...]],
           more: Sequence[tuple[str, int]]) -> Iterator[Line]:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    yield "", ""
    yield "title", title
    yield "", ""
    yield "header", _row(header, widths)
    yield "rule", " " + "─" * min(sum(widths) + 3 * (len(widths) - 1) + 2, 118)
    for r in rows:
        yield "", _row(r, widths)
    for what, n in more:
        yield "", f"  ... and {n} {what}"


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    return ("  " + "   ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))).rstrip()


def _slot_rows(report: Report) -> tuple[str, list[tuple[str, ...]]]:
    """One row per variable: its slots grouped by outcome (a model has thousands)."""
    rows: dict[str, dict[str, list[str]]] = {}
    for e in report.slots:
        if e.outcome is SlotOutcome.LOADED:
            cell = e.slot if e.action in (None, Action.COPY) else f"{e.slot} ({e.action})"
        else:  # a fresh slot's reason is always that its variable was not loaded
            cell = e.slot if e.outcome is SlotOutcome.FRESH else f"{e.slot} ({e.reason})"
        rows.setdefault(e.target, {}).setdefault(str(e.outcome), []).append(cell)
    loaded = sum(1 for e in report.slots if e.outcome is SlotOutcome.LOADED)
    title = f"Optimizer slots ({loaded} of {len(report.slots)} loaded)"
    return title, [
        (target, ", ".join(by.get("loaded", [])), ", ".join(by.get("fresh", [])), "; ".join(by.get("skipped", [])))
        for target, by in sorted(rows.items())
    ]
