"""Pair each included target with at most one checkpoint variable.

Pure Python. Everything is indexed by name once, so the cost is linear in the number of
variables. Pairing, for each included target, in this order:

1. a ``rename`` rule (first fullmatch wins; ``None`` = do not load);
2. the same name in the checkpoint;
3. the same name up to Keras auto-name counters (``dense_7`` in the model, ``dense_3``
   in the checkpoint) where the model says the component was auto-generated;
4. the same object-graph path, for checkpoint variables whose own name is unusable
   (lazily built subclassed models name every kernel ``model/kernel``).

Where several checkpoint variables qualify, a shared object-graph path decides; if none
does, the target is reported missing with the candidates. Implicit pairs (2-4) are
one-to-one: a checkpoint variable claimed by two targets goes to neither.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from ..entries import NameSource, SourceEntry, TargetEntry
from ..names import auto_key, compatible
from ..plan import SkippedEntry, SkipReason, Strategy
from ..rules import Rules
from .usage import RuleUsage

__all__ = ["Index", "Pair", "Pairing", "pair_targets"]


@dataclass(frozen=True, slots=True)
class Pair:
    """A target's checkpoint variable and how it was found."""

    source: SourceEntry
    strategy: Strategy
    by_structure: bool = False  # several candidates; a shared object-graph path decided
    rule: str | None = None  # the rename pattern


@dataclass(slots=True)
class Pairing:
    """The outcome of pairing: what is paired, ruled out, or missing (with why)."""

    pairs: dict[str, Pair] = field(default_factory=dict)
    skipped: list[SkippedEntry] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)
    rule_errors: list[str] = field(default_factory=list)


class Index:
    """The checkpoint's variables by name, by auto-name key and by object-graph path."""

    def __init__(self, entries: list[SourceEntry]) -> None:
        self.entries = entries
        self.by_name: dict[str, list[SourceEntry]] = defaultdict(list)
        self.by_auto: dict[str, list[SourceEntry]] = defaultdict(list)
        self.by_path: dict[str, list[SourceEntry]] = defaultdict(list)
        for s in entries:
            self.by_name[s.name].append(s)
            self.by_auto[auto_key(s.name)].append(s)
            if s.name_source is NameSource.STRUCTURE:
                for p in s.paths:
                    self.by_path[p].append(s)

    def label(self, s: SourceEntry) -> str:
        """A source's name, with its key where several checkpoint variables share the name."""
        return s.name if len(self.by_name[s.name]) == 1 else f"{s.name} [{s.key}]"


def pair_targets(targets: Sequence[TargetEntry], index: Index, rules: Rules, usage: RuleUsage) -> Pairing:
    """Pair ``targets`` (sorted by name) with checkpoint variables; record rule use in ``usage``."""
    out = Pairing()
    implicit: list[TargetEntry] = []
    for t in targets:
        usage.saw(t.name)
        exclusion = rules.exclusion(t.name)
        if exclusion is not None:
            usage.excluded(exclusion)
            out.skipped.append(SkippedEntry(t.name, None, SkipReason.EXCLUDED, exclusion.detail))
            continue
        if not _pair_by_rename(t, index, rules, usage, out):
            implicit.append(t)
    claimed = {p.source.key: target for target, p in out.pairs.items()}
    for tier in (_by_name, _by_auto_name, _by_path):
        implicit = _claim(tier, implicit, index, claimed, out)
    for t in implicit:
        out.missing.setdefault(t.name, t.untracked or "no variable of that name in the checkpoint")
    out.rule_errors += _conflicts(out.pairs)
    return out


def _pair_by_rename(t: TargetEntry, index: Index, rules: Rules, usage: RuleUsage, out: Pairing) -> bool:
    """Apply the first rename rule that matches ``t``; False when none does."""
    renamed = rules.rename_for(t.name)
    if renamed is None:
        return False
    pattern, match, template = renamed
    usage.rename_matched(pattern.pattern, t.name)
    if template is None:
        out.skipped.append(SkippedEntry(t.name, None, SkipReason.RENAME_NONE, f"rename {pattern.pattern!r} -> None"))
        usage.rename_paired(pattern.pattern)
        return True
    try:
        wanted = match.expand(template)
    except (re.error, IndexError) as e:
        out.rule_errors.append(f"rename {pattern.pattern!r} -> {template!r}: the template does not expand ({e}).")
        usage.rename_paired(pattern.pattern)
        return True
    candidates = index.by_name.get(wanted, [])
    found = _by_structure(t, candidates) if len(candidates) > 1 else candidates
    if len(found) == 1:
        out.pairs[t.name] = Pair(found[0], Strategy.RENAME, len(candidates) > 1, pattern.pattern)
        usage.rename_paired(pattern.pattern)
    elif not candidates:
        out.missing[t.name] = f"rename {pattern.pattern!r} -> {wanted!r}, which is not in the checkpoint"
    else:
        usage.rename_paired(pattern.pattern)  # it found sources; the ambiguity is the one problem
        out.rule_errors.append(
            f"rename {pattern.pattern!r} gives {t.name!r} two or more sources named {wanted!r} "
            f"({', '.join(s.key for s in candidates)}) and the object graph cannot tell them apart.\n"
            f"  Fix: exclude {t.name!r} or load it from a tf.Module mapping of the one you want."
        )
    return True


