"""Pair target variables with checkpoint entries and decide what to do with each pair.

Pure Python: entries and rules in, a :class:`~warmstart.plan.Plan` out. Everything is
indexed by name once, so the cost is linear in the number of variables.

Pairing, for each included target, in this order:

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

import dataclasses
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence

from .entries import EntryKind, NameSource, SourceEntry, TargetEntry
from .errors import RuleError, VocabError, join_problems
from .names import auto_key, closest, compatible
from .plan import Action, Plan, Skip, SkipReason, Step, Strategy
from .rules import OnMismatch, Rules

__all__ = ["SAFE_CASTS", "make_plan"]

# (checkpoint dtype, model dtype) pairs loaded with a cast: no range is lost, and the
# narrowing ones are the usual mixed-precision moves.
SAFE_CASTS = frozenset(
    {
        ("float32", "bfloat16"),
        ("float32", "float16"),
        ("float16", "float32"),
        ("bfloat16", "float32"),
    }
)

_Pair = tuple[SourceEntry, Strategy, bool, str | None]  # source, strategy, by_structure, rule


def make_plan(
    sources: Sequence[SourceEntry],
    targets: Sequence[TargetEntry],
    rules: Rules,
) -> Plan:
    """Decide the whole warm start. Raises :class:`RuleError` for rules that cannot work."""
    index = _Index([s for s in sources if s.kind is EntryKind.VARIABLE])
    targets = sorted(targets, key=lambda t: t.name)
    _check_unique_targets(targets)

    skipped: list[Skip] = []
    missing: dict[str, str] = {}
    pairs: dict[str, _Pair] = {}
    rule_errors: list[str] = []
    used_include: set[int] = set()
    used_exclude: set[str] = set()
    rename_hits: dict[str, int] = defaultdict(int)  # pattern -> targets it paired
    rename_seen: dict[str, list[str]] = defaultdict(list)  # pattern -> targets it matched
    implicit: list[TargetEntry] = []

    for t in targets:
        ok, why = rules.included(t.name)
        if rules.include is not None:
            used_include.update(i for i, p in enumerate(rules.include) if p.fullmatch(t.name))
        if not ok:
            if why != "include":
                used_exclude.add(why or "")
            detail = "not matched by any include pattern" if why == "include" else f"exclude {why!r}"
            skipped.append(Skip(t.name, None, SkipReason.EXCLUDED, detail))
            continue
        renamed = rules.rename_for(t.name)
        if renamed is None:
            implicit.append(t)
            continue
        pattern, match, template = renamed
        rename_seen[pattern.pattern].append(t.name)
        if template is None:
            skipped.append(
                Skip(t.name, None, SkipReason.RENAME_NONE, f"rename {pattern.pattern!r} -> None")
            )
            rename_hits[pattern.pattern] += 1
            continue
        try:
            wanted = match.expand(template)
        except (re.error, IndexError) as e:
            rule_errors.append(f"rename {pattern.pattern!r} -> {template!r}: the template does not expand ({e}).")
            rename_hits[pattern.pattern] += 1
            continue
        candidates = index.by_name.get(wanted, [])
        found = _by_structure(t, candidates) if len(candidates) > 1 else candidates
        if len(found) == 1:
            pairs[t.name] = (found[0], Strategy.RENAME, len(candidates) > 1, pattern.pattern)
            rename_hits[pattern.pattern] += 1
        elif not candidates:
            missing[t.name] = f"rename {pattern.pattern!r} -> {wanted!r}, which is not in the checkpoint"
        else:
            rename_hits[pattern.pattern] += 1  # it found sources; the ambiguity is the one problem
            rule_errors.append(
                f"rename {pattern.pattern!r} gives {t.name!r} two or more sources named {wanted!r} "
                f"({', '.join(s.key for s in candidates)}) and the object graph cannot tell them apart.\n"
                f"  Fix: exclude {t.name!r} or load it from a tf.Module mapping of the one you want."
            )

    claimed = {p[0].key: target for target, p in pairs.items()}
    for tier in (_by_name, _by_auto_name, _by_path):
        implicit = _claim(tier, implicit, index, claimed, pairs, missing)
    for t in implicit:
        missing.setdefault(t.name, "no variable of that name in the checkpoint")

    rule_errors += _conflicts(pairs)
    rule_errors += _unused_rules(rules, targets, index, used_include, used_exclude, rename_hits, rename_seen, missing)
    if rule_errors:
        raise RuleError(join_problems("the rules cannot be applied:", rule_errors))

    vocab_errors = _unused_vocab(rules, targets)
    steps, mismatch_errors = [], []
    for t in targets:
        if t.name not in pairs:
            continue
        src, strategy, by_structure, rule = pairs[t.name]
        try:
            decided = _decide(t, src, strategy, by_structure, rule, rules)
        except VocabMisfit as e:
            vocab_errors.append(str(e))
            continue
        if isinstance(decided, Step):
            steps.append(decided)
        elif isinstance(decided, Skip):
            skipped.append(decided)
        else:  # policy "error": raised by a real run; a dry run shows it as skipped
            message, skip = decided
            mismatch_errors.append(message)
            skipped.append(skip)

    if vocab_errors:
        raise VocabError(join_problems("the vocabularies do not fit:", vocab_errors))
    used_keys = {p[0].key for p in pairs.values()}
    unused = tuple(sorted(_label(s, index) for s in index.entries if s.key not in used_keys))
    loaded = {s.target for s in steps}
    intentional = {s.target for s in skipped if s.reason in (SkipReason.EXCLUDED, SkipReason.RENAME_NONE)}
    incomplete = tuple(
        t.name
        for t in targets
        if t.name not in loaded and t.name not in intentional and not rules.expected_missing(t.name)
    )
    return Plan(
        steps=tuple(steps),
        skipped=tuple(sorted(skipped, key=lambda s: s.target)),
        missing=tuple(sorted(missing)),
        unused=unused,
        missing_detail=dict(sorted(missing.items())),
        mismatch_errors=tuple(mismatch_errors),
        incomplete=incomplete,
    )


class _Index:
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


def _by_structure(t: TargetEntry, candidates: Iterable[SourceEntry]) -> list[SourceEntry]:
    mine = set(t.paths)
    return [s for s in candidates if mine.intersection(s.paths)]


def _by_name(t: TargetEntry, index: _Index) -> tuple[list[SourceEntry], Strategy]:
    return list(index.by_name.get(t.name, ())), Strategy.NAME


def _by_auto_name(t: TargetEntry, index: _Index) -> tuple[list[SourceEntry], Strategy]:
    if not t.auto_components:
        return [], Strategy.AUTO_NAME
    pool = index.by_auto.get(auto_key(t.name, t.auto_components), ())
    return [s for s in pool if compatible(t.name, t.auto_components, s.name)], Strategy.AUTO_NAME


def _by_path(t: TargetEntry, index: _Index) -> tuple[list[SourceEntry], Strategy]:
    found: dict[str, SourceEntry] = {}
    for p in t.paths:
        for s in index.by_path.get(p, ()):
            found[s.key] = s
    return list(found.values()), Strategy.STRUCTURE


def _claim(tier, targets, index, claimed, pairs, missing) -> list[TargetEntry]:
    """Run one pairing tier over the still-unpaired targets; return those left unpaired."""
    wants: dict[str, list[tuple[TargetEntry, SourceEntry, Strategy, bool]]] = defaultdict(list)
    left = []
    for t in targets:
        found, strategy = tier(t, index)
        taken = [s for s in found if s.key in claimed]
        found = [s for s in found if s.key not in claimed]
        if taken and not found:
            s = taken[0]
            missing[t.name] = f"its checkpoint variable {s.name!r} is loaded into {claimed[s.key]!r} by a rename"
            continue
        by_structure = False
        if len(found) > 1:
            narrowed = _by_structure(t, found)
            if len(narrowed) != 1:
                names = ", ".join(sorted(s.name for s in found)[:4])
                missing[t.name] = (
                    f"ambiguous: {len(found)} checkpoint variables could match ({names}) and "
                    f"the object graph does not decide; add a rename rule"
                )
                continue
            found, by_structure = narrowed, True
        if found:
            wants[found[0].key].append((t, found[0], strategy, by_structure))
        else:
            left.append(t)
    for key, claims in wants.items():
        if len(claims) == 1:
            t, s, strategy, by_structure = claims[0]
            pairs[t.name] = (s, strategy, by_structure, None)
            claimed[key] = t.name
        else:
            rivals = ", ".join(sorted(c[0].name for c in claims))
            for t, s, _, _ in claims:
                missing[t.name] = f"ambiguous: {s.name!r} would also load into {rivals}; add a rename rule"
    return left


def _conflicts(pairs: dict[str, _Pair]) -> list[str]:
    by_key: dict[str, list[str]] = defaultdict(list)
    for target, (src, *_rest) in pairs.items():
        by_key[src.key].append(target)
    out = []
    for key, names in sorted(by_key.items()):
        if len(names) > 1:
            source_name = pairs[names[0]][0].name
            rules = sorted({str(pairs[n][3]) for n in names if pairs[n][3]})
            out.append(
                f"checkpoint variable {source_name!r} would be loaded into {len(names)} targets "
                f"({', '.join(sorted(names))}) through rename {', '.join(rules)}.\n"
                f"  Fix: narrow the rename pattern, or exclude all but one of those targets."
            )
    return out


def _unused_rules(rules, targets, index, used_include, used_exclude, rename_hits, rename_seen, missing) -> list[str]:
    names = [t.name for t in targets]
    out = []

    def nothing(kind: str, pattern: str, pool: Iterable[str] = names) -> str:
        near = closest(pattern, pool)
        hint = f" Perhaps you meant one of: {', '.join(near)}." if near else ""
        return f"{kind} {pattern!r} matched no variable of the model.{hint}"

    for i, p in enumerate(rules.include or ()):
        if i not in used_include:
            out.append(nothing("include", p.pattern))
    for p in rules.exclude:
        if p.pattern not in used_exclude and not any(p.fullmatch(n) for n in names):
            out.append(nothing("exclude", p.pattern))
    for p, template in rules.rename:
        if not rename_seen.get(p.pattern):
            out.append(nothing("rename", p.pattern))
        elif rename_hits.get(p.pattern, 0) == 0:
            sample = rename_seen[p.pattern][0]
            wanted = missing.get(sample, "")
            near = closest(str(p.fullmatch(sample).expand(template)) if template else "", index.by_name)
            hint = f" Checkpoint names nearby: {', '.join(near)}." if near else ""
            out.append(
                f"rename {p.pattern!r} -> {template!r} matched {len(rename_seen[p.pattern])} target(s) "
                f"but found none of their sources ({sample!r}: {wanted}).{hint}\n"
                f"  Fix: write the template against the names `warmstart inspect` shows."
            )
    for p, _ in rules.on_mismatch:
        if not any(p.fullmatch(n) for n in names):
            out.append(nothing("on_mismatch", p.pattern))
    for p in rules.expect_missing:
        if not any(p.fullmatch(n) for n in names):
            out.append(nothing("expect_missing", p.pattern))
    return out


def _label(s: SourceEntry, index: _Index) -> str:
    """A source's name, with its key where several checkpoint variables share the name."""
    return s.name if len(index.by_name[s.name]) == 1 else f"{s.name} [{s.key}]"


