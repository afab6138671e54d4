#!/usr/bin/env python
"""Benchmark: is ``memory_budget`` honest? Peak memory above the model, per kind of step.

Each case runs ``ws.warm_start`` in a fresh process that builds its target, warms TF up,
takes the RSS, resets the kernel's peak-RSS counter (``/proc/self/clear_refs``), runs one
warm start and reads ``VmHWM``: **peak extra** = that peak minus the RSS before the call. The
parent never imports TensorFlow. Cases (sizes are flags):

* ``copy``: a ``rows x dim`` float32 table into an identical variable;
* ``cast``: the same table into a float16 variable;
* ``overlap``: into a narrower variable (``dim * 3 // 4`` columns, ``on_mismatch="overlap"``);
* ``remap``: a vocabulary of ``rows`` tokens grown by 20 % and shuffled (``ws.Vocab`` over two
  vocabulary files), so the row pairs are part of the call;
* ``optimizer``: a Keras Embedding of the table with its Adam slots (three tables);
* ``strings``: a string tensor of ``--strings`` elements of 21-24 bytes;
* ``held``: the copy case with ``memory_budget=None`` (everything held, as ``restore``).

Before the measured call each worker runs one small streamed warm start (``--cold`` skips it),
so the figures leave out what the first warm start of a process pays once (TF starting the
kernels and threads it uses). A remap's vocabulary join (``ws.Vocab`` of two files, in
``warmstart.remap``) is measured apart: "without the join" is the peak from its end on,
above the same baseline (the row pairs it made included).

    python benchmarks/memory_budget.py                          # ~2 minutes
    python benchmarks/memory_budget.py --rows 1000000 --budget-mib 8 --cases remap
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from embedding_tables import _reset_peak
from embedding_tables import _rss_kib as _status

MIB = 2**20
MARK = "@@RESULT "
CASES = ("copy", "cast", "overlap", "remap", "optimizer", "strings", "held")


def _table_model(rows: int, dim: int, dtype: str = "float32"):
    import keras

    ids = keras.Input((1,), dtype="int32")
    emb = keras.layers.Embedding(rows, dim, name="emb", embeddings_initializer="zeros", dtype=dtype)
    return keras.Model(ids, emb(ids))


def write(args: argparse.Namespace) -> None:
    """Write the checkpoints and vocabulary files every case reads (in a worker)."""
    import numpy as np
    import tensorflow as tf

    keras_model = _table_model(args.rows, args.dim)
    table = keras_model.get_layer("emb").embeddings
    table.assign(tf.random.uniform(table.shape, seed=1))
    tf.train.Checkpoint(model=keras_model).write(f"{args.dir}/table")
    opt = __import__("keras").optimizers.Adam()
    opt.build([table])
    for s in opt.variables[2:]:
        s.assign(tf.random.uniform(s.shape, seed=2))
    tf.train.Checkpoint(model=keras_model, optimizer=opt).write(f"{args.dir}/with_opt")
    rng = np.random.default_rng(0)
    words = np.char.add("token-", np.char.zfill(rng.integers(0, 10**9, args.strings).astype(str), 15))
    tf.train.Checkpoint(words=tf.Variable(words.astype(object))).write(f"{args.dir}/strings")
    write_vocabularies(args.dir, args.rows, rng)


def write_vocabularies(directory: str, rows: int, rng) -> None:
    """``old.txt`` (``rows`` tokens) and ``new.txt`` (grown by 20 %, shuffled by ``rng``)."""
    old = [f"item{i}" for i in range(rows)]
    new = old + [f"new{i}" for i in range(rows // 5)]
    rng.shuffle(new)
    for name, tokens in (("old", old), ("new", new)):
        with open(f"{directory}/{name}.txt", "w") as f:
            f.write("\n".join(tokens) + "\n")


def measure(args: argparse.Namespace) -> dict:
    import keras
    import tensorflow as tf

    import warmstart as ws

    budget = None if args.case == "held" else args.budget_mib * MIB
    options: dict = {"memory_budget": budget}
    opt = None
    if args.case in ("copy", "held"):
        target, prefix = _table_model(args.rows, args.dim), "table"
    elif args.case == "cast":
        target, prefix = _table_model(args.rows, args.dim, "float16"), "table"
    elif args.case == "overlap":
        target, prefix = _table_model(args.rows, args.dim * 3 // 4), "table"
        options["on_mismatch"] = "overlap"
    elif args.case == "remap":
        target, prefix = _table_model(args.rows + args.rows // 5, args.dim), "table"
        options["vocab"] = {"emb/embeddings": ws.Vocab(f"{args.dir}/old.txt", f"{args.dir}/new.txt")}
    elif args.case == "optimizer":
        target, prefix = _table_model(args.rows, args.dim), "with_opt"
        opt = keras.optimizers.Adam()
        opt.build(target.trainable_variables)
        options["optimizer"] = opt
    else:
        # tf.fill, not numpy: TF 2.21 shares a variable made from a numpy string array with
        # another holder, so its first in-place write copies it whole (observed, not ours)
        target = {"words": tf.Variable(tf.fill([args.strings], ""))}
        prefix = "strings"
    tf.reduce_sum(tf.ones([4])).numpy()  # warm TF up
    from warmstart import api

    if not args.cold:  # a first warm start in the process: TF's kernels and threads start once
        small = {"t": tf.Variable(tf.zeros([40_000, 16]))}
        tf.train.Checkpoint(t=tf.Variable(tf.ones([40_000, 16]))).write(f"{args.dir}/warm-{os.getpid()}")
        ws.warm_start(small, f"{args.dir}/warm-{os.getpid()}", memory_budget=1 << 20)
    join = {}
    build_row_maps = api.build_row_maps

    def measured_join(*a: object, **k: object) -> object:  # the vocabulary join, apart
        result = build_row_maps(*a, **k)
        join["peak_kib"] = _status("VmHWM")
        _reset_peak()
        return result

    api.build_row_maps = measured_join
    base = _status("VmRSS")
    exact = _reset_peak()
    started = time.perf_counter()
    report = ws.warm_start(target, f"{args.dir}/{prefix}", **options)
    seconds = time.perf_counter() - started
    peak = _status("VmHWM")
    assert report.ok, report
    stored = os.path.getsize(f"{args.dir}/{prefix}.data-00000-of-00001")
    return {"case": args.case, "seconds": seconds, "peak_extra_mib": (max(peak, join["peak_kib"]) - base) / 1024,
            "after_join_peak_extra_mib": (peak - base) / 1024, "join_peak_extra_mib": (join["peak_kib"] - base) / 1024,
            "exact": exact, "budget_mib": None if budget is None else args.budget_mib, "stored_mib": stored / MIB,
            "carried_rows": sum(dict(e.rows).get("carried", 0) for e in report.loaded)}


def spawn(args: argparse.Namespace, worker: str, case: str = "") -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", worker, "--case", case or "copy",
           "--dir", args.dir, "--rows", str(args.rows), "--dim", str(args.dim),
           "--strings", str(args.strings), "--budget-mib", str(args.budget_mib)] + (["--cold"] if args.cold else [])
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800, check=False)
    for line in out.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    raise SystemExit(f"worker failed: {' '.join(cmd)}\n{out.stderr[-3000:]}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--strings", type=int, default=2_500_000, help="elements of the string tensor")
    p.add_argument("--budget-mib", type=int, default=16)
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    p.add_argument("--json", help="write every figure here")
    p.add_argument("--cold", action="store_true", help="no warm start before the measured one: the "
                   "figures then include TF's one-time start of the kernels and threads a warm start uses")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--case", help=argparse.SUPPRESS)
    p.add_argument("--dir", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker == "write":
        write(args)
        print(MARK + "{}")
        return
    if args.worker:
        print(MARK + json.dumps(measure(args)))
        return
    with tempfile.TemporaryDirectory(prefix="ws-mem-") as tmp:
        args.dir = tmp
        spawn(args, "write")
        results = [spawn(args, "measure", case) for case in args.cases]
    print(f"table {args.rows:,} x {args.dim} float32 ({args.rows * args.dim * 4 / MIB:.0f} MiB), "
          f"budget {args.budget_mib} MiB; load {os.getloadavg()[0]:.2f}")
    print(f"{'case':<10} {'stored MiB':>10} {'seconds':>8} {'peak extra MiB':>15} {'x budget':>9} "
          f"{'without the join':>17} {'above budget, a carried row':>28}")
    for r in results:
        budget = r["budget_mib"]
        ratio = f"{r['peak_extra_mib'] / budget:.2f}" if budget else "-"
        rest, per_row = "", ""
        if budget and r["carried_rows"]:
            rest = f"{r['after_join_peak_extra_mib']:.1f}"
            per_row = f"{max(0.0, r['after_join_peak_extra_mib'] - budget) * MIB / r['carried_rows']:.1f} B"
        print(f"{r['case']:<10} {r['stored_mib']:>10.1f} {r['seconds']:>8.3f} {r['peak_extra_mib']:>15.1f} "
              f"{ratio:>9} {rest:>17} {per_row:>28}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": {k: getattr(args, k) for k in ("rows", "dim", "strings", "budget_mib")},
                       "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
