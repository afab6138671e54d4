"""User rules, validated and compiled once: include, exclude, rename, on_mismatch,
expect_missing, vocab. Pure Python, and no I/O: the vocabularies a vocab rule names are read
later, by :mod:`warmstart.remap.build`.

Every pattern is applied with ``re.fullmatch`` to target names (``tower/t0/kernel``).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .errors import RuleError, VocabError
from .remap.hashed import Hashed
from .remap.vocab import Vocab

__all__ = ["Exclusion", "OnMismatch", "Rules", "VocabRule", "castable", "compile_rules"]

PatternLike = str | re.Pattern[str]
# Mapping keys are invariant, so a plain dict[str, ...] must match one arm exactly.
RenameRules = (
    Iterable[tuple[PatternLike, str | None]] | Mapping[str, str | None] | Mapping[re.Pattern[str], str | None]
)
MismatchPolicy = str | Mapping[str, str] | Mapping[re.Pattern[str], str]
VocabRules = Mapping[str, Vocab | Hashed] | Mapping[re.Pattern[str], Vocab | Hashed]


class OnMismatch(enum.StrEnum):
    """What to do when a paired variable's shape or dtype differs: ``on_mismatch=`` takes a
    member or its string (``"overlap"``), for every pair or per name (``{regex: policy}``)."""

    ERROR = "error"
    """Raise ``ShapeMismatchError`` before any write (with every other problem of the call)."""
    SKIP = "skip"
    """Leave the target as it is and report it (``shape_mismatch`` or ``dtype_mismatch``)."""
    OVERLAP = "overlap"
    """Copy the common block along every axis; the rest keeps its initial value."""
    PRESERVE = "preserve"
    """As ``overlap``, with new entries that feed old outputs set to zero: the layer computes
    what it did on the old inputs, and its new units still learn."""


@dataclass(frozen=True, slots=True)
class VocabRule:
    """``{pattern: vocab}``: tables whose name fully matches ``pattern`` are remapped by ``vocab``;
    ``index`` is the rule's position (row maps are built per rule, in order)."""

    pattern: re.Pattern[str]
    vocab: Vocab | Hashed
    index: int


@dataclass(frozen=True, slots=True)
class Exclusion:
    """Why a target is not included: no include pattern matched it (``pattern`` is None), or
    the exclude ``pattern`` did."""

    pattern: str | None

    @property
    def detail(self) -> str:
        return "not matched by any include pattern" if self.pattern is None else f"exclude {self.pattern!r}"


@dataclass(frozen=True, slots=True)
class Rules:
    """Compiled rules. Build with :func:`compile_rules`."""

    include: tuple[re.Pattern[str], ...] | None = None
    exclude: tuple[re.Pattern[str], ...] = ()
    rename: tuple[tuple[re.Pattern[str], str | None], ...] = ()
    on_mismatch: tuple[tuple[re.Pattern[str], OnMismatch], ...] = ()
    default_mismatch: OnMismatch = OnMismatch.SKIP
    expect_missing: tuple[re.Pattern[str], ...] = ()
    vocab: tuple[VocabRule, ...] = ()
    casts: frozenset[tuple[str, str]] = frozenset()
    """(checkpoint dtype, model dtype) pairs loaded with a cast beyond the safe ones."""

    def vocab_for(self, name: str) -> VocabRule | None:
        for rule in self.vocab:
            if rule.pattern.fullmatch(name):
                return rule
        return None

    def exclusion(self, name: str) -> Exclusion | None:
        """Why ``name`` is not included, or None when it is."""
        if self.include is not None and not any(p.fullmatch(name) for p in self.include):
            return Exclusion(None)
        for p in self.exclude:
            if p.fullmatch(name):
                return Exclusion(p.pattern)
        return None

    def rename_for(self, name: str) -> tuple[re.Pattern[str], re.Match[str], str | None] | None:
        for pattern, template in self.rename:
            m = pattern.fullmatch(name)
            if m is not None:
                return pattern, m, template
        return None

    def mismatch_policy(self, name: str) -> OnMismatch:
        for pattern, policy in self.on_mismatch:
            if pattern.fullmatch(name):
                return policy
        return self.default_mismatch

    def expected_missing(self, name: str) -> bool:
        return any(p.fullmatch(name) for p in self.expect_missing)


def compile_rules(
    *,
    include: Iterable[PatternLike] | PatternLike | None = None,
    exclude: Iterable[PatternLike] | PatternLike = (),
    rename: RenameRules = (),
    on_mismatch: MismatchPolicy = OnMismatch.SKIP,
    expect_missing: Iterable[PatternLike] | PatternLike = (),
    vocab: VocabRules | None = None,
    cast: Iterable[str] | str = (),
) -> Rules:
    """Validate and compile. Raises :class:`RuleError` naming the bad rule and the fix."""
    return Rules(
        include=None if include is None else _patterns("include", include),
        exclude=_patterns("exclude", exclude),
        rename=_rename(rename),
        on_mismatch=_mismatch_map(on_mismatch),
        default_mismatch=_policy("on_mismatch", on_mismatch)
        if isinstance(on_mismatch, str)
        else OnMismatch.SKIP,
        expect_missing=_patterns("expect_missing", expect_missing),
        vocab=_vocab(vocab or {}),
        casts=_casts(cast),
    )


_FLOATS = ("float16", "bfloat16", "float32", "float64")
_INTS = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


def castable(source_dtype: str, target_dtype: str) -> bool:
    """Can ``cast=`` allow this change: two different float dtypes, or two integer ones."""
    same_family = (source_dtype in _FLOATS and target_dtype in _FLOATS) or (
        source_dtype in _INTS and target_dtype in _INTS)
    return same_family and source_dtype != target_dtype


