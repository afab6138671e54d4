"""``make_plan``: entries and rules in, a :class:`~warmstart.plan.Plan` out.

Pure Python. Pairing (:mod:`.pairing`) finds each target's checkpoint variable; the
decision (:mod:`.decide`) says what to do with each pair; :class:`.usage.RuleUsage` names
the rules that did nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from ..entries import EntryKind, Shape, SourceEntry, TargetEntry
from ..errors import RuleError, VocabError, join_problems
from ..plan import Plan, Refusal, SkippedEntry, SkipReason, Step
from ..remap.rows import RowMap
from ..rules import Rules
from .ambiguity import Ambiguity, PositionalPairing, find_ambiguities, find_positional_pairings
from .decide import VocabMisfit, decide
from .pairing import Index, pair_targets
from .usage import RuleUsage

__all__ = ["make_plan"]


def make_plan(
    sources: Sequence[SourceEntry],
    targets: Sequence[TargetEntry],
    rules: Rules,
    row_maps: Sequence[RowMap] = (),
) -> Plan:
    """Decide the whole warm start. ``row_maps``: one per vocab rule, in order (see
    :func:`warmstart.remap.build_row_maps`). Raises :class:`RuleError` for rules that cannot
    work and :class:`VocabError` for vocabularies that do not fit."""
    if len(row_maps) != len(rules.vocab):
        raise ValueError(f"{len(rules.vocab)} vocab rule(s) need as many row maps, got {len(row_maps)}")
    index = Index([s for s in sources if s.kind is EntryKind.VARIABLE])
    targets = sorted(targets, key=lambda t: t.name)
    _check_unique_targets(targets)
    names = [t.name for t in targets]

    usage = RuleUsage(rules)
    pairing = pair_targets(targets, index, rules, usage)
    rule_errors = pairing.rule_errors + usage.problems(names, index.by_name, pairing.missing)
    if rule_errors:
        raise RuleError(join_problems("the rules cannot be applied:", rule_errors))

    vocab_errors = usage.unused_vocab(names)
    steps: list[Step] = []
    skipped: list[SkippedEntry] = list(pairing.skipped)
    mismatch_errors: list[str] = []
    maps = tuple(row_maps)
    # what each producer was in the checkpoint: preserve checks that a kernel's new inputs are appended
    widths: dict[str, Shape | None] = {name: None for name in pairing.missing}
    widths.update((name, pair.source.shape) for name, pair in pairing.pairs.items())
    for t in targets:
        pair = pairing.pairs.get(t.name)
        if pair is None:
            continue
        try:
            decided = decide(t, pair.source, strategy=pair.strategy, by_structure=pair.by_structure,
                             rule=pair.rule, rules=rules, row_maps=maps, widths=widths)
        except VocabMisfit as e:
            vocab_errors.append(str(e))
            continue
        if isinstance(decided, Step):
            steps.append(decided)
        elif isinstance(decided, Refusal):  # raised by a real run; a dry run shows it as skipped
            mismatch_errors.append(decided.message)
            skipped.append(decided.skip)
        else:
            skipped.append(decided)
    if vocab_errors:
        raise VocabError(join_problems("the vocabularies do not fit:", vocab_errors))

    used_keys = {p.source.key for p in pairing.pairs.values()}
    unused = tuple(sorted(index.label(s) for s in index.entries if s.key not in used_keys))
    loaded = {s.target for s in steps}
    intentional = {s.target for s in skipped if s.reason in (SkipReason.EXCLUDED, SkipReason.RENAME_NONE)}
    incomplete = tuple(
        n for n in names if n not in loaded and n not in intentional and not rules.expected_missing(n)
    )
    ambiguities: list[Ambiguity | PositionalPairing] = [*find_ambiguities(targets, index.entries, pairing.pairs),
                   *find_positional_pairings(index.entries, pairing.pairs)]
    return Plan(
        warnings=tuple(w for s in steps if (w := _low_carry(s))),
        ambiguities=tuple(a.message() for a in ambiguities),
        ambiguous=tuple(sorted({n for a in ambiguities for n in a.targets})),
        steps=tuple(steps),
        skipped=tuple(sorted(skipped, key=lambda s: s.target)),
        missing=tuple(sorted(pairing.missing)),
        unused=unused,
        missing_detail=dict(sorted(pairing.missing.items())),
        mismatch_errors=tuple(mismatch_errors),
        incomplete=incomplete,
    )


def _check_unique_targets(targets: Sequence[TargetEntry]) -> None:
    seen: dict[str, int] = defaultdict(int)
    for t in targets:
        seen[t.name] += 1
    dup = sorted(n for n, c in seen.items() if c > 1)
    if dup:
        raise RuleError(
            f"the target has {len(dup)} name(s) shared by several variables: {dup[:5]}.\n"
            f"  Fix: give the layers distinct names, or pass a Mapping[str, tf.Variable]."
        )


def _low_carry(step: Step) -> str | None:
    """A remap that carries less than half of the old tokens is probably the wrong vocabulary."""
    rows = step.remap.rows if step.remap is not None else None
    if rows is None or not rows.old_tokens or rows.tokens_carried * 2 >= rows.old_tokens:
        return None
    return (f"{step.target!r}: the remap carries {rows.tokens_carried} of the checkpoint's {rows.old_tokens} tokens "
            f"({rows.tokens_carried / rows.old_tokens:.0%}); check that the old vocabulary is the one "
            f"{step.source!r} was trained with.")
