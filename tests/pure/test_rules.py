"""Rules: validation and compilation of include/exclude/rename/on_mismatch/expect_missing.

Pure: no TensorFlow (``test_matching.py`` checks the imports).
"""

from __future__ import annotations

import re

import pytest

from warmstart.errors import RuleError, WarmStartError
from warmstart.rules import Exclusion, OnMismatch, Rules, compile_rules

# --- bad regexes name the rule and the pattern ---------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "where", "pattern"),
    [
        ({"include": ["ok/.*", "bad(["]}, "include[1]", "bad(["),
        ({"exclude": ["fine", "(unclosed"]}, "exclude[1]", "(unclosed"),
        ({"exclude": "*star"}, "exclude[0]", "*star"),
        ({"expect_missing": ["a", "b", "c[z-a]"]}, "expect_missing[2]", "c[z-a]"),
        ({"rename": [("ok", "ok"), ("x)", "y")]}, "rename[1]", "x)"),
        ({"on_mismatch": {"a/.*": "skip", "b/(": "overlap"}}, "on_mismatch['b/(']", "b/("),
    ],
)
def test_bad_regex_names_rule_and_pattern(kwargs, where, pattern):
    with pytest.raises(RuleError) as info:
        compile_rules(**kwargs)
    message = str(info.value)
    assert where in message
    assert repr(pattern) in message
    assert "invalid regex" in message
    assert "Fix:" in message


def test_rule_error_is_a_warmstart_error_and_not_re_error():
    with pytest.raises(WarmStartError) as info:
        compile_rules(exclude=["("])
    assert not isinstance(info.value, re.error)
    assert info.value.__cause__ is None  # raised "from None": one clear message


@pytest.mark.parametrize("field", ["include", "exclude", "expect_missing"])
def test_non_string_pattern_is_rule_error(field):
    with pytest.raises(RuleError, match=rf"{field}\[1\].*expected a regex string.*int"):
        compile_rules(**{field: ["a", 3]})


# --- a bare string is one pattern -----------------------------------------------------------


@pytest.mark.parametrize("field", ["include", "exclude", "expect_missing"])
def test_bare_string_is_one_pattern(field):
    rules = compile_rules(**{field: "tower/t0/.*"})
    patterns = getattr(rules, field)
    assert [p.pattern for p in patterns] == ["tower/t0/.*"]


def test_bare_compiled_pattern_is_one_pattern():
    pattern = re.compile("head/.*")
    rules = compile_rules(exclude=pattern)
    assert rules.exclude == (pattern,)


def test_bare_string_and_list_compile_alike():
    assert compile_rules(include="a/.*", exclude="b") == compile_rules(include=["a/.*"], exclude=["b"])


def test_patterns_accept_any_iterable_and_compiled_patterns():
    compiled = re.compile("x/.*")
    rules = compile_rules(exclude=(p for p in ["a", compiled]))
    assert [p.pattern for p in rules.exclude] == ["a", "x/.*"]
    assert rules.exclude[1] is compiled


# --- include / exclude ----------------------------------------------------------------------


def test_include_none_includes_everything():
    rules = compile_rules()
    assert rules.include is None
    assert rules.exclusion("anything/at/all") is None


def test_include_is_fullmatch():
    rules = compile_rules(include=["tower/.*"])
    assert rules.exclusion("tower/t0/kernel") is None
    assert rules.exclusion("x/tower/t0/kernel") == Exclusion(None)
    rules = compile_rules(include=["tower"])
    assert rules.exclusion("tower/t0/kernel") == Exclusion(None)


def test_empty_include_includes_nothing():
    assert compile_rules(include=[]).exclusion("a") == Exclusion(None)


def test_exclude_reports_the_deciding_pattern():
    rules = compile_rules(exclude=["head/.*", "emb/.*", "emb/embeddings"])
    assert rules.exclusion("emb/embeddings") == Exclusion("emb/.*")
    assert rules.exclusion("tower/kernel") is None