def _casts(value: Iterable[str] | str) -> frozenset[tuple[str, str]]:
    """``"float64->float32"``: casts the user allows beyond the safe ones, within floats or ints."""
    items = (value,) if isinstance(value, str) else tuple(value)
    out = set()
    for i, item in enumerate(items):
        src, sep, dst = str(item).partition("->") if isinstance(item, str) else ("", "", "")
        src, dst = src.strip(), dst.strip()
        if not sep or not castable(src, dst):
            raise RuleError(
                f"cast[{i}]: expected 'SOURCE->TARGET' between two float dtypes ({', '.join(_FLOATS)}) or two "
                f"integer dtypes, got {item!r}.\n  Fix: e.g. cast='float64->float32' for tf.Module weights "
                f"created from numpy (float64) into a float32 model."
            )
        out.add((src, dst))
    return frozenset(out)


def _vocab(rules: VocabRules) -> tuple[VocabRule, ...]:
    if not isinstance(rules, Mapping):
        raise VocabError(f"vocab: expected a {{regex: ws.Vocab(...)}} mapping, got {type(rules).__name__}.")
    out = []
    for i, (key, v) in enumerate(rules.items()):
        pattern = _compile(f"vocab[{key!r}]", key)  # type: ignore[arg-type]  # checked there
        if not isinstance(v, (Vocab, Hashed)):
            raise VocabError(f"vocab[{pattern.pattern!r}]: expected ws.Vocab(old, new, ...) or "
                             f"ws.Hashed(old_bins, new_bins), got {type(v).__name__}.")
        out.append(VocabRule(pattern, v, i))
    return tuple(out)


def _compile(where: str, pattern: PatternLike) -> re.Pattern[str]:
    if isinstance(pattern, re.Pattern):
        return pattern
    if not isinstance(pattern, str):
        raise RuleError(f"{where}: expected a regex string, got {type(pattern).__name__} {pattern!r}.")
    try:
        return re.compile(pattern)
    except re.error as e:
        raise RuleError(
            f"{where}: invalid regex {pattern!r}: {e}.\n"
            f"  Fix: correct the pattern; escape literal characters with re.escape()."
        ) from None


def _patterns(label: str, value: Iterable[PatternLike] | PatternLike) -> tuple[re.Pattern[str], ...]:
    # A bare string would otherwise be iterated one character at a time.
    items = (value,) if isinstance(value, (str, re.Pattern)) else tuple(value)
    compiled = tuple(_compile(f"{label}[{i}]", p) for i, p in enumerate(items))
    _no_repeats(label, [p.pattern for p in compiled])
    return compiled


def _no_repeats(label: str, patterns: list[str]) -> None:
    """A pattern given twice does nothing the second time: say so instead of ignoring it."""
    first: dict[str, int] = {}
    for i, p in enumerate(patterns):
        if p in first:
            raise RuleError(
                f"{label}[{i}] {p!r} is given twice (also {label}[{first[p]}]); the second does nothing.\n"
                f"  Fix: remove one of them."
            )
        first[p] = i


_BACKREF = re.compile(r"\\(\d+)|\\g<(\w+)>")


def _rename(rules: RenameRules) -> tuple[tuple[re.Pattern[str], str | None], ...]:
    items = list(rules.items()) if isinstance(rules, Mapping) else list(rules)
    out = []
    for i, item in enumerate(items):
        try:
            pattern, template = item
        except (TypeError, ValueError):
            raise RuleError(
                f"rename[{i}]: expected a (target_regex, source_template) pair, got {item!r}."
            ) from None
        compiled = _compile(f"rename[{i}]", pattern)
        if template is not None and not isinstance(template, str):
            raise RuleError(
                f"rename[{i}] {compiled.pattern!r}: the template must be a string or None, "
                f"got {template!r}."
            )
        if template is not None:
            _check_template(i, compiled, template)
        out.append((compiled, template))
    _no_repeats("rename", [p.pattern for p, _ in out])
    return tuple(out)


def _check_template(i: int, pattern: re.Pattern[str], template: str) -> None:
    for m in _BACKREF.finditer(template):
        number, group = m.groups()
        bad = (number is not None and int(number) > pattern.groups) or (
            group is not None
            and not group.isdigit()
            and group not in pattern.groupindex
        ) or (group is not None and group.isdigit() and int(group) > pattern.groups)
        if bad:
            raise RuleError(
                f"rename[{i}] {pattern.pattern!r} -> {template!r}: the template refers to "
                f"group {m.group(0)!r}, but the pattern has {pattern.groups} group(s).\n"
                f"  Fix: add a (...) group to the pattern or remove the reference."
            )


def _policy(where: str, value: object) -> OnMismatch:
    try:
        return OnMismatch(str(value)) if isinstance(value, str) else OnMismatch(value)  # type: ignore[arg-type]
    except ValueError:
        choices = ", ".join(repr(p.value) for p in OnMismatch)
        raise RuleError(f"{where}: unknown policy {value!r}; use one of {choices}.") from None


def _mismatch_map(value: MismatchPolicy) -> tuple[tuple[re.Pattern[str], OnMismatch], ...]:
    if isinstance(value, str):
        _policy("on_mismatch", value)
        return ()
    if not isinstance(value, Mapping):
        raise RuleError(
            f"on_mismatch: expected a policy string or a {{regex: policy}} mapping, got {value!r}."
        )
    return tuple(
        (_compile(f"on_mismatch[{k!r}]", k), _policy(f"on_mismatch[{k!r}]", v))
        for k, v in value.items()
    )
