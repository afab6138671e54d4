#!/usr/bin/env python
"""Benchmark: a large ``Embedding`` from a Keras ``.weights.h5``: ``ws.warm_start`` against
Keras' own ``model.load_weights`` of the same file into an identical model.

Every measurement runs in a fresh process that builds the model (zero initialiser), takes its
memory baseline, resets the kernel's peak-RSS counter (``/proc/self/clear_refs``), runs one
operation, and checks a few rows against the file. Reported: seconds, and peak RSS above the
baseline, as a multiple of the table. ``ws.warm_start`` runs with its default memory budget
(256 MiB): a first pass reads and fingerprints the dataset in chunks, a second reads row
chunks straight into tensors and writes them in place.

    python benchmarks/keras_weights.py                          # 4,000,000 x 64 float32 (1 GiB)
    python benchmarks/keras_weights.py --rows 400000 --repeats 1   # quick check
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

from embedding_tables import MARK, MIB, measured, read_floor

METHODS = ("load_weights", "warm_start")


def _model(rows: int, dim: int):
    import keras

    return keras.Sequential([keras.Input((1,), dtype="int32"),
                             keras.layers.Embedding(rows, dim, name="emb", embeddings_initializer="zeros")],
                            name="table")


def worker(args: argparse.Namespace) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import h5py
    import numpy as np
    import tensorflow as tf

    import warmstart as ws
    import warmstart.api
    import warmstart.sources.hdf5
    import warmstart.sources.keras_weights
    import warmstart.targets.layout

    model = _model(args.rows, args.dim)
    table = model.get_layer("emb").embeddings
    tf.reduce_sum(table.value[:1]).numpy()  # warm TF up
    if args.method == "load_weights":
        result = measured(lambda: model.load_weights(args.path))
    else:
        result = measured(lambda: ws.warm_start(model, args.path))
    rows = [0, 1, args.rows // 2, args.rows - 1]
    with h5py.File(args.path) as f:
        want = f["layers/embedding/vars/0"][rows]
    got = table.numpy()[rows]
    if not np.array_equal(got, want):
        raise SystemExit(f"{args.method}: the rows differ from the file")
    return {**result, "loadavg_1min": os.getloadavg()[0]}


def write_weights(args: argparse.Namespace) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    model = _model(args.rows, args.dim)
    table = model.get_layer("emb").embeddings
    table.assign(tf.random.stateless_uniform(table.shape, seed=(1, 2)))
    model.save_weights(args.path)
    return {"bytes": os.path.getsize(args.path)}


def spawn(args: argparse.Namespace, method: str, path: str) -> dict:
    cmd = [sys.executable, __file__, "--worker", method, "--path", path, "--rows", str(args.rows),
           "--dim", str(args.dim)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(next(line for line in out.splitlines() if line.startswith(MARK))[len(MARK):])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=4_000_000)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", help="write every figure here")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--path", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        args.method = args.worker
        print(MARK + json.dumps(write_weights(args) if args.worker == "write" else worker(args)))
        return

    with tempfile.TemporaryDirectory(prefix="ws-bench-") as tmp:
        path = f"{tmp}/table.weights.h5"
        spawn(args, "write", path)
        table_mib = args.rows * args.dim * 4 / MIB
        results: dict[str, list[dict]] = {m: [] for m in METHODS}
        floors = []
        for r in range(args.repeats):
            for method in METHODS if r % 2 == 0 else reversed(METHODS):
                results[method].append(spawn(args, method, path))
            floors.append(read_floor(path))
        summary = {
            m: {"seconds": statistics.median(x["seconds"] for x in runs),
                "runs": [round(x["seconds"], 3) for x in runs],
                "peak_extra_mib": statistics.median(x["peak_extra_mib"] for x in runs),
                "peak_runs": [round(x["peak_extra_mib"]) for x in runs],
                "loadavg_1min": [round(x["loadavg_1min"], 2) for x in runs],
                "exact_peak": all(x["exact_peak"] for x in runs)}
            for m, runs in results.items()
        }
        floor = statistics.median(floors)
        keras_s = summary["load_weights"]["seconds"]
        print(f"table {args.rows:,} x {args.dim} float32 = {table_mib:.0f} MiB in a .weights.h5; "
              f"{args.repeats} fresh process(es) each, medians")
        print(f"{'method':<32} {'seconds':>8} {'vs Keras':>9} {'peak extra':>11} {'x table':>8}   runs")
        labels = {"load_weights": "Keras model.load_weights", "warm_start": "ws.warm_start"}
        for m, label in labels.items():
            s = summary[m]
            print(f"{label:<32} {s['seconds']:>8.3f} {s['seconds'] / keras_s:>9.2f} "
                  f"{s['peak_extra_mib']:>8.0f} MiB {s['peak_extra_mib'] / table_mib:>8.2f}   "
                  f"{s['runs']} s, {s['peak_runs']} MiB, load {s['loadavg_1min']}")
        print(f"{'read the file once (floor)':<32} {floor:>8.3f} {floor / keras_s:>9.2f}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"args": {"rows": args.rows, "dim": args.dim, "repeats": args.repeats},
                           "table_mib": table_mib, "floor_s": floor, "summary": summary}, f, indent=2)


if __name__ == "__main__":
    main()