def _unused_vocab(rules: Rules, targets: Sequence[TargetEntry]) -> list[str]:
    names = [t.name for t in targets]
    out = []
    for pattern, _, _ in rules.vocab:
        if not any(pattern.fullmatch(n) for n in names):
            near = closest(pattern.pattern, names)
            hint = f" Perhaps you meant one of: {', '.join(near)}." if near else ""
            out.append(f"vocab {pattern.pattern!r} matched no variable of the model.{hint}")
    return out


def _decide(t: TargetEntry, s: SourceEntry, strategy: Strategy, by_structure: bool, rule: str | None, rules: Rules) -> Step | Skip | tuple[str, Skip]:
    """A step, a skip, or (policy "error") the mismatch's message with the skip a dry run shows."""
    def step(action: Action) -> Step:
        return Step(t.name, s.name, s.key, action, t.shape, s.shape, t.dtype, s.dtype, strategy, by_structure, rule)

    dtype_ok = s.dtype == t.dtype or (s.dtype, t.dtype) in SAFE_CASTS
    policy = rules.mismatch_policy(t.name)
    if not dtype_ok:
        detail = f"checkpoint dtype {s.dtype} != model dtype {t.dtype} (no safe cast)"
        skip = Skip(t.name, s.name, SkipReason.DTYPE_MISMATCH, detail)
        if policy is OnMismatch.ERROR:
            return _mismatch_message(t, s, detail, dtype=True), skip
        return skip
    action = Action.COPY if s.dtype == t.dtype else Action.CAST
    vocab = rules.vocab_for(t.name)
    if vocab is not None:
        return _decide_vocab(t, s, step, vocab, policy)
    if s.shape == t.shape:
        return step(action)
    detail = f"checkpoint shape {s.shape} != model shape {t.shape}"
    if policy is OnMismatch.OVERLAP and len(s.shape) == len(t.shape):
        return step(Action.OVERLAP)
    if policy is OnMismatch.OVERLAP:
        detail += f"; overlap needs equal ranks ({len(s.shape)} != {len(t.shape)})"
    skip = Skip(t.name, s.name, SkipReason.SHAPE_MISMATCH, detail)
    if policy is OnMismatch.ERROR:
        return _mismatch_message(t, s, detail, dtype=False), skip
    return skip


