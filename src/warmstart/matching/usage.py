"""Which rules did something: a rule that did nothing is an error, with the closest names.

Pure Python. Pairing records what each rule did as it goes; :meth:`RuleUsage.problems` then
names the rules that matched no variable, or matched targets but found none of their sources.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from ..names import closest
from ..rules import Exclusion, Rules

__all__ = ["RuleUsage"]


class RuleUsage:
    """What each include, exclude and rename rule matched while pairing."""

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self.include_hits: set[int] = set()
        self.exclude_hits: set[str] = set()
        self.rename_seen: dict[str, list[str]] = defaultdict(list)  # pattern -> targets it matched
        self.rename_hits: dict[str, int] = defaultdict(int)  # pattern -> targets it paired or ruled out

    def saw(self, name: str) -> None:
        if self.rules.include is not None:
            self.include_hits.update(i for i, p in enumerate(self.rules.include) if p.fullmatch(name))

    def excluded(self, exclusion: Exclusion) -> None:
        if exclusion.pattern is not None:
            self.exclude_hits.add(exclusion.pattern)

    def rename_matched(self, pattern: str, target: str) -> None:
        self.rename_seen[pattern].append(target)

    def rename_paired(self, pattern: str) -> None:
        self.rename_hits[pattern] += 1

    def problems(self, names: Sequence[str], source_names: Iterable[str], missing: Mapping[str, str]) -> list[str]:
        """One message per rule that did nothing, with the names it may have meant."""
        rules = self.rules
        out = []

        def nothing(kind: str, pattern: str) -> str:
            near = closest(pattern, names)
            hint = f" Perhaps you meant one of: {', '.join(near)}." if near else ""
            return f"{kind} {pattern!r} matched no variable of the model.{hint}"

        for i, p in enumerate(rules.include or ()):
            if i not in self.include_hits:
                out.append(nothing("include", p.pattern))
        for p in rules.exclude:
            if p.pattern not in self.exclude_hits and not any(p.fullmatch(n) for n in names):
                out.append(nothing("exclude", p.pattern))
        for i, (p, template) in enumerate(rules.rename):
            seen = self.rename_seen.get(p.pattern)
            if not seen:
                earlier = [q.pattern for q, _ in rules.rename[:i]]
                out.append(_shadowed("rename", p.pattern, earlier, names) or nothing("rename", p.pattern))
            elif self.rename_hits.get(p.pattern, 0) == 0:
                sample = seen[0]
                match = p.fullmatch(sample)
                wanted = str(match.expand(template)) if match is not None and template else ""
                near = closest(wanted, source_names)
                hint = f" Checkpoint names nearby: {', '.join(near)}." if near else ""
                out.append(
                    f"rename {p.pattern!r} -> {template!r} matched {len(seen)} target(s) "
                    f"but found none of their sources ({sample!r}: {missing.get(sample, '')}).{hint}\n"
                    f"  Fix: write the template against the names `warmstart inspect` shows."
                )
        for i, (p, _) in enumerate(rules.on_mismatch):
            matched = [n for n in names if p.fullmatch(n)]
            if not matched:
                out.append(nothing("on_mismatch", p.pattern))
                continue
            earlier = [q.pattern for q, _ in rules.on_mismatch[:i]]
            if shadow := _shadowed("on_mismatch", p.pattern, earlier, matched):
                out.append(shadow)
        for p in rules.expect_missing:
            if not any(p.fullmatch(n) for n in names):
                out.append(nothing("expect_missing", p.pattern))
        return out

    def unused_vocab(self, names: Sequence[str]) -> list[str]:
        """Vocab rules that matched no variable, or only variables an earlier one takes (a
        ``VocabError``, not a ``RuleError``)."""
        out = []
        for i, rule in enumerate(self.rules.vocab):
            matched = [n for n in names if rule.pattern.fullmatch(n)]
            earlier = [r.pattern.pattern for r in self.rules.vocab[:i]]
            if matched and (shadow := _shadowed("vocab", rule.pattern.pattern, earlier, matched)):
                out.append(shadow)
            elif not matched:
                near = closest(rule.pattern.pattern, names)
                hint = f" Perhaps you meant one of: {', '.join(near)}." if near else ""
                out.append(f"vocab {rule.pattern.pattern!r} matched no variable of the model.{hint}")
        return out


def _shadowed(kind: str, pattern: str, earlier: Sequence[str], names: Sequence[str]) -> str | None:
    """``kind`` rules apply the first that fully matches: a rule whose every matching name an
    earlier rule takes does nothing. The message names the earlier rule."""
    compiled = re.compile(pattern)
    taken: dict[str, str] = {}
    for n in names:
        if not compiled.fullmatch(n):
            continue
        winner = next((q for q in earlier if re.fullmatch(q, n)), None)
        if winner is None:
            return None
        taken.setdefault(winner, n)
    if not taken:
        return None
    by = "; ".join(f"{kind} {q!r} (e.g. {n!r})" for q, n in taken.items())
    return (f"{kind} {pattern!r} does nothing: every variable it matches is taken first by the earlier {by}.\n"
            f"  Fix: put {pattern!r} before the rule that shadows it, or narrow that rule.")
