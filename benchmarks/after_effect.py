#!/usr/bin/env python
"""Benchmark: does a warm start leave an after-effect? Forward-pass time after
``ws.warm_start`` against after ``tf.train.Checkpoint.restore``, for a model whose one large
Dense kernel a small ``memory_budget`` makes stream (written with ``scatter_update``).

Before issue 16 the streamed kernel stayed in TF's copy-on-read mode, and every dense read
of it (each forward pass) copied the whole buffer. Each method runs in a fresh process:
build the model, load the checkpoint, then time ``--calls`` compiled forward passes
(``tf.function``, after two warm-up calls); the median is reported, and the ratio to restore.

    python benchmarks/after_effect.py                     # 1,000,000 x 64 and 64 x 1,000,000 kernels
    python benchmarks/after_effect.py --shapes 200000x64  # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

MARK = "@@RESULT "


def _model(inputs: int, units: int):
    import keras

    x = keras.Input((inputs,))
    return keras.Model(x, keras.layers.Dense(units, name="out", kernel_initializer="zeros")(x))


def worker(args: argparse.Namespace) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tensorflow as tf

    import warmstart as ws

    model = _model(args.inputs, args.units)
    if args.method == "write":
        kernel = model.get_layer("out").kernel
        kernel.assign(tf.random.uniform(kernel.shape, seed=1))
        tf.train.Checkpoint(model=model).write(args.prefix)
        return {}
    started = time.perf_counter()
    if args.method == "restore":
        tf.train.Checkpoint(model=model).restore(args.prefix).expect_partial()
    else:
        ws.warm_start(model, args.prefix, memory_budget=args.budget_mib << 20)
    load_s = time.perf_counter() - started
    forward = tf.function(lambda x: model(x, training=False))
    x = tf.constant(np.random.default_rng(0).normal(size=(args.batch, args.inputs)).astype("float32"))
    forward(x).numpy()  # trace and warm up
    forward(x).numpy()
    times = []
    for _ in range(args.calls):
        t = time.perf_counter()
        forward(x).numpy()
        times.append(time.perf_counter() - t)
    return {"load_s": load_s, "forward_s": statistics.median(times), "runs": times,
            "checksum": float(tf.reduce_sum(model.get_layer("out").kernel.value[:3]).numpy())}


def spawn(args: argparse.Namespace, method: str, inputs: int, units: int, prefix: str) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", method, "--prefix", prefix,
           "--inputs", str(inputs), "--units", str(units), "--batch", str(args.batch),
           "--calls", str(args.calls), "--budget-mib", str(args.budget_mib)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    raise SystemExit(f"worker failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shapes", nargs="+", default=["1000000x64", "64x1000000"],
                   help="kernel shapes INPUTSxUNITS (default: the issue's, and a 1M-class output layer)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--calls", type=int, default=20)
    p.add_argument("--budget-mib", type=int, default=32)
    p.add_argument("--json")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--prefix", help=argparse.SUPPRESS)
    p.add_argument("--inputs", type=int, help=argparse.SUPPRESS)
    p.add_argument("--units", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        args.method = args.worker
        print(MARK + json.dumps(worker(args)))
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="ws-after-") as tmp:
        for shape in args.shapes:
            inputs, units = (int(n) for n in shape.split("x"))
            prefix = f"{tmp}/k{inputs}x{units}"
            spawn(args, "write", inputs, units, prefix)
            got = {m: spawn(args, m, inputs, units, prefix) for m in ("restore", "warm_start")}
            if abs(got["restore"]["checksum"] - got["warm_start"]["checksum"]) > 1e-3:
                raise SystemExit(f"different values loaded: {got}")
            rows.append({"shape": shape, **{m: got[m] for m in got},
                         "ratio": got["warm_start"]["forward_s"] / got["restore"]["forward_s"]})
    print(f"compiled forward pass (batch {args.batch}, median of {args.calls}); warm_start with a "
          f"{args.budget_mib} MiB budget; load {os.getloadavg()[0]:.2f}")
    print(f"{'kernel':<14} {'after restore':>14} {'after warm_start':>17} {'ratio':>6}")
    for r in rows:
        print(f"{r['shape']:<14} {r['restore']['forward_s'] * 1e3:>11.2f} ms {r['warm_start']['forward_s'] * 1e3:>14.2f} ms "
              f"{r['ratio']:>6.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
