#!/usr/bin/env python
"""Benchmark: a sharded embedding table on an in-process ParameterServerStrategy cluster
(chief, 1 worker, 2 parameter servers on localhost), 4 shards, from a checkpoint stored as
2 slices (a table trained on 2 shards).

* ``restore``: ``tf.train.Checkpoint(emb=table).restore`` of the checkpoint into a 4-shard table
  of the same rows (TensorFlow reshards; it cannot remap);
* ``vocab``: ``ws.warm_start`` into a 4-shard table of a vocabulary grown by 20 % and shuffled
  (``ws.Vocab`` of two vocabulary files), default 256 MiB ``memory_budget``.

Each run is a fresh process that starts the cluster, builds its table (the shards live in
this process: its parameter servers are in-process), takes its RSS, resets the kernel's
peak-RSS counter (``/proc/self/clear_refs``), runs the call and reads the peak: **peak
extra** is that peak above the RSS before the call, and includes the vocabulary join and
the row pairs, which the budget does not bound. What the warm start keeps on the parameter
servers for its undo is printed from its undo log: TensorFlow's allocator may serve it from
memory the process freed while building the table, so the RSS figure need not show it. A few
rows are checked against the checkpoint.

    python benchmarks/sharded_tables.py                     # 4,194,304 x 64 float32 = 1 GiB checkpoint
    python benchmarks/sharded_tables.py --rows 400000 --repeats 1   # quick check
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile

from embedding_tables import _rss_kib, measured
from memory_budget import write_vocabularies

MIB = 2**20
MARK = "@@RESULT "
SHARDS = 4


def write(args: argparse.Namespace) -> None:
    """The 2-slice checkpoint (a table made of 2 shards) and the two vocabulary files."""
    import numpy as np
    import tensorflow as tf

    half = args.rows // 2
    parts = [tf.Variable(tf.random.uniform((n, args.dim), seed=k)) for k, n in enumerate((half, args.rows - half))]
    tf.train.Checkpoint(emb=tf.__internal__.distribute.ShardedVariable(parts)).write(f"{args.dir}/table")
    write_vocabularies(args.dir, args.rows, np.random.default_rng(0))


def worker(args: argparse.Namespace) -> dict:
    import numpy as np
    import tensorflow as tf
    from ps_cluster import ps_cluster

    import warmstart as ws

    strategy, _ = ps_cluster(SHARDS)
    with open(f"{args.dir}/new.txt") as f:
        new_rows = sum(1 for _ in f)
    rows = args.rows if args.method == "restore" else new_rows
    with strategy.scope():
        table = tf.Variable(tf.zeros((rows, args.dim)))
    assert len(table.variables) == SHARDS
    for k, shard in enumerate(table.variables):  # initial values made where the shard lives (every page touched)
        with tf.device(shard.device):
            shard.assign(tf.random.uniform(shard.shape, seed=10 + k))
    picks = [0, rows // 3, rows // 2, rows - 1]
    before = np.concatenate([s.numpy() for s in table.variables])[picks]
    prefix = f"{args.dir}/table"

    undo: list[str] = []  # the undo log's accounting: what stayed on the parameter servers
    handler = logging.Handler(logging.DEBUG)
    handler.emit = lambda record: undo.append(record.getMessage()) if record.getMessage().startswith("undo") else None
    logging.getLogger("warmstart").addHandler(handler)
    logging.getLogger("warmstart").setLevel(logging.DEBUG)

    def op() -> None:
        if args.method == "restore":
            tf.train.Checkpoint(emb=table).restore(prefix).expect_partial()
        else:
            report = ws.warm_start({"emb": table}, prefix, vocab={
                "emb": ws.Vocab(f"{args.dir}/old.txt", f"{args.dir}/new.txt")})
            op.report = report.shards[0].text()  # type: ignore[attr-defined]

    result = measured(op)
    # a few rows against the checkpoint: row i of the new table holds old row of its token
    reader = tf.train.load_checkpoint(prefix)
    stored = reader.get_tensor("emb/.ATTRIBUTES/VARIABLE_VALUE")
    tokens = None
    if args.method != "restore":
        with open(f"{args.dir}/new.txt") as f:
            tokens = [line.strip() for line in f]
    got = np.concatenate([s.numpy() for s in table.variables])
    for n, i in enumerate(picks):
        old = i if tokens is None else (int(tokens[i][4:]) if tokens[i].startswith("item") else None)
        want = stored[old] if old is not None else before[n]
        assert np.array_equal(got[i], want), (args.method, i)
    return {**result, "layout": getattr(op, "report", f"{SHARDS} shards"), "rows": rows,
            "peak_mib": _rss_kib("VmHWM") / 1024, "undo": undo}


def spawn(args: argparse.Namespace, method: str) -> dict:
    here = os.path.dirname(os.path.abspath(__file__))
    cmd = [sys.executable, __file__, "--worker", method, "--dir", args.dir, "--rows", str(args.rows),
           "--dim", str(args.dim)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": os.pathsep.join([here, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env, timeout=1800)
    if out.returncode != 0:
        raise SystemExit(f"{method} failed:\n{out.stderr[-4000:]}")
    return json.loads(next(line for line in out.stdout.splitlines() if line.startswith(MARK))[len(MARK):])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=4_194_304, help="rows of the checkpoint's table")
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", help="write every figure here")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--dir", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker == "write":
        write(args)
        return
    if args.worker:
        args.method = args.worker
        print(MARK + json.dumps(worker(args)))
        return

    with tempfile.TemporaryDirectory(prefix="ws-sharded-") as tmp:
        args.dir = tmp
        subprocess.run([sys.executable, __file__, "--worker", "write", "--dir", tmp, "--rows", str(args.rows),
                        "--dim", str(args.dim)], check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        runs: dict[str, list[dict]] = {"restore": [], "vocab": []}
        for r in range(args.repeats):
            for method in (("restore", "vocab") if r % 2 == 0 else ("vocab", "restore")):
                runs[method].append(spawn(args, method))
        table_mib = args.rows * args.dim * 4 / MIB
        summary = {m: {"seconds": statistics.median(x["seconds"] for x in rs),
                       "runs": [round(x["seconds"], 3) for x in rs],
                       "peak_extra_mib": statistics.median(x["peak_extra_mib"] for x in rs),
                       "exact_peak": all(x["exact_peak"] for x in rs), "layout": rs[0]["layout"],
                       "rows": rs[0]["rows"], "undo": rs[0]["undo"]}
                   for m, rs in runs.items()}
        restore, vocab = summary["restore"], summary["vocab"]
        print(f"checkpoint: {args.rows:,} x {args.dim} float32 = {table_mib:.0f} MiB in 2 slices; "
              f"{SHARDS} shards on 2 in-process parameter servers; {args.repeats} fresh process(es) each, medians")
        print(f"restore   {restore['rows']:>10,} rows  {restore['seconds']:7.2f} s {restore['runs']}  "
              f"peak extra {restore['peak_extra_mib']:6.0f} MiB")
        print(f"ws+Vocab  {vocab['rows']:>10,} rows  {vocab['seconds']:7.2f} s {vocab['runs']}  "
              f"peak extra {vocab['peak_extra_mib']:6.0f} MiB   ({vocab['layout']})")
        print("          " + "; ".join(vocab["undo"]))
        print(f"time: {vocab['seconds'] / restore['seconds']:.2f}x restore; peak extra: "
              f"{vocab['peak_extra_mib']:.0f} MiB against the 256 MiB budget + the table "
              f"({256 + table_mib:.0f} MiB)")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"rows": args.rows, "dim": args.dim, "table_mib": table_mib, "summary": summary}, f,
                          indent=2)


if __name__ == "__main__":
    main()
