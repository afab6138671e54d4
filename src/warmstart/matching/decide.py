"""Decide what to do with one pair: copy, cast, overlap, remap, or skip (and why).

Pure Python. Shared by variables and optimizer slots: both ask :func:`cast_action` whether a
dtype change is loadable, so the two cannot disagree about casts.
"""

from __future__ import annotations

from ..entries import SourceEntry, TargetEntry
from ..plan import Action, Refusal, Remap, SkippedEntry, SkipReason, Step, Strategy
from ..remap.rows import RowMap
from ..rules import OnMismatch, Rules, VocabRule

__all__ = ["SAFE_CASTS", "Decision", "VocabMisfit", "cast_action", "decide"]

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

Decision = Step | SkippedEntry | Refusal


class VocabMisfit(Exception):
    """A vocabulary that does not fit its table; collected and raised as one VocabError."""


def cast_action(source_dtype: str, target_dtype: str) -> Action | None:
    """``COPY`` for equal dtypes, ``CAST`` for a safe cast, None when the change is not loadable."""
    if source_dtype == target_dtype:
        return Action.COPY
    if (source_dtype, target_dtype) in SAFE_CASTS:
        return Action.CAST
    return None


def decide(
    t: TargetEntry,
    s: SourceEntry,
    *,
    strategy: Strategy,
    by_structure: bool,
    rule: str | None,
    rules: Rules,
    row_maps: tuple[RowMap, ...],
) -> Decision:
    """A step, a skip, or (policy "error") a refusal. Raises :class:`VocabMisfit`."""

    def step(action: Action, remap: Remap | None = None) -> Step:
        rows = remap.rows if remap is not None else None
        return Step(
            target=t.name, source=s.name, key=s.key, action=action, shape=t.shape, source_shape=s.shape,
            dtype=t.dtype, source_dtype=s.dtype, strategy=strategy, by_structure=by_structure, rule=rule,
            remap=remap, detail=rows.describe() if rows is not None else "",
            rows=rows.counts() if rows is not None else (),
        )

    policy = rules.mismatch_policy(t.name)
    action = cast_action(s.dtype, t.dtype)
    if action is None:
        detail = f"checkpoint dtype {s.dtype} != model dtype {t.dtype} (no safe cast)"
        return _refuse_or_skip(t, s, policy, SkipReason.DTYPE_MISMATCH, detail)
    vocab = rules.vocab_for(t.name)
    if vocab is not None:
        return _decide_vocab(t, s, vocab, row_maps[vocab.index], policy, step)
    if s.shape == t.shape:
        return step(action)
    detail = f"checkpoint shape {s.shape} != model shape {t.shape}"
    if policy is OnMismatch.OVERLAP and len(s.shape) == len(t.shape):
        return step(Action.OVERLAP)
    if policy is OnMismatch.OVERLAP:
        detail += f"; overlap needs equal ranks ({len(s.shape)} != {len(t.shape)})"
    return _refuse_or_skip(t, s, policy, SkipReason.SHAPE_MISMATCH, detail)


def _refuse_or_skip(t: TargetEntry, s: SourceEntry, policy: OnMismatch, reason: SkipReason,
                    detail: str) -> SkippedEntry | Refusal:
    skip = SkippedEntry(t.name, s.name, reason, detail)
    if policy is OnMismatch.ERROR:
        return Refusal(_mismatch_message(t, s, detail, dtype=reason is SkipReason.DTYPE_MISMATCH), skip)
    return skip


def _decide_vocab(t: TargetEntry, s: SourceEntry, rule: VocabRule, rows: RowMap, policy: OnMismatch,
                  step) -> Decision:
    vocab = rule.vocab
    axis = vocab.axis
    where = f"vocab[{rule.pattern.pattern!r}] on {t.name!r} (axis {axis})"
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
    if others_t == others_s or policy is OnMismatch.OVERLAP:
        return step(Action.VOCAB, Remap(rows, axis, vocab.initializer))
    detail = (f"vocab remap on axis {axis}, but the other axes differ: checkpoint shape {s.shape} "
              f"!= model shape {t.shape}")
    return _refuse_or_skip(t, s, policy, SkipReason.SHAPE_MISMATCH, detail)


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