def test_exclude_wins_over_include():
    rules = compile_rules(include=["head/.*"], exclude=["head/bias"])
    assert rules.exclusion("head/kernel") is None
    assert rules.exclusion("head/bias") == Exclusion("head/bias")


# --- rename ---------------------------------------------------------------------------------


def test_rename_as_pairs_and_as_dict_compile_alike():
    pairs = [(r"new/(.*)", r"old/\1"), ("head/.*", None)]
    as_list = compile_rules(rename=pairs)
    as_dict = compile_rules(rename=dict(pairs))
    assert as_list == as_dict
    assert [(p.pattern, t) for p, t in as_list.rename] == [(r"new/(.*)", r"old/\1"), ("head/.*", None)]


def test_rename_accepts_compiled_patterns():
    pattern = re.compile(r"a/(\d+)")
    rules = compile_rules(rename={pattern: r"b/\1"})
    assert rules.rename == ((pattern, r"b/\1"),)


def test_rename_first_fullmatch_wins():
    rules = compile_rules(rename=[(r"t/(.*)", r"first/\1"), (r"t/k", "second"), (r".*", "third")])
    pattern, match, template = rules.rename_for("t/k")
    assert pattern.pattern == r"t/(.*)"
    assert match.expand(template) == "first/k"
    pattern, match, template = rules.rename_for("u/k")
    assert (pattern.pattern, template) == (".*", "third")


def test_rename_is_fullmatch_not_search():
    rules = compile_rules(rename=[("t", "s")])
    assert rules.rename_for("t/kernel") is None
    assert rules.rename_for("xt") is None
    assert rules.rename_for("t") is not None


def test_rename_to_none_is_kept():
    rules = compile_rules(rename=[("head/.*", None)])
    pattern, _, template = rules.rename_for("head/kernel")
    assert pattern.pattern == "head/.*"
    assert template is None


@pytest.mark.parametrize(
    ("pattern", "template"),
    [
        ("new/kernel", r"old/\1"),  # no group at all
        (r"(a)/(b)", r"\3"),
        (r"(a)/(b)", r"x/\g<3>"),
        (r"(?P<layer>\w+)/kernel", r"\g<layr>/kernel"),  # unknown group name
    ],
)
def test_rename_backreference_beyond_groups_is_rule_error(pattern, template):
    with pytest.raises(RuleError) as info:
        compile_rules(rename=[("fine", "fine"), (pattern, template)])
    message = str(info.value)
    assert "rename[1]" in message
    assert repr(pattern) in message
    assert "group" in message
    assert "Fix:" in message


@pytest.mark.parametrize(
    ("pattern", "template", "name", "expected"),
    [
        (r"(a)/(b)", r"\2/\1", "a/b", "b/a"),
        (r"(a)/(b)", r"\g<2>-\g<0>", "a/b", "b-a/b"),
        (r"(?P<layer>\w+)/kernel", r"old_\g<layer>/kernel", "d1/kernel", "old_d1/kernel"),
        (r"new_(\d+)/(.*)", r"old_\1/\2", "new_3/bias", "old_3/bias"),
    ],
)
def test_rename_valid_backreferences(pattern, template, name, expected):
    rules = compile_rules(rename=[(pattern, template)])
    _, match, tmpl = rules.rename_for(name)
    assert match.expand(tmpl) == expected


@pytest.mark.parametrize("item", ["abc", ("only-one",), ("a", "b", "c"), 7])
def test_rename_item_not_a_pair_is_rule_error(item):
    with pytest.raises(RuleError, match=r"rename\[0\]: expected a \(target_regex, source_template\) pair"):
        compile_rules(rename=[item])


def test_rename_template_of_wrong_type_is_rule_error():
    with pytest.raises(RuleError, match=r"rename\[0\] 'a': the template must be a string or None"):
        compile_rules(rename=[("a", 3)])


# --- on_mismatch ----------------------------------------------------------------------------


