"""Are a grown kernel's new inputs appended? ``preserve`` zeroes "new inputs N-M", which keeps
the function only when the old inputs sit, in their old order, at positions ``0..N-1`` of the
consumer's input axis. Pure Python.

The :class:`~warmstart.entries.Feed` lists what that axis is made of, part by part, with
each part's width in the model; the checkpoint gives each producer's old width (a producer
not in the checkpoint had none; a model input's old width is not known, but one unknown
width is what the old total leaves; several of them, as a ``Dot`` of fixed width beside a
model input, are taken to have kept their widths when the old total says so). A part the
trace cannot see into (``"?why"``) must keep its width. The new inputs are appended when every part before the
last old one kept its width and the parts after it are new.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..entries import Feed

__all__ = ["NO_GRAPH", "appended", "moved_inputs"]

NO_GRAPH = "no model graph shows where its inputs come from (a subclassed model?), so the new inputs may not be appended"


def appended(feed: Feed | None, old: int, new: int, widths: Mapping[str, tuple[int, ...] | None]) -> str | None:
    """None when the ``new - old`` new inputs are the last ones, else why not (or why that
    cannot be known). ``widths``: target name -> the checkpoint shape it loads from (None:
    a target the checkpoint does not have)."""
    if feed is not None and not feed.why and len(feed.parts) == 1:
        return None  # one part, straight through: the producer's new outputs are its last ones
    olds = _old_widths(feed, old, new, widths)
    if isinstance(olds, str):
        return olds
    assert feed is not None
    last = max((i for i, w in enumerate(olds) if w), default=-1)
    for i, ((producer, _, w), w_old) in enumerate(zip(feed.parts, olds, strict=True)):
        if i < last and w_old != w or i == last and w_old > w:
            return _why(feed, producer, w_old, w)
    return None


def moved_inputs(feed: Feed | None, old: int, new: int,
                 widths: Mapping[str, tuple[int, ...] | None]) -> tuple[list[int], list[int], str] | None:
    """Where the old inputs are now, when they are all still there but not first: ``(new
    positions, old positions, how)``, each part's old inputs at the start of its new place
    (its producer's new outputs are its last ones), the rest new. None when that cannot be
    known, or a part lost inputs (they fed every output)."""
    olds = _old_widths(feed, old, new, widths)
    if isinstance(olds, str):
        return None
    assert feed is not None
    new_rows: list[int] = []
    old_rows: list[int] = []
    o = n = 0
    grown = set()
    for (producer, _, w), w_old in zip(feed.parts, olds, strict=True):
        if w_old > w:
            return None
        if w_old < w:
            grown.add(producer)
        new_rows.extend(range(n, n + w_old))
        old_rows.extend(range(o, o + w_old))
        o, n = o + w_old, n + w
    names = ", ".join(sorted(repr(p.rsplit("/", 1)[0]) if p else "a model input" for p in grown))
    via = " and ".join(dict.fromkeys(feed.via)) or "its inputs"
    how = f"{len(old_rows)} old inputs moved to their places through {via}, {new - len(old_rows)} new ({names}) zero"
    return new_rows, old_rows, how


def _old_widths(feed: Feed | None, old: int, new: int,
                widths: Mapping[str, tuple[int, ...] | None]) -> list[int] | str:
    """Each part's width in the checkpoint, or why it cannot be known."""
    if feed is None:
        return NO_GRAPH
    if feed.why:
        return f"{feed.why}; the new inputs may not be appended"
    parts = feed.parts
    if sum(w for _, _, w in parts) != new:
        return f"its inputs trace to {sum(w for _, _, w in parts)} positions, not {new}"
    # each model input or opaque part is its own unknown; a producer repeated by a Flatten is one
    keys = [p if p and not p.startswith("?") else f"#{i}{p}" for i, (p, _, _) in enumerate(parts)]
    olds = {k: _old_width(p, axis, widths) for k, (p, axis, _) in zip(keys, parts, strict=True)}
    unknown = [k for k, w in olds.items() if w is None]
    known = sum(olds[k] or 0 for k in keys)
    kept = sum(w for k, (_, _, w) in zip(keys, parts, strict=True) if k in unknown)
    if len(unknown) > 1 and known + kept == old:
        olds.update((k, next(w for k2, (_, _, w) in zip(keys, parts, strict=True) if k2 == k)) for k in unknown)
        unknown = []  # the old total says the parts of unknown width kept theirs
    if len(unknown) > 1:
        names = ", ".join(sorted({_name(k) for k in unknown}))
        return f"the old widths of several parts of its inputs are unknown ({names})"
    if unknown:
        count = keys.count(unknown[0])
        rest, odd = divmod(old - known, count)
        if odd or rest < 0:
            return f"the checkpoint's {old} inputs do not add up from the parts of its inputs"
        olds[unknown[0]] = rest
    widths_old = [olds[k] or 0 for k in keys]
    if sum(widths_old) != old:
        return f"the checkpoint's {old} inputs do not add up from the parts of its inputs"
    for k, (p, _, w) in zip(keys, parts, strict=True):
        if p.startswith("?") and olds[k] != w:
            return f"{p[1:]}; the new inputs may not be appended"
    return widths_old


def _name(key: str) -> str:
    if not key.startswith("#"):
        return repr(key)
    return key.split("?", 1)[1] if "?" in key else "a model input"


def _old_width(producer: str, axis: int, widths: Mapping[str, tuple[int, ...] | None]) -> int | None:
    if not producer or producer not in widths:
        return None
    shape = widths[producer]
    return 0 if shape is None else shape[axis]


def _why(feed: Feed, producer: str, old: int, new: int) -> str:
    what = repr(producer.rsplit("/", 1)[0]) if producer else "a model input"
    if "Flatten" in feed.via:
        return (f"inputs come through Flatten; the new inputs are not appended (the new channels of {what} "
                f"land between the old ones, at every position)")
    return (f"inputs come through Concatenate; the new inputs are not appended ({what} has {new} where it "
            f"had {old}, before other parts)")
