"""Decide what to do with one pair: copy, cast, overlap, preserve, remap, or skip (and why).

Pure Python. Shared by variables and optimizer slots: both ask :func:`cast_action` whether a
dtype change is loadable, so the two cannot disagree about casts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..entries import Shape, SourceEntry, TargetEntry
from ..plan import Action, Refusal, Remap, SkippedEntry, SkipReason, Step, Strategy
from ..remap.hashed import Hashed
from ..remap.rows import RowMap
from ..remap.vocab import MEAN, Vocab
from ..rules import OnMismatch, Rules, VocabRule, castable
from .feeds import moved_inputs
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


def cast_action(source_dtype: str, target_dtype: str, allowed: frozenset[tuple[str, str]] = frozenset()) -> Action | None:
    """``COPY`` for equal dtypes, ``CAST`` for a safe cast or one the user ``allowed``, None when
    the change is not loadable."""
    if source_dtype == target_dtype:
        return Action.COPY
    if (source_dtype, target_dtype) in SAFE_CASTS or (source_dtype, target_dtype) in allowed:
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
    widths: Mapping[str, Shape | None] | None = None,
) -> Decision:
    """A step, a skip, or (policy "error") a refusal. Raises :class:`VocabMisfit`. ``widths``:
    every target's checkpoint shape (None: not in the checkpoint), for ``preserve`` to tell
    whether a kernel's new inputs are appended."""

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
    action = cast_action(s.dtype, t.dtype, rules.casts)
    if action is None:
        detail = f"checkpoint dtype {s.dtype} != model dtype {t.dtype} (no safe cast"
        detail += f"; cast='{s.dtype}->{t.dtype}' allows it)" if castable(s.dtype, t.dtype) else ")"
        return _refuse_or_skip(t, s, policy, SkipReason.DTYPE_MISMATCH, detail)
    vocab = rules.vocab_for(t.name)
    if vocab is not None:
        return _decide_vocab(t, s, vocab, row_maps[vocab.index], policy, step, widths)
    if s.shape == t.shape:
        return step(action)
    detail = f"checkpoint shape {s.shape} != model shape {t.shape}"
    if policy in _BLOCKWISE and len(s.shape) == len(t.shape):
        return step(Action.OVERLAP) if policy is OnMismatch.OVERLAP else _preserve(t, s, None, step, widths)
    if policy in _BLOCKWISE:
        detail += f"; {policy} needs equal ranks ({len(s.shape)} != {len(t.shape)})"
    return _refuse_or_skip(t, s, policy, SkipReason.SHAPE_MISMATCH, detail)


_BLOCKWISE = (OnMismatch.OVERLAP, OnMismatch.PRESERVE)
NOT_PRESERVING = "not function-preserving"


def _preserve(t: TargetEntry, s: SourceEntry, remap: Remap | None, step: Callable[..., Step],
              widths: Mapping[str, Shape | None] | None = None) -> Step:
    """``preserve``: the placement that keeps the layer's function, or an overlap that says why
    there is none."""
    axis = remap.axis if remap is not None else None
    placed = place(t.layer, s.shape, t.shape, remap_axis=axis, widths=widths)
    if isinstance(placed, str) and remap is None:
        moved = _moved(t, s, widths)
        if moved is not None:
            return step(Action.PRESERVE, moved[0], moved[1].detail, offset=moved[1].offset if any(moved[1].offset)
                        else (), zero=moved[1].zero)
    if isinstance(placed, Placement):
        return step(Action.VOCAB if remap is not None else Action.PRESERVE, remap, placed.detail,
                    offset=placed.offset if any(placed.offset) else (), zero=placed.zero)
    action = Action.VOCAB if remap is not None else Action.OVERLAP
    return step(action, remap, f"{NOT_PRESERVING}: {placed}", unpreserved=placed)


def _moved(t: TargetEntry, s: SourceEntry, widths: Mapping[str, Shape | None] | None) -> tuple[Remap, Placement] | None:
    """A Dense kernel whose old inputs are all still there but not first (a ``Flatten`` of
    grown channels, a ``Concatenate`` part widened before others): the old input rows move to
    their new places and the new ones are zero, as a remap of the kernel's rows."""
    layer = t.layer
    if layer is None or layer.kind != "Dense" or layer.variable != "kernel" or len(t.shape) != 2:
        return None
    if t.shape[0] <= s.shape[0]:
        return None
    found = moved_inputs(layer.feed, s.shape[0], t.shape[0], widths or {})
    if found is None:
        return None
    new_rows, old_rows, how = found
    rows = RowMap(new_rows=np.asarray(new_rows, np.int64), old_rows=np.asarray(old_rows, np.int64),
                  new_size=t.shape[0], old_size=s.shape[0], new_tokens=t.shape[0], old_tokens=s.shape[0],
                  summary=how)
    placed = place(layer, s.shape, t.shape, remap_axis=0, widths=widths, moved_inputs=True)
    if isinstance(placed, str):
        return None
    # the new input rows are zero where they feed the old units; their entries for new units
    # (new outputs) keep their initial values, as everywhere else
    fresh = np.setdiff1d(np.arange(t.shape[0]), rows.new_rows)
    units = min(s.shape[1], t.shape[1])
    runs = np.split(fresh, np.flatnonzero(np.diff(fresh) != 1) + 1) if fresh.size else []
    boxes = tuple(((int(r[0]), 0), (int(r[-1]) + 1, units)) for r in runs)
    return Remap(rows, 0), dataclasses.replace(placed, zero=placed.zero + boxes)


