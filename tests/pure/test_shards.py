"""The report's shard lines: layouts as text, and the checkpoint bytes each shard takes (pure)."""

from __future__ import annotations

import numpy as np

from warmstart.plan import Action, Remap, Step, Strategy
from warmstart.remap.rows import RowMap
from warmstart.report import Report
from warmstart.shards import ShardLayout, bytes_per_shard, layout_text, rows_text, size_text


def step(shape, source_shape, *, remap=None, offset=(), action=Action.COPY) -> Step:
    return Step(target="emb", source="emb", action=action, shape=shape, source_shape=source_shape,
                dtype="float32", source_dtype="float32", strategy=Strategy.NAME, key="k", remap=remap, offset=offset)


def test_layout_text():
    assert layout_text((4_000_000,) * 3, (6_000_000,) * 2) == "3 shards of 4M rows ← 2 slices of 6M rows"
    assert layout_text((4, 3, 3), (10,)) == "3 shards of 4/3/3 rows ← unsliced"
    assert layout_text((10,), (5, 5)) == "unsharded (10 rows) ← 2 slices of 5 rows"
    assert rows_text((13_334, 13_333, 13_333), "shard") == "3 shards of 13,334/13,333/13,333 rows"
    assert rows_text((10, 9, 9, 9, 9), "shard") == "5 shards of 9-10 rows"
    assert rows_text((25_000,) * 2, "slice") == "2 slices of 25k rows"
    assert [size_text(n) for n in (0, 1023, 1024, 3 << 20, 5 << 30)] == ["0 B", "1023 B", "1.0 KiB", "3.0 MiB",
                                                                        "5.0 GiB"]


def test_a_copy_takes_each_shards_rows():
    assert bytes_per_shard(step((10, 4), (10, 4)), (4, 3, 3)) == (64, 48, 48)
    # a grown table: rows beyond the checkpoint's are new, and take nothing
    assert bytes_per_shard(step((10, 4), (5, 4), action=Action.OVERLAP), (4, 3, 3)) == (64, 16, 0)
    # a block placed at an offset (preserve) takes the rows where it lands
    assert bytes_per_shard(step((10, 4), (5, 4), offset=(3, 0), action=Action.PRESERVE), (4, 3, 3)) == (16, 48, 16)
    # a narrower target still reads whole stored rows
    assert bytes_per_shard(step((10, 2), (10, 4), action=Action.OVERLAP), (5, 5)) == (80, 80)


def test_a_remap_takes_each_shards_carried_rows():
    rows = RowMap(old_rows=np.array([9, 0, 5], np.int64), new_rows=np.array([0, 4, 7], np.int64), new_size=8,
                  old_size=10, new_tokens=8, old_tokens=10)
    got = bytes_per_shard(step((8, 2), (10, 2), remap=Remap(rows), action=Action.VOCAB), (3, 3, 2))
    assert got == (8, 8, 8)  # new rows 0 | 4 | 7: one carried row each, 8 bytes a row


def test_the_report_carries_its_shard_lines_through_json():
    layout = ShardLayout("emb/embeddings", (4, 3, 3), (5, 5), (64, 48, 48))
    report = Report(source="ckpt", loaded=(), skipped=(), missing=(), unused=(), shards=(layout,))
    d = report.to_dict()
    assert d["shards"] == [{"target": "emb/embeddings", "layout": "3 shards of 4/3/3 rows ← 2 slices of 5 rows",
                            "shards": [4, 3, 3], "slices": [5, 5], "read": [64, 48, 48]}]
    assert Report.from_dict(d).to_dict() == d
    text = report.text()
    assert "Shards and slices (1)" in text and "64 B, 48 B, 48 B" in text
