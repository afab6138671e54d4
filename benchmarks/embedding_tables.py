#!/usr/bin/env python
"""Benchmark: large embedding tables, identical and with a grown, shuffled vocabulary.

Every measurement runs in a fresh process that builds the target model, takes its memory
baseline, resets the kernel's peak-RSS counter (``/proc/self/clear_refs``), runs one
operation, and checks a few rows. Reported: seconds, and peak RSS above the baseline.

1. identical table: ``ws.warm_start`` (default 256 MiB budget: verified, then streamed)
   against ``tf.train.Checkpoint.restore`` of the same checkpoint;
2. vocabulary grown by 20 % and shuffled: ``ws.warm_start(vocab=...)`` against TF1's
   ``tf.compat.v1.train.warm_start`` with ``VocabInfo`` (the only other tool that remaps
   by token) and against ``restore`` of an identical table;
3. the physical floor: reading the data file once.

    python benchmarks/embedding_tables.py                       # 4,000,000 x 64 float32 (1 GiB)
    python benchmarks/embedding_tables.py --rows 400000 --repeats 1   # quick check
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

MIB = 2**20
MARK = "@@RESULT "
KEY = "model/_operations/1/_embeddings/.ATTRIBUTES/VARIABLE_VALUE"  # the Functional model below


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def measured(op) -> dict:
    """Run ``op()`` once: its seconds and the peak RSS it added above the RSS just before it
    (the kernel's peak counter reset first where Linux allows; ``exact_peak`` says whether)."""
    base = _rss_kib("VmRSS")
    exact = _reset_peak()
    base_peak = _rss_kib("VmHWM")
    started = time.perf_counter()
    op()
    seconds = time.perf_counter() - started
    peak = _rss_kib("VmHWM")
    return {"seconds": seconds, "peak_extra_mib": (peak - (base if exact else base_peak)) / 1024, "exact_peak": exact}


def _model(rows: int, dim: int):
    import keras

    inp = keras.Input((1,), dtype="int32")
    emb = keras.layers.Embedding(rows, dim, name="emb", embeddings_initializer="zeros")
    return keras.Model(inp, emb(inp))


def worker(args: argparse.Namespace) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    import warmstart as ws
    import warmstart.api

    rows = args.rows if args.method != "vocab" and args.method != "tf1" else args.new_rows
    model = _model(rows, args.dim)
    table = model.get_layer("emb").embeddings
    tf.reduce_sum(table.value[:1]).numpy()  # warm TF up

    def op() -> None:
        if args.method == "restore":
            tf.train.Checkpoint(model=model).restore(args.prefix).expect_partial()
        elif args.method == "warm_start":
            ws.warm_start(model, args.prefix)
        elif args.method == "vocab":
            ws.warm_start(model, args.prefix, vocab={"emb/embeddings": ws.Vocab(args.old_vocab, args.new_vocab)})
        elif args.method == "tf1":
            var = table.value
            info = tf.compat.v1.train.VocabInfo(new_vocab=args.new_vocab, new_vocab_size=args.new_rows,
                                                num_oov_buckets=0, old_vocab=args.old_vocab)
            name = var.name.removesuffix(":0")
            tf.compat.v1.train.warm_start(args.prefix, vars_to_warm_start=[var],
                                          var_name_to_vocab_info={name: info}, var_name_to_prev_var_name={name: KEY})

    result = measured(op)
    return {**result, "check": table.numpy()[[0, rows // 2, rows - 1], :4].tolist()}


def spawn(args: argparse.Namespace, method: str, prefix: str) -> dict:
    cmd = [sys.executable, __file__, "--worker", method, "--prefix", prefix, "--rows", str(args.rows),
           "--new-rows", str(args.new_rows), "--dim", str(args.dim), "--old-vocab", args.old_vocab,
           "--new-vocab", args.new_vocab]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(next(line for line in out.splitlines() if line.startswith(MARK))[len(MARK):])


def write_checkpoint(args: argparse.Namespace, prefix: str) -> None:
    code = (
        "import os; os.environ['TF_CPP_MIN_LOG_LEVEL']='3'\n"
        "import sys; sys.path.insert(0, %r)\n"
        "from embedding_tables import _model\n"
        "import tensorflow as tf, keras\n"
        "keras.utils.set_random_seed(0)\n"
        "m = _model(%d, %d)\n"
        "e = m.get_layer('emb').embeddings\n"
        "e.assign(tf.random.uniform(e.shape))\n"
        "tf.train.Checkpoint(model=m).write(%r)\n"
    ) % (os.path.dirname(os.path.abspath(__file__)), args.rows, args.dim, prefix)
    subprocess.run([sys.executable, "-c", code], check=True)


def read_floor(path: str) -> float:
    buf = bytearray(16 * MIB)
    started = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buf):
            pass
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=4_000_000)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", help="write every figure here")
    p.add_argument("--methods", nargs="+", default=["restore", "warm_start", "vocab", "tf1"],
                   choices=["restore", "warm_start", "vocab", "tf1"], help="which to run (default: all)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--prefix", help=argparse.SUPPRESS)
    p.add_argument("--new-rows", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--old-vocab", default="", help=argparse.SUPPRESS)
    p.add_argument("--new-vocab", default="", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        args.method = args.worker
        print(MARK + json.dumps(worker(args)))
        return

    with tempfile.TemporaryDirectory(prefix="ws-bench-") as tmp:
        import random

        rng = random.Random(0)
        old = [f"item{i}" for i in range(args.rows)]
        new = old + [f"new{i}" for i in range(args.rows // 5)]
        rng.shuffle(new)
        args.new_rows = len(new)
        args.old_vocab, args.new_vocab = f"{tmp}/old.txt", f"{tmp}/new.txt"
        for path, tokens in ((args.old_vocab, old), (args.new_vocab, new)):
            with open(path, "w") as f:
                f.write("\n".join(tokens) + "\n")
        prefix = f"{tmp}/table"
        write_checkpoint(args, prefix)
        data = prefix + ".data-00000-of-00001"
        table_mib = args.rows * args.dim * 4 / MIB
        results: dict[str, list[dict]] = {m: [] for m in args.methods}
        floors = []
        for r in range(args.repeats):
            order = list(results) if r % 2 == 0 else list(reversed(results))
            for method in order:
                results[method].append(spawn(args, method, prefix))
            floors.append(read_floor(data))
        checks = {m: runs[0]["check"] for m, runs in results.items()}
        if "restore" in checks and "warm_start" in checks and checks["restore"] != checks["warm_start"]:
            raise SystemExit(f"warm_start loaded other values than restore: {checks}")
        summary = {
            m: {"seconds": statistics.median(x["seconds"] for x in runs),
                "runs": [round(x["seconds"], 3) for x in runs],
                "peak_extra_mib": statistics.median(x["peak_extra_mib"] for x in runs),
                "exact_peak": all(x["exact_peak"] for x in runs)}
            for m, runs in results.items()
        }
        floor = statistics.median(floors)
        restore = summary["restore"]["seconds"] if "restore" in summary else float("nan")
        print(f"table {args.rows:,} x {args.dim} float32 = {table_mib:.0f} MiB; vocab grown to "
              f"{args.new_rows:,} rows, shuffled; {args.repeats} fresh process(es) each, medians")
        print(f"{'method':<34} {'seconds':>8} {'vs restore':>10} {'peak extra':>11} {'x table':>8}")
        labels = {"restore": "restore (identical table)", "warm_start": "ws.warm_start (identical table)",
                  "vocab": "ws.warm_start + Vocab (+20%, shuffled)", "tf1": "TF1 warm_start + VocabInfo"}
        for m, label in labels.items():
            if m not in summary:
                continue
            s = summary[m]
            print(f"{label:<34} {s['seconds']:>8.3f} {s['seconds'] / restore:>10.2f} "
                  f"{s['peak_extra_mib']:>8.0f} MiB {s['peak_extra_mib'] / table_mib:>8.2f}")
        print(f"{'read the data file once (floor)':<34} {floor:>8.3f} {floor / restore:>10.2f}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"args": {k: v for k, v in vars(args).items() if k in ("rows", "dim", "repeats")},
                           "table_mib": table_mib, "floor_s": floor, "summary": summary}, f, indent=2)


if __name__ == "__main__":
    main()