def _refuse_or_skip(t: TargetEntry, s: SourceEntry, policy: OnMismatch, reason: SkipReason,
                    detail: str) -> SkippedEntry | Refusal:
    skip = SkippedEntry(t.name, s.name, reason, detail)
    if policy is OnMismatch.ERROR:
        return Refusal(_mismatch_message(t, s, detail, dtype=reason is SkipReason.DTYPE_MISMATCH), skip)
    return skip


def _decide_vocab(t: TargetEntry, s: SourceEntry, rule: VocabRule, rows: RowMap, policy: OnMismatch,
                  step, widths: Mapping[str, Shape | None] | None = None) -> Decision:
    remap = rule.vocab
    axis = remap.axis
    kind = "hashed" if isinstance(remap, Hashed) else "vocab"
    where = f"{kind}[{rule.pattern.pattern!r}] on {t.name!r} (axis {axis})"
    if len(t.shape) <= axis or len(s.shape) != len(t.shape):
        raise VocabMisfit(
            f"{where}: the model's table has shape {t.shape} and the checkpoint's {s.shape}; a remap "
            f"on axis {axis} needs both of rank > {axis} and equal ranks."
        )
    for side, size, what in (("new", t.shape[axis], "the model's table"),
                             ("old", s.shape[axis], f"the checkpoint's table {s.name!r}")):
        expected = rows.new_size if side == "new" else rows.old_size
        if size != expected:
            raise VocabMisfit(f"{where}: {what} has {size} rows, but {_misfit(remap, rows, side, size, expected)}")
    if rows.new_tokens and rows.tokens_carried == 0:
        old, new = rows.samples
        raise VocabMisfit(
            f"{where}: no row would be carried: none of the {rows.new_tokens} new tokens "
            f"({_sample(new)}) is among the {rows.old_tokens} old ones ({_sample(old)}).\n"
            f"  Fix: check that the old vocabulary is the one the checkpoint was trained with, one token a "
            f"line (not a 'count token' file: ws.read_vocab_file(path, frequency=True) reads those)."
        )
    others_t = t.shape[:axis] + t.shape[axis + 1 :]
    others_s = s.shape[:axis] + s.shape[axis + 1 :]
    initializer = getattr(remap, "initializer", None)
    if initializer == MEAN and rows.tokens_carried == 0:
        raise VocabMisfit(f"{where}: initializer=\"mean\" needs carried token rows, and no token of the new "
                          f"vocabulary is in the old (mask and OOV rows are not averaged).")
    placed = Remap(rows, axis, initializer)
    if others_t == others_s or policy is OnMismatch.OVERLAP:
        return step(Action.VOCAB, placed)
    if policy is OnMismatch.PRESERVE:
        return _preserve(t, s, placed, step, widths)
    detail = (f"{kind} remap on axis {axis}, but the other axes differ: checkpoint shape {s.shape} "
              f"!= model shape {t.shape}")
    return _refuse_or_skip(t, s, policy, SkipReason.SHAPE_MISMATCH, detail)


def _rows_detail(remap: Remap) -> str:
    """``"9 rows carried, 3 new (mean), 1 old dropped"``: the row map's counts, and ``mean``
    when the new rows are the carried token rows' mean (``mean of 8 token rows`` where special
    rows were carried too: they are not averaged)."""
    rows = remap.rows
    if remap.initializer != MEAN or rows.fresh == 0:
        return rows.describe()
    mean = "mean" if rows.tokens_carried == rows.carried else f"mean of {rows.tokens_carried} token rows"
    return f"{rows.carried} rows carried, {rows.fresh} new ({mean}), {rows.dropped} old dropped"


def _misfit(remap: Vocab | Hashed, rows: RowMap, side: str, size: int, expected: int) -> str:
    """Why the rows do not fit, and the knob that would explain the difference."""
    if isinstance(remap, Hashed):
        knob = "new_bins" if side == "new" else "old_bins"
        return f"ws.Hashed says {knob}={expected}.\n  Fix: {knob}={size}."
    old_layout, new_layout = remap.layouts()
    layout = new_layout if side == "new" else old_layout
    tokens = rows.new_tokens if side == "new" else rows.old_tokens
    diff = size - expected
    out = (f"the {side} vocabulary has {tokens} tokens, laid out as {layout.describe()}: {expected} rows.")
    if diff > 0:
        prefix = "" if side == "new" else "old_"
        first = layout.oov_first + diff
        with_mask = (f"{prefix}mask_token=''" + (f" and {prefix}num_oov_indices={first - 1}" if first > 1 else "")
                     if not layout.mask else "")
        out += (f"\n  If the {diff} extra row(s) are a Keras lookup's mask and OOV rows (StringLookup and "
                f"IntegerLookup put them first): {prefix}num_oov_indices={first}"
                + (f" (or {with_mask})" if with_mask else "")
                + f"; if they are TF1 OOV buckets after the tokens: {prefix}num_oov_buckets={layout.oov_last + diff}.")
    else:
        out += f"\n  The table is {-diff} row(s) short of the vocabulary: is it the right vocabulary file?"
    return out


def _sample(tokens: tuple[str, ...]) -> str:
    return ", ".join(repr(t) for t in tokens) + (", ..." if tokens else "")


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