def test_on_mismatch_strenum_accepts_strings():
    assert OnMismatch("skip") is OnMismatch.SKIP
    assert OnMismatch.SKIP == "skip"
    assert {p.value for p in OnMismatch} == {"error", "skip", "overlap", "preserve"}


@pytest.mark.parametrize("policy", ["error", "skip", "overlap"])
def test_on_mismatch_string_and_enum_compile_alike(policy):
    by_string = compile_rules(on_mismatch=policy)
    by_enum = compile_rules(on_mismatch=OnMismatch(policy))
    assert by_string == by_enum
    assert by_string.default_mismatch is OnMismatch(policy)
    assert by_string.on_mismatch == ()
    assert by_string.mismatch_policy("any/name") is OnMismatch(policy)


def test_default_policy_is_skip():
    assert compile_rules().mismatch_policy("x") is OnMismatch.SKIP


@pytest.mark.parametrize("bad", ["ignore", "SKIP", "overlap "])
def test_unknown_policy_string_is_rule_error(bad):
    with pytest.raises(RuleError) as info:
        compile_rules(on_mismatch=bad)
    message = str(info.value)
    assert "on_mismatch" in message and repr(bad) in message
    for choice in ("'error'", "'skip'", "'overlap'"):
        assert choice in message


def test_unknown_policy_in_map_names_the_key():
    with pytest.raises(RuleError) as info:
        compile_rules(on_mismatch={"tower/.*": "overlap", "head/.*": "truncate"})
    message = str(info.value)
    assert "on_mismatch['head/.*']" in message
    assert "'truncate'" in message


@pytest.mark.parametrize("bad", [None, ["skip"], 3])
def test_on_mismatch_of_wrong_type_is_rule_error(bad):
    with pytest.raises(RuleError, match="on_mismatch: expected a policy string or a"):
        compile_rules(on_mismatch=bad)


def test_on_mismatch_map_first_fullmatch_wins_and_unmatched_skip():
    rules = compile_rules(
        on_mismatch={"tower/t0/.*": "error", "tower/.*": OnMismatch.OVERLAP, "emb/.*": "skip"}
    )
    assert rules.default_mismatch is OnMismatch.SKIP
    assert rules.mismatch_policy("tower/t0/kernel") is OnMismatch.ERROR
    assert rules.mismatch_policy("tower/t1/kernel") is OnMismatch.OVERLAP
    assert rules.mismatch_policy("emb/embeddings") is OnMismatch.SKIP
    assert rules.mismatch_policy("head/kernel") is OnMismatch.SKIP
    assert rules.mismatch_policy("x/tower/t1/kernel") is OnMismatch.SKIP  # fullmatch, not search
    assert all(isinstance(p, OnMismatch) for _, p in rules.on_mismatch)


# --- expect_missing -------------------------------------------------------------------------


def test_expect_missing_is_fullmatch():
    rules = compile_rules(expect_missing=["new_head/.*", "emb/extra"])
    assert rules.expected_missing("new_head/kernel")
    assert rules.expected_missing("emb/extra")
    assert not rules.expected_missing("emb/extra_rows")
    assert not rules.expected_missing("tower/kernel")


# --- value object ---------------------------------------------------------------------------


def test_rules_are_frozen_and_compiled_once():
    rules = compile_rules(include=["a"], exclude=["b"])
    with pytest.raises(AttributeError):
        rules.include = None  # type: ignore[misc]
    assert all(isinstance(p, re.Pattern) for p in rules.include + rules.exclude)
    assert isinstance(rules, Rules)


def test_compile_rules_is_keyword_only():
    with pytest.raises(TypeError):
        compile_rules(["a"])  # type: ignore[misc]


def test_an_exclude_pattern_spelled_like_a_sentinel_is_just_a_pattern():
    rules = compile_rules(exclude=["include"])
    assert rules.exclusion("include") == Exclusion("include")
    assert Exclusion("include").detail == "exclude 'include'"
    assert Exclusion(None).detail == "not matched by any include pattern"
