r"""A function call as the Python a user would type, written from the values it is made with.

The demo prints its ``ws.warm_start`` call before making it. Both come from one dict of
keyword arguments, so what is shown cannot drift from what runs:

>>> model = object()
>>> kwargs = {"rename": [(r"click/(.*)", r"head/\1")], "strict": True}
>>> print(call_text("ws.warm_start", (model, "runs/v1"), kwargs, names={"model": model}))
ws.warm_start(
    model, "runs/v1",
    rename=[("click/(.*)", r"head/\1")],
    strict=True,
)

Strings, numbers, paths, lists, tuples, dicts and enums are written as literals; objects
of :mod:`warmstart`'s public API that are dataclasses (``ws.Vocab``) as calls of their
class with the fields that differ from the defaults; functions by their name; any other
object by the name ``names`` gives it (the caller's variable), else by its ``repr``.
"""

from __future__ import annotations

import dataclasses
import enum
import os
from collections.abc import Mapping, Sequence
from typing import Any

import warmstart as ws

__all__ = ["call_text"]

WIDTH = 100  # a value longer than this is broken over lines, one item a line


def call_text(function: str, args: Sequence[Any], kwargs: Mapping[str, Any], *,
              names: Mapping[str, Any] | None = None, indent: int = 0) -> str:
    """``function(args..., key=value, ...)``, one keyword a line. ``names``: variable
    name -> object, for the arguments a user passes by name (the model, the optimizer)."""
    by_id = {id(v): k for k, v in (names or {}).items()}
    pad = indent + 4
    lines = [f"{' ' * indent}{function}("]
    if args:
        lines.append(" " * pad + ", ".join(_expr(a, by_id, pad, pad) for a in args) + ",")
    lines += [f"{' ' * pad}{key}={_expr(value, by_id, pad, pad + len(key) + 1)}," for key, value in kwargs.items()]
    return "\n".join([*lines, " " * indent + ")"])


Parts = tuple[str, list[tuple[str, Any]], str]  # opening, (prefix, value) per item, closing


def _expr(value: Any, names: dict[int, str], indent: int, column: int) -> str:
    """``value`` as an expression that starts at ``column`` of a line indented ``indent``.
    Past ``WIDTH`` a container is broken, one item a line at ``indent + 4``; a lone item
    is hugged (``{key: ws.Vocab(`` ... ``)}``)."""
    inline = _inline(value, names)
    parts = None if id(value) in names else _parts(value)
    if parts is None or column + len(inline) <= WIDTH:
        return inline
    opening, items, closing = parts
    if len(items) == 1 and not isinstance(value, tuple):
        prefix, item = items[0]
        return opening + prefix + _expr(item, names, indent, column + len(opening) + len(prefix)) + closing
    inner = indent + 4
    lines = [f"{' ' * inner}{prefix}{_expr(item, names, inner, inner + len(prefix))}," for prefix, item in items]
    return "\n".join([opening, *lines, " " * indent + closing])


def _inline(value: Any, names: dict[int, str]) -> str:
    if id(value) in names:
        return names[id(value)]
    parts = _parts(value)
    if parts is None:
        return _atom(value)
    opening, items, closing = parts
    text = ", ".join(prefix + _inline(item, names) for prefix, item in items)
    return opening + text + ("," if isinstance(value, tuple) and len(items) == 1 else "") + closing


def _parts(value: Any) -> Parts | None:
    """A container's brackets and items; None for an atom."""
    if isinstance(value, Mapping):
        return "{", [(f"{_atom(k)}: ", v) for k, v in value.items()], "}"
    if isinstance(value, list):
        return "[", [("", v) for v in value], "]"
    if isinstance(value, tuple):
        return "(", [("", v) for v in value], ")"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value).__name__
        qualified = f"ws.{cls}" if getattr(ws, cls, None) is type(value) else cls
        fields = [f for f in dataclasses.fields(value) if f.init and getattr(value, f.name) != _default(f)]
        return f"{qualified}(", [(f"{f.name}=", getattr(value, f.name)) for f in fields], ")"
    return None


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING  # a required field: always shown


def _atom(value: Any) -> str:
    if isinstance(value, enum.Enum):
        cls = type(value).__name__
        return f"ws.{cls}.{value.name}" if getattr(ws, cls, None) is type(value) else repr(value.value)
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, str):
        return _string(value)
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if callable(value) and hasattr(value, "__name__"):
        return str(value.__name__)  # a function: the name it was defined with
    return repr(value)


def _string(text: str) -> str:
    """A double-quoted literal; raw where that spares doubling backslashes (regexes)."""
    if "\\" in text and '"' not in text and not text.endswith("\\") and text.isprintable():
        return f'r"{text}"'
    quoted = repr(text)
    if quoted.startswith("'"):
        quoted = '"' + quoted[1:-1].replace("\\'", "'").replace('"', '\\"') + '"'
    return quoted
