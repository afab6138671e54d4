"""The outcome of a warm start: what was loaded, skipped (and why), missing and unused.

``str(report)`` is a table grouped by outcome (rendered with rich, no colour; see
:mod:`.render`); ``report.to_dict()`` is JSON-ready; ``report.save(path)`` writes it as JSON
and ``Report.load(path)`` reads it back (provenance: the resolved checkpoint, the rules, what
came from where).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from ..plan import (
    Action,
    LoadedEntry,
    Plan,
    SkippedEntry,
    SkipReason,
    SlotEntry,
    SlotOutcome,
    SlotPlan,
    StateEntry,
    StateKind,
    StateOutcome,
    Strategy,
)
from ..shards import ShardLayout
from ..sources.locate import Location
from .provenance import location_dict

__all__ = ["Report", "report_from_plan"]


@dataclass(frozen=True, slots=True)
class Report:
    """What a warm start did (or, with ``dry_run``, would do) with every target variable.

    ``loaded``, ``skipped`` and ``missing`` partition the target's variables; ``unused`` are
    the checkpoint variables nothing loaded from; ``slots`` the optimizer's slots; ``problems``
    what fails (or in a dry run would fail) a real run, and ``ok`` is true when there are none.
    """

    source: str
    """The source as it was given (``"runs/v1"``)."""
    loaded: tuple[LoadedEntry, ...]
    """Every target that was loaded (in a dry run: would be), with how and from where."""
    skipped: tuple[SkippedEntry, ...]
    """Every target that was paired or ruled out and not loaded, with why."""
    missing: tuple[str, ...]
    """Targets with no checkpoint variable to load from; they keep their initial values."""
    unused: tuple[str, ...]
    """Checkpoint variables nothing was loaded from."""
    slots: tuple[SlotEntry, ...] = ()
    """What happened to each optimizer slot (with ``optimizer=``)."""
    optimizer_state: tuple[StateEntry, ...] = ()
    """What happened to each optimizer variable that is not a slot (with ``optimizer=``): the
    step, the learning rate, state that goes with the step (Nadam's ``_u_product``, a loss
    scale), gradient accumulators. With ``slots``, every variable of the optimizer."""
    dry_run: bool = False
    """True for ``dry_run=True``: nothing was written."""
    problems: tuple[str, ...] = ()
    """What fails (in a dry run: would fail) a real run; a real run raises instead."""
    missing_detail: dict[str, str] = field(default_factory=dict)
    """Why each missing target found no source (the closest names, ambiguous candidates)."""
    nbytes: int = 0
    """Bytes read from the checkpoint for what was loaded."""
    seconds: float | None = None
    """How long the call took (``None`` for a dry run)."""
    notes: tuple[str, ...] = ()
    """What the call did that the tables do not show (an optimizer built, the step carried)."""
    warnings: tuple[str, ...] = ()
    """What to look at although the warm start ran: pairings that are guesses, a remap that
    carries less than half of the old rows."""
    location: Location | None = None
    """The checkpoint that was read: its path, format and files."""
    rules: dict[str, Any] = field(default_factory=dict)
    """The rules and options of the call, as given (see :func:`~.provenance.rules_dict`)."""
    resumed: bool = False
    """True when :func:`warmstart.restore_or_warm_start` restored the run's own checkpoint
    (exactly, by ``tf.train.Checkpoint``) instead of warm-starting."""
    shards: tuple[ShardLayout, ...] = ()
    """Each table sharded in the model or stored in slices: both layouts, and the bytes read
    for each shard."""

    @property
    def ok(self) -> bool:
        """No problems: a real run succeeded (a dry run would)."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (enums as their strings); :meth:`from_dict` reads it."""
        return {
            "source": self.source,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "problems": list(self.problems),
            "bytes": self.nbytes,
            "seconds": self.seconds,
            "loaded": [
                {"target": e.target, "source": e.source, "action": str(e.action),
                 "shape": list(e.shape), "source_shape": list(e.source_shape),
                 "strategy": str(e.strategy), "rule": e.rule, "detail": e.detail,
                 "rows": dict(e.rows) if e.rows else None, "dtype": e.dtype, "source_dtype": e.source_dtype}
                for e in self.loaded
            ],
            "skipped": [
                {"target": e.target, "source": e.source, "reason": str(e.reason), "detail": e.detail}
                for e in self.skipped
            ],
            "missing": [{"target": n, "detail": self.missing_detail.get(n, "")} for n in self.missing],
            "unused": list(self.unused),
            "notes": list(self.notes),
            "warnings": list(self.warnings),
            "slots": [
                {"target": e.target, "slot": e.slot, "outcome": str(e.outcome),
                 "action": None if e.action is None else str(e.action), "reason": e.reason}
                for e in self.slots
            ],
            "optimizer_state": [
                {"target": e.target, "kind": str(e.kind), "outcome": str(e.outcome), "source": e.source,
                 "reason": e.reason}
                for e in self.optimizer_state
            ],
            "location": None if self.location is None else location_dict(self.location),
            "rules": self.rules,
            "resumed": self.resumed,
            "shards": [
                {"target": e.target, "layout": e.text(), "shards": list(e.shards), "slices": list(e.slices),
                 "read": list(e.read)}
                for e in self.shards
            ],
        }

    def save(self, path: str | os.PathLike[str]) -> str:
        """Write :meth:`to_dict` as JSON to ``path`` (provenance beside a checkpoint); return
        the path. :meth:`load` reads it back."""
        text = os.fspath(path)
        with open(text, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=1)
            f.write("\n")
        return text

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Report:
        """Read a report written by :meth:`save`: ``Report.load(p).to_dict()`` equals the
        saved ``to_dict()``."""
        with open(os.fspath(path), encoding="utf-8") as f:
            return cls.from_dict(json.load(f))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Report:
        """The report of a :meth:`to_dict`."""
        where = d.get("location")
        return cls(
            source=d["source"],
            loaded=tuple(_loaded(e) for e in d["loaded"]),
            skipped=tuple(SkippedEntry(e["target"], e["source"], SkipReason(e["reason"]), e["detail"])
                          for e in d["skipped"]),
            missing=tuple(m["target"] for m in d["missing"]),
            unused=tuple(d["unused"]),
            slots=tuple(SlotEntry(e["target"], e["slot"], SlotOutcome(e["outcome"]),
                                  None if e["action"] is None else Action(e["action"]), e["reason"])
                        for e in d["slots"]),
            optimizer_state=tuple(StateEntry(e["target"], StateKind(e["kind"]), StateOutcome(e["outcome"]),
                                             e["source"], e["reason"]) for e in d.get("optimizer_state", ())),
            dry_run=bool(d["dry_run"]),
            problems=tuple(d["problems"]),
            missing_detail={m["target"]: m["detail"] for m in d["missing"]},
            nbytes=int(d["bytes"]),
            seconds=d["seconds"],
            notes=tuple(d["notes"]),
            warnings=tuple(d.get("warnings", ())),
            location=None if where is None else Location(where["path"], where["format"], tuple(where["files"])),
            rules=dict(d.get("rules") or {}),
            resumed=bool(d.get("resumed", False)),
            shards=tuple(ShardLayout(e["target"], tuple(e["shards"]), tuple(e["slices"]), tuple(e["read"]))
                         for e in d.get("shards", ())),
        )

    def summary(self) -> str:
        """The first line of the report: how many variables were loaded, skipped, missing, unused."""
        if self.resumed:
            return f"resumed from {self.source}: restored exactly (the run's own checkpoint)"
        verb = "would load" if self.dry_run else "loaded"
        return (
            f"warm start from {self.source}: {verb} {len(self.loaded)}, skipped {len(self.skipped)}, "
            f"missing {len(self.missing)}, unused {len(self.unused)}"
            + (f"; {len(self.warnings)} warning(s)" if self.warnings else "")
            + ("" if self.ok else f"; {len(self.problems)} problem(s)")
        )

    def text(self, *, full: bool = False) -> str:
        """The report as tables; long tables are summarised (the first rows of each action or
        reason, then a count) unless ``full``. ``str(report)`` is ``report.text()``."""
        from .render import lines

        return "\n".join(text for _, text in lines(self, full=full))

    def __str__(self) -> str:
        return self.text()

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """``console.print(report)`` draws the summarised tables on any rich console (with colour
        on a terminal); the library itself never prints. ``report.renderable(full=True)`` for all."""
        yield from self.renderable()

    def renderable(self, *, full: bool = False) -> list[Text]:
        """The report's lines as rich ``Text`` (titles bold, warnings and problems coloured)."""
        from .render import lines

        styles = {"title": "bold", "header": "bold", "warning": "yellow", "problem": "red", "rule": "dim"}
        return [Text(text, style=styles.get(style, ""), no_wrap=style in ("header", "rule", ""), overflow="ignore")
                for style, text in lines(self, full=full)]


