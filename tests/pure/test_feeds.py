"""``preserve``'s check that a kernel's new inputs are appended, on hand-built feeds."""

from __future__ import annotations

from warmstart.entries import Feed
from warmstart.matching.feeds import NO_GRAPH, appended, moved_inputs


def test_concatenate_with_the_grown_part_last_and_a_new_part_after_it_is_appended():
    feed = Feed((("a/embeddings", -1, 4), ("conv/kernel", -1, 6), ("c/embeddings", -1, 4)), ("Concatenate",))
    widths = {"a/embeddings": (20, 4), "conv/kernel": (3, 3, 2, 4), "c/embeddings": None}
    assert appended(feed, 8, 14, widths) is None


def test_a_part_widened_in_the_middle_is_not_appended():
    feed = Feed((("a/kernel", -1, 6), ("b/kernel", -1, 4)), ("Concatenate",))
    why = appended(feed, 8, 10, {"a/kernel": (3, 4), "b/kernel": (3, 4)})
    assert why is not None and why.startswith("inputs come through Concatenate; the new inputs are not appended")


def test_one_model_input_of_unknown_old_width_is_solved_from_the_total():
    feed = Feed((("", -1, 3), ("d/kernel", -1, 5)), ("Concatenate",))
    assert appended(feed, 7, 8, {"d/kernel": (2, 4)}) is None  # the input kept 3: d grew last
    assert appended(feed, 6, 8, {"d/kernel": (2, 5)}) is not None  # the input grew 2 -> 3 first


def test_flatten_interleaves_grown_channels():
    feed = Feed((("conv/kernel", -1, 6),) * 9, ("Flatten",))
    why = appended(feed, 36, 54, {"conv/kernel": (3, 3, 2, 4)})
    assert why is not None and why.startswith("inputs come through Flatten; the new inputs are not appended")
    assert appended(feed, 54, 54 + 0, {"conv/kernel": (3, 3, 2, 6)}) is None  # nothing grew


def test_unknown_layouts_say_why():
    assert appended(None, 4, 6, {}) == NO_GRAPH
    assert appended(Feed(why="inputs come through Reshape 'r'"), 4, 6, {}) == (
        "inputs come through Reshape 'r'; the new inputs may not be appended")
    two = Feed((("", -1, 3), ("", -1, 3)), ("Concatenate",))
    assert "several parts" in (appended(two, 5, 6, {}) or "")


def test_moved_inputs_put_each_parts_old_inputs_at_the_start_of_its_new_place():
    feed = Feed((("conv/kernel", -1, 3),) * 2, ("Flatten",))  # 2 positions, channels 2 -> 3
    new_rows, old_rows, how = moved_inputs(feed, 4, 6, {"conv/kernel": (1, 1, 2, 2)}) or ([], [], "")
    assert (new_rows, old_rows) == ([0, 1, 3, 4], [0, 1, 2, 3])
    assert how == "4 old inputs moved to their places through Flatten, 2 new ('conv') zero"
    mid = Feed((("a/kernel", -1, 6), ("b/kernel", -1, 4)), ("Concatenate",))
    assert moved_inputs(mid, 8, 10, {"a/kernel": (3, 4), "b/kernel": (3, 4)})[:2] == (  # type: ignore[index]
        [0, 1, 2, 3, 6, 7, 8, 9], [0, 1, 2, 3, 4, 5, 6, 7])


def test_no_moved_inputs_where_a_part_lost_inputs_or_the_layout_is_unknown():
    mid = Feed((("a/kernel", -1, 3), ("b/kernel", -1, 5)), ("Concatenate",))
    assert moved_inputs(mid, 8, 8, {"a/kernel": (3, 4), "b/kernel": (3, 4)}) is None  # a lost one
    assert moved_inputs(None, 4, 6, {}) is None
    assert moved_inputs(Feed(why="inputs come through Reshape 'r'"), 4, 6, {}) is None