Tier = Callable[[TargetEntry, Index], tuple[list[SourceEntry], Strategy]]


def _by_structure(t: TargetEntry, candidates: Iterable[SourceEntry]) -> list[SourceEntry]:
    mine = set(t.paths)
    return [s for s in candidates if mine.intersection(s.paths)]


def _by_name(t: TargetEntry, index: Index) -> tuple[list[SourceEntry], Strategy]:
    return list(index.by_name.get(t.name, ())), Strategy.NAME


def _by_auto_name(t: TargetEntry, index: Index) -> tuple[list[SourceEntry], Strategy]:
    if not t.auto_components:
        return [], Strategy.AUTO_NAME
    pool = index.by_auto.get(auto_key(t.name, t.auto_components), ())
    return [s for s in pool if compatible(t.name, t.auto_components, s.name)], Strategy.AUTO_NAME


def _by_path(t: TargetEntry, index: Index) -> tuple[list[SourceEntry], Strategy]:
    found: dict[str, SourceEntry] = {}
    for p in t.paths:
        for s in index.by_path.get(p, ()):
            found[s.key] = s
    return list(found.values()), Strategy.STRUCTURE


def _claim(tier: Tier, targets: list[TargetEntry], index: Index, claimed: dict[str, str],
           out: Pairing) -> list[TargetEntry]:
    """Run one pairing tier over the still-unpaired targets; return those left unpaired."""
    wants: dict[str, list[tuple[TargetEntry, Pair]]] = defaultdict(list)
    left = []
    for t in targets:
        found, strategy = tier(t, index)
        taken = [s for s in found if s.key in claimed]
        found = [s for s in found if s.key not in claimed]
        if taken and not found:
            out.missing[t.name] = _taken_detail(taken, claimed, out.pairs)
            continue
        by_structure = False
        if len(found) > 1:
            narrowed = _by_structure(t, found)
            if len(narrowed) != 1:
                names = ", ".join(sorted(s.name for s in found)[:4])
                out.missing[t.name] = (
                    f"ambiguous: {len(found)} checkpoint variables could match ({names}) and "
                    f"the object graph does not decide; add a rename rule"
                )
                continue
            found, by_structure = narrowed, True
        if found:
            wants[found[0].key].append((t, Pair(found[0], strategy, by_structure)))
        else:
            left.append(t)
    for key, claims in wants.items():
        if len(claims) == 1:
            t, pair = claims[0]
            out.pairs[t.name] = pair
            claimed[key] = t.name
        else:
            rivals = ", ".join(sorted(t.name for t, _ in claims))
            for t, pair in claims:
                out.missing[t.name] = f"ambiguous: {pair.source.name!r} would also load into {rivals}; add a rename rule"
    return left


def _taken_detail(taken: list[SourceEntry], claimed: dict[str, str], pairs: dict[str, Pair]) -> str:
    """Why a target whose candidates all went to other targets is missing, with how they went."""
    def went(s: SourceEntry) -> str:
        owner = claimed[s.key]
        pair = pairs[owner]
        by = f"rename {pair.rule!r}" if pair.rule is not None else str(pair.strategy)
        return f"{s.name!r} is loaded into {owner!r} (by {by})"

    taken = sorted(taken, key=lambda e: e.key)
    if len(taken) == 1:
        return f"its checkpoint variable {went(taken[0])}"
    shown = "; ".join(went(s) for s in taken[:4]) + ("; ..." if len(taken) > 4 else "")
    return f"each of the {len(taken)} checkpoint variables it could match is loaded into another target: {shown}"


def _conflicts(pairs: dict[str, Pair]) -> list[str]:
    by_key: dict[str, list[str]] = defaultdict(list)
    for target, pair in pairs.items():
        by_key[pair.source.key].append(target)
    out = []
    for _, names in sorted(by_key.items()):
        if len(names) > 1:
            source_name = pairs[names[0]].source.name
            rules = sorted({str(pairs[n].rule) for n in names if pairs[n].rule})
            out.append(
                f"checkpoint variable {source_name!r} would be loaded into {len(names)} targets "
                f"({', '.join(sorted(names))}) through rename {', '.join(rules)}.\n"
                f"  Fix: narrow the rename pattern, or exclude all but one of those targets."
            )
    return out