def _loaded(e: Mapping[str, Any]) -> LoadedEntry:
    return LoadedEntry(
        target=e["target"], source=e["source"], action=Action(e["action"]), shape=tuple(e["shape"]),
        source_shape=tuple(e["source_shape"]), dtype=e.get("dtype", ""), source_dtype=e.get("source_dtype", ""),
        strategy=Strategy(e["strategy"]), rule=e["rule"], detail=e["detail"],
        rows=tuple((k, int(n)) for k, n in (e["rows"] or {}).items()),
    )


_ENTRY_FIELDS = tuple(f.name for f in dataclasses.fields(LoadedEntry))


def _entry(step: LoadedEntry) -> LoadedEntry:
    if type(step) is LoadedEntry:
        return step
    return LoadedEntry(**{name: getattr(step, name) for name in _ENTRY_FIELDS})


def report_from_plan(plan: Plan, source: str, *, dry_run: bool, problems: tuple[str, ...] = (),
                     seconds: float | None = None, slots: SlotPlan | None = None,
                     notes: tuple[str, ...] = (), location: Location | None = None,
                     rules: dict[str, Any] | None = None, shards: tuple[ShardLayout, ...] = ()) -> Report:
    extra = () if slots is None else slots.steps + slots.state_steps
    return Report(
        source=source,
        # the report's rows, not the plan's steps: equal to a saved report's once loaded, and
        # a remap's row map (16 bytes a row) is not kept alive by the report
        loaded=tuple(_entry(s) for s in plan.steps),
        skipped=plan.skipped,
        missing=plan.missing,
        unused=plan.unused,
        dry_run=dry_run,
        problems=problems,
        missing_detail=dict(plan.missing_detail),
        nbytes=plan.nbytes + sum(s.nbytes for s in extra),
        seconds=seconds,
        slots=() if slots is None else slots.results,
        optimizer_state=() if slots is None else slots.state,
        notes=notes,
        warnings=plan.ambiguities + plan.warnings + (() if slots is None else slots.warnings),
        location=location,
        rules=dict(rules or {}),
        shards=shards,
    )
