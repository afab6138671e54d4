"""Which rules did something: a rule that did nothing is an error, with the closest names.

Pure Python. Pairing records what each rule did as it goes; :meth:`RuleUsage.problems` then
names the rules that matched no variable, or matched targets but found none of their sources.
"""

from __future__ import annotations

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
        for p, template in rules.rename:
            seen = self.rename_seen.get(p.pattern)
            if not seen:
                out.append(nothing("rename", p.pattern))
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
        for p, _ in rules.on_mismatch:
            if not any(p.fullmatch(n) for n in names):
                out.append(nothing("on_mismatch", p.pattern))
        for p in rules.expect_missing:
            if not any(p.fullmatch(n) for n in names):
                out.append(nothing("expect_missing", p.pattern))
        return out

    def unused_vocab(self, names: Sequence[str]) -> list[str]:
        """Vocab rules that matched no variable (a ``VocabError``, not a ``RuleError``)."""
        out = []
        for rule in self.rules.vocab:
            if not any(rule.pattern.fullmatch(n) for n in names):
                near = closest(rule.pattern.pattern, names)
                hint = f" Perhaps you meant one of: {', '.join(near)}." if near else ""
                out.append(f"vocab {rule.pattern.pattern!r} matched no variable of the model.{hint}")
        return out
