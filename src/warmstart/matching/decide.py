"""Decide what to do with one pair: copy, cast, overlap, preserve, remap, or skip (and why).

Pure Python. Shared by variables and optimizer slots: both ask :func:`cast_action` whether a
dtype change is loadable, so the two cannot disagree about casts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..entries import SourceEntry, TargetEntry
from ..plan import Action, Refusal, Remap, SkippedEntry, SkipReason, Step, Strategy
from ..remap.rows import RowMap
from ..remap.vocab import MEAN
from ..rules import OnMismatch, Rules, VocabRule
from .layouts import Placement, place

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

    def step(action: Action, remap: Remap | None = None, detail: str = "", **placed: Any) -> Step:
        rows = remap.rows if remap is not None else None
        if remap is not None:
            detail = "; ".join(filter(None, (_rows_detail(remap), detail)))
        return Step(
            target=t.name, source=s.name, key=s.key, action=action, shape=t.shape, source_shape=s.shape,
            dtype=t.dtype, source_dtype=s.dtype, strategy=strategy, by_structure=by_structure, rule=rule,
            remap=remap, detail=detail, rows=rows.counts() if rows is not None else (), **placed,
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
    if policy in _BLOCKWISE and len(s.shape) == len(t.shape):
        return step(Action.OVERLAP) if policy is OnMismatch.OVERLAP else _preserve(t, s, None, step)
    if policy in _BLOCKWISE:
        detail += f"; {policy} needs equal ranks ({len(s.shape)} != {len(t.shape)})"
    return _refuse_or_skip(t, s, policy, SkipReason.SHAPE_MISMATCH, detail)


_BLOCKWISE = (OnMismatch.OVERLAP, OnMismatch.PRESERVE)
NOT_PRESERVING = "not function-preserving"


def _preserve(t: TargetEntry, s: SourceEntry, remap: Remap | None, step: Callable[..., Step]) -> Step:
    """``preserve``: the placement that keeps the layer's function, or an overlap that says why
    there is none."""
    axis = remap.axis if remap is not None else None
    placed = place(t.layer, s.shape, t.shape, remap_axis=axis)
    if isinstance(placed, Placement):
        return step(Action.VOCAB if remap is not None else Action.PRESERVE, remap, placed.detail,
                    offset=placed.offset if any(placed.offset) else (), zero=placed.zero)
    action = Action.VOCAB if remap is not None else Action.OVERLAP
    return step(action, remap, f"{NOT_PRESERVING}: {placed}", unpreserved=placed)


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
    if vocab.initializer == MEAN and rows.carried == 0:
        raise VocabMisfit(f"{where}: initializer=\"mean\" needs carried rows, and no token of the new "
                          f"vocabulary is in the old one.")
    remap = Remap(rows, axis, vocab.initializer)
    if others_t == others_s or policy is OnMismatch.OVERLAP:
        return step(Action.VOCAB, remap)
    if policy is OnMismatch.PRESERVE:
        return _preserve(t, s, remap, step)
    detail = (f"vocab remap on axis {axis}, but the other axes differ: checkpoint shape {s.shape} "
              f"!= model shape {t.shape}")
    return _refuse_or_skip(t, s, policy, SkipReason.SHAPE_MISMATCH, detail)


def _rows_detail(remap: Remap) -> str:
    """``"9 rows carried, 3 new (mean), 1 old dropped"``: the row map's counts, and ``mean``
    when the new rows are the carried rows' mean."""
    rows = remap.rows
    if remap.initializer != MEAN or rows.fresh == 0:
        return rows.describe()
    return f"{rows.carried} rows carried, {rows.fresh} new (mean), {rows.dropped} old dropped"


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
        else f"    Fix: on_mismatch={{{pattern!r}: \"overlap\"}} to copy the common block (\"preserve\" to keep\n"
        f"    the layer's function too),\n"
        f"    or exclude=[{pattern!r}], or on_mismatch=\"skip\" to get a report instead."
    )
    return f"cannot warm-start {t.name!r} from {s.name!r}:\n    {detail}.\n{fix}"


def _suggest_pattern(name: str) -> str:
    head = name.rsplit("/", 1)[0] if "/" in name else name
    return f"{head}/.*" if "/" in name else head