class VocabMisfit(Exception):
    """A vocabulary that does not fit its table; collected and raised as one VocabError."""


def _decide_vocab(t: TargetEntry, s: SourceEntry, step, rule, policy: OnMismatch) -> Step | Skip | tuple[str, Skip]:
    pattern, vocab, rows = rule
    axis = vocab.axis
    where = f"vocab[{pattern.pattern!r}] on {t.name!r} (axis {axis})"
    if len(t.shape) <= axis or len(s.shape) != len(t.shape):
        raise VocabMisfit(
            f"{where}: the model's table has shape {t.shape} and the checkpoint's {s.shape}; a remap "
            f"on axis {axis} needs both of rank > {axis} and equal ranks."
        )
    _check_size(where, "the model's table", t.shape[axis], rows.new_tokens, vocab.num_oov_buckets,
                "new", "num_oov_buckets")
    _check_size(where, f"the checkpoint's table {s.name!r}", s.shape[axis], rows.old_tokens,
                vocab.old_num_oov_buckets, "old", "old_num_oov_buckets")
    others_t = t.shape[:axis] + t.shape[axis + 1 :]
    others_s = s.shape[:axis] + s.shape[axis + 1 :]
    remapped = dataclasses.replace(step(Action.VOCAB), vocab=(vocab, rows), axis=axis)
    if others_t == others_s or policy is OnMismatch.OVERLAP:
        return remapped
    detail = (f"vocab remap on axis {axis}, but the other axes differ: checkpoint shape {s.shape} "
              f"!= model shape {t.shape}")
    skip = Skip(t.name, s.name, SkipReason.SHAPE_MISMATCH, detail)
    if policy is OnMismatch.ERROR:
        return _mismatch_message(t, s, detail, dtype=False), skip
    return skip


