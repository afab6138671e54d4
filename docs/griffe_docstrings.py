"""A griffe extension for the API reference: docstrings are written for ``help()`` and
doctest, the site renders Markdown. Two things are translated:

- a run of ``>>>`` lines (with their ``...`` continuations and output) becomes a fenced
  ``pycon`` block, so that ``.*`` in a regex is not read as emphasis;
- Sphinx roles (``:class:`~warmstart.Report```) become code spans (``Report``).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj):`(~?)([\w.]+)`")


def markdown(text: str) -> str:
    text = _ROLE.sub(lambda m: f"`{m.group(2).rsplit('.', 1)[-1] if m.group(1) else m.group(2)}`", text)
    out: list[str] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        if not lines[i].lstrip().startswith(">>>"):
            out.append(lines[i])
            i += 1
            continue
        indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
        j = i
        while j < len(lines) and lines[j].strip():
            j += 1
        out += [f"{indent}```pycon", *lines[i:j], f"{indent}```"]
        i = j
    return "\n".join(out)


class Docstrings(griffe.Extension):
    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
