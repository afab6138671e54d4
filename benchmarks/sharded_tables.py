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

``--floors`` also measures what bounds any warm start with a remap here, each in its own
fresh processes, none of them a warm start (no verification, no undo, no new rows):

* ``dry_run``: ``ws.warm_start(..., dry_run=True)``, the vocabulary join and the plan, no read;
* ``ship``: the carried rows sent from this process into the 4 shards by plain eager
  ``ResourceScatterUpdate``, chunks of the table's rows gathered here (the table and the row
  pairs are made before the clock starts): the cost of the coordinator moving the rows;
* ``ps_local``: each parameter server reads every stored slice itself (``RestoreV2`` placed on
  its device, as ``restore`` does), gathers the rows of its own shards and scatters them there,
  the two parameter servers driven from two threads at once (row pairs made before the clock).

    python benchmarks/sharded_tables.py                     # 4,194,304 x 64 float32 = 1 GiB checkpoint
    python benchmarks/sharded_tables.py --rows 400000 --repeats 1   # quick check
    python benchmarks/sharded_tables.py --floors            # and the three floors
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

    floor = _floor(args, table, prefix, tf, np) if args.method in ("ship", "ps_local") else None

    def op() -> None:
        if args.method == "restore":
            tf.train.Checkpoint(emb=table).restore(prefix).expect_partial()
        elif floor is not None:
            floor()
        elif args.method == "dry_run":
            ws.warm_start({"emb": table}, prefix, dry_run=True, vocab={
                "emb": ws.Vocab(f"{args.dir}/old.txt", f"{args.dir}/new.txt")})
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
        want = before[n] if old is None or args.method == "dry_run" else stored[old]
        assert np.array_equal(got[i], want), (args.method, i)
    return {**result, "layout": getattr(op, "report", f"{SHARDS} shards"), "rows": rows,
            "peak_mib": _rss_kib("VmHWM") / 1024, "undo": undo}


def _row_pairs(args: argparse.Namespace, np) -> tuple:
    """(new rows, old rows) of every carried token: ``item<k>`` was old row ``k``."""
    with open(f"{args.dir}/new.txt") as f:
        old_of = np.array([int(t[4:]) if t.startswith("item") else -1 for t in f.read().split()], np.int64)
    new = np.flatnonzero(old_of >= 0)
    return new, old_of[new]


def _floor(args: argparse.Namespace, table, prefix: str, tf, np):
    """The ``ship`` or ``ps_local`` operation, everything it needs made now (before the clock)."""
    import threading

    new, old = _row_pairs(args, np)
    shards = table.variables
    starts = np.cumsum([0] + [int(s.shape[0]) for s in shards])
    owner = np.searchsorted(starts[1:], new, side="right")
    key = "emb/.ATTRIBUTES/VARIABLE_VALUE"
    if args.method == "ship":
        stored = tf.constant(tf.train.load_checkpoint(prefix).get_tensor(key))
        chunk = 57_000  # rows a chunk, as warmstart's default budget streams this table
        order = np.argsort(old, kind="stable")
        pieces = [(old[order[i:i + chunk]], new[order[i:i + chunk]]) for i in range(0, order.size, chunk)]

        def ship() -> None:
            for o, n in pieces:
                rows = tf.gather(stored, o)
                k = np.searchsorted(starts[1:], n, side="right")
                for s in range(len(shards)):
                    take = np.flatnonzero(k == s)
                    if take.size:
                        tf.raw_ops.ResourceScatterUpdate(resource=shards[s].handle,
                                                         indices=tf.constant(n[take] - starts[s]),
                                                         updates=tf.gather(rows, take))
            shards[-1][0:1].numpy()  # waits for every write
        return ship

    half = args.rows // 2
    slices = [(0, half), (half, args.rows)]
    work: dict[str, list] = {}
    for s, shard in enumerate(shards):
        for a, b in slices:
            take = np.flatnonzero((owner == s) & (old >= a) & (old < b))
            work.setdefault(shard.device, []).append(
                (f"{args.rows} {args.dim} {a},{b - a}:-", s, old[take] - a, new[take] - starts[s]))

    def one_server(device: str) -> None:
        with tf.device(device):
            for spec in dict.fromkeys(w[0] for w in work[device]):
                (value,) = tf.raw_ops.RestoreV2(prefix=prefix, tensor_names=[key], shape_and_slices=[spec],
                                                dtypes=[tf.float32])
                for _, s, o, n in (w for w in work[device] if w[0] == spec):
                    tf.raw_ops.ResourceScatterUpdate(resource=shards[s].handle, indices=tf.constant(n),
                                                     updates=tf.gather(value, tf.constant(o)))
                del value

    def ps_local() -> None:
        threads = [threading.Thread(target=one_server, args=(d,)) for d in work]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for shard in shards:
            shard[0:1].numpy()
    return ps_local


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
    p.add_argument("--floors", action="store_true", help="also measure dry_run, ship and ps_local (see above)")
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
        methods = ("restore", "vocab", *(("dry_run", "ship", "ps_local") if args.floors else ()))
        runs: dict[str, list[dict]] = {m: [] for m in methods}
        for r in range(args.repeats):
            for method in (methods if r % 2 == 0 else methods[::-1]):
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
        for m in methods[2:]:
            print(f"{m:<9} {summary[m]['rows']:>10,} rows  {summary[m]['seconds']:7.2f} s {summary[m]['runs']}  "
                  f"peak extra {summary[m]['peak_extra_mib']:6.0f} MiB   "
                  f"{summary[m]['seconds'] / restore['seconds']:.2f}x restore")
        print(f"time: {vocab['seconds'] / restore['seconds']:.2f}x restore; peak extra: "
              f"{vocab['peak_extra_mib']:.0f} MiB against the 256 MiB budget + the table "
              f"({256 + table_mib:.0f} MiB)")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"rows": args.rows, "dim": args.dim, "table_mib": table_mib, "summary": summary}, f,
                          indent=2)


if __name__ == "__main__":
    main()