def _check_size(where: str, what: str, size: int, tokens: int, oov: int, side: str, knob: str) -> None:
    expected = tokens + oov
    if size == expected:
        return
    diff = size - expected
    hint = (
        f" If the {diff} extra row(s) are OOV buckets, set {knob}={oov + diff}."
        if diff > 0
        else f" The table is {-diff} row(s) short of the vocabulary"
        + (f"; {knob}={oov} may be too many." if oov else "; is it the right vocabulary file?")
    )
    raise VocabMisfit(
        f"{where}: {what} has {size} rows but the {side} vocabulary has {tokens} tokens + {oov} OOV "
        f"bucket(s) = {expected}.{hint}"
    )


def _mismatch_message(t: TargetEntry, s: SourceEntry, detail: str, *, dtype: bool) -> str:
    pattern = _suggest_pattern(t.name)
    fix = (
        f"    Fix: exclude=[{pattern!r}], or on_mismatch=\"skip\" to get a report instead."
        if dtype
        else f"    Fix: on_mismatch={{{pattern!r}: \"overlap\"}} to copy the common block,\n"
        f"    or exclude=[{pattern!r}], or on_mismatch=\"skip\" to get a report instead."
    )
    return f"cannot warm-start {t.name!r} from {s.name!r}:\n    {detail}.\n{fix}"


def _suggest_pattern(name: str) -> str:
    head = name.rsplit("/", 1)[0] if "/" in name else name
    return f"{head}/.*" if "/" in name else head
