"""The trap of a table fed by a Keras lookup layer: the lookup puts its mask and OOV rows first,
the TF1 layout puts its OOV buckets last. A ``Vocab`` that names the lookup's own vocabulary
with the other layout would move every carried row onto another token's row. Pure Python:
the live lookups come in as :class:`LookupView` values."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import VocabError, join_problems
from ..rules import VocabRule
from .hashed import Hashed
from .rows import Layout, RowMap
from .tokens import Tokens
from .vocab import Vocab, is_lookup
from .vocab_files import read_tokens, same_tokens

__all__ = ["LookupView", "check_lookup_layouts"]


@dataclass(frozen=True, slots=True)
class LookupView:
    """A lookup layer of the target model, as this check needs it."""

    name: str
    kind: str  # StringLookup / IntegerLookup
    layout: Layout
    tokens: int  # without the mask and OOV entries
    read_tokens: Callable[[], Tokens]  # the tokens, in row order (only called when sizes agree)


def check_lookup_layouts(rules: Sequence[VocabRule], row_maps: Sequence[RowMap], lookups: Sequence[LookupView]) -> None:
    """Raise ``VocabError`` where a ``Vocab``'s new tokens are a lookup's tokens in another layout."""
    problems = []
    for rule, rows in zip(rules, row_maps, strict=True):
        v = rule.vocab
        if isinstance(v, Hashed) or is_lookup(v.new):
            continue
        new_layout = v.layouts()[1]
        for lookup in lookups:
            if lookup.tokens != rows.new_tokens or lookup.layout.leading == new_layout.leading:
                continue
            if not same_tokens(lookup.read_tokens(), read_tokens(v.new, label=f"vocab[{rule.pattern.pattern!r}] new")):
                continue
            problems.append(_message(rule, v, new_layout, lookup))
    if problems:
        raise VocabError(join_problems("a vocabulary's layout is not its lookup's:", problems))


def _message(rule: VocabRule, v: Vocab, layout: Layout, lookup: LookupView) -> str:
    n, lead = lookup.tokens, lookup.layout.leading
    where = repr(os.fspath(v.new)) if isinstance(v.new, (str, os.PathLike)) else "the new token list"
    args = [f"num_oov_indices={lookup.layout.oov_first}"] + (["mask_token=''"] if lookup.layout.mask else [])
    return (
        f"vocab[{rule.pattern.pattern!r}]: the model's {lookup.kind} {lookup.name!r} holds the same {n} tokens as "
        f"{where}, at rows {lead}..{lead + n - 1} ({lookup.layout.describe()}), but this Vocab puts them at rows "
        f"{layout.leading}..{layout.leading + n - 1} ({layout.describe()}): every carried row would land on "
        f"another token's row.\n"
        f"  Fix: ws.Vocab(old, new, {', '.join(args)}) — the lookup's layout (num_oov_buckets is TF1's, "
        f"after the tokens) — or pass the lookup layer itself as `new`."
    )
