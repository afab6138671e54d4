#!/usr/bin/env python
"""Benchmark: large embedding tables, identical and with a grown, shuffled vocabulary, against
``tf.train.Checkpoint.restore`` of the same checkpoint, as ratios taken in one run.

For each table size (``--tables``, default 4,000,000 x 64 and 16,000,000 x 16 float32, each
about 1 GiB) one checkpoint is written, the vocabulary ``item0 .. item{N-1}`` in row order; the
new vocabulary is every old token plus 20 % new ones, shuffled with a fixed seed. Cases:

* ``restore``: ``tf.train.Checkpoint(model=m).restore(prefix).expect_partial()``, identical model;
* ``identical``: ``ws.warm_start(model, prefix)``, identical model;
* ``files``: ``ws.Vocab(old_file, new_file)``: two vocabulary files;
* ``lookups``: ``ws.Vocab(old_lookup, new_lookup)``: two Keras ``StringLookup`` layers built from
  the files (``num_oov_indices=0``, so every case remaps the same rows of the same checkpoint),
  the new one in the model, feeding the table (string ids -> lookup -> ``Embedding``);
* ``lists``: ``ws.Vocab(old_tokens, new_tokens)``: Python lists of ``str`` (read from the files,
  as a pipeline holds them; what ``StringLookup.get_vocabulary()`` returns);
* ``tf1``: TF1's ``warm_start`` + ``VocabInfo`` (files; not run unless asked: ~8x restore);
* ``join-files``, ``join-lists``, ``join-lookups``: the row map alone
  (``warmstart.remap.join_row_map``), and ``join-dict``: the Python join
  (``warmstart.remap.row_map``: a ``dict`` built from the old list, looked up per new token).

Every measurement runs in a fresh process that imports TensorFlow and every ``warmstart``
module, builds its model and inputs (lists, lookup layers), takes its memory baseline, resets
the kernel's peak-RSS counter (``/proc/self/clear_refs``), runs one operation, and reads
``VmHWM``: **extra memory** is that peak minus the RSS before. Then it checks rows: a few new
rows of old tokens must equal their checkpoint rows (read with a one-row ``RestoreV2``), and
rows of new tokens must be untouched. ``--repeats`` rounds, the order of the cases reversed
every other round; medians. The machine's load average is printed with every table.

    python benchmarks/embedding_tables.py                                  # both tables, ~15 min
    python benchmarks/embedding_tables.py --tables 400000x64 --repeats 1   # quick check, ~1 min
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

MIB = 2**20
MARK = "@@RESULT "
KEY = "model/_operations/1/_embeddings/.ATTRIBUTES/VARIABLE_VALUE"  # the Functional model below
CASES = ["restore", "identical", "files", "lookups", "lists", "tf1",
         "join-files", "join-lookups", "join-lists", "join-dict"]
DEFAULT = ["restore", "identical", "files", "lookups", "lists", "join-files", "join-lookups", "join-lists",
           "join-dict"]
LABELS = {
    "identical": "identical table",
    "files": "vocab +20%, shuffled, from two vocabulary files",
    "lookups": "the same vocab from Keras StringLookup layers",
    "lists": "the same vocab as token lists (list[str])",
    "tf1": "the same vocab by TF1 warm_start + VocabInfo",
    "join-files": "join alone: files",
    "join-lookups": "join alone: lookup layers",
    "join-lists": "join alone: token lists",
    "join-dict": "join alone: dict built from the lists",
}
TARGETS = {"identical": (0.3, 0.2), "files": (1.0, 0.3), "lookups": (1.0, 0.3), "lists": (1.5, 0.3)}


# ---------------------------------------------------------------- worker side (imports TensorFlow)


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


def _model(rows: int, dim: int, lookup=None):
    import keras

    emb = keras.layers.Embedding(rows, dim, name="emb", embeddings_initializer="zeros")
    if lookup is None:
        inp = keras.Input((1,), dtype="int32")
        return keras.Model(inp, emb(inp))
    inp = keras.Input((1,), dtype="string")
    return keras.Model(inp, emb(lookup(inp)))


def _import_all(package: str, skip: tuple[str, ...]) -> None:
    import importlib
    import pkgutil

    pkg = importlib.import_module(package)
    for info in pkgutil.walk_packages(pkg.__path__, package + "."):
        if not info.name.startswith(skip):
            importlib.import_module(info.name)


def _lookups(args: argparse.Namespace):
    import keras

    return (keras.layers.StringLookup(vocabulary=args.old_vocab, num_oov_indices=0, name="old_lookup"),
            keras.layers.StringLookup(vocabulary=args.new_vocab, num_oov_indices=0, name="new_lookup"))


def _lists(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    from warmstart.remap import read_vocab_file

    return read_vocab_file(args.old_vocab), read_vocab_file(args.new_vocab)


def _inputs(args: argparse.Namespace, case: str):
    kind = case.removeprefix("join-")
    if kind == "files":
        return args.old_vocab, args.new_vocab
    if kind == "lookups":
        return _lookups(args)
    return _lists(args)  # lists, dict


def worker(args: argparse.Namespace) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import gc

    import numpy as np
    import tensorflow as tf

    import warmstart as ws

    _import_all("warmstart", skip=("warmstart.cli", "warmstart.demo"))
    from warmstart.remap import Layout, join_row_map, row_map

    case = args.worker
    vocab_case = case in ("files", "lookups", "lists", "tf1")
    rows = args.new_rows if vocab_case else args.rows
    old = new = model = table = None
    if case.startswith("join-"):
        old, new = _inputs(args, case)
    else:
        if vocab_case and case != "tf1":
            old, new = _inputs(args, case)
        model = _model(rows, args.dim, lookup=new if case == "lookups" else None)
        table = model.get_layer("emb").embeddings
        tf.reduce_sum(table.value[:1]).numpy()  # warm TF up
    gc.collect()
    if case.startswith("join-"):
        gc.disable()  # as ws.warm_start does for its whole call
    base = _rss_kib("VmRSS")
    exact = _reset_peak()
    base_peak = _rss_kib("VmHWM")
    started = time.perf_counter()
    if case == "restore":
        tf.train.Checkpoint(model=model).restore(args.prefix).expect_partial()
    elif case == "identical":
        ws.warm_start(model, args.prefix)
    elif case in ("files", "lookups", "lists"):
        ws.warm_start(model, args.prefix, vocab={"emb/embeddings": ws.Vocab(old, new)})
    elif case == "tf1":
        var = table.value
        info = tf.compat.v1.train.VocabInfo(new_vocab=args.new_vocab, new_vocab_size=args.new_rows,
                                            num_oov_buckets=0, old_vocab=args.old_vocab)
        name = var.name.removesuffix(":0")
        tf.compat.v1.train.warm_start(args.prefix, vars_to_warm_start=[var], var_name_to_vocab_info={name: info},
                                      var_name_to_prev_var_name={name: KEY})
    elif case == "join-dict":
        got = row_map(old, new)
    else:
        got = join_row_map(old, new, old_label="old", new_label="new", old_layout=Layout(), new_layout=Layout())
    seconds = time.perf_counter() - started
    peak = _rss_kib("VmHWM")
    result = {"seconds": seconds, "extra_mib": (peak - (base if exact else base_peak)) / 1024, "exact_peak": exact}
    if case.startswith("join-"):
        if got.carried != args.rows or got.new_size != args.new_rows:
            raise SystemExit(f"{case}: {got.describe()}")
        return result
    samples = json.loads(args.samples)
    if case in ("restore", "identical"):
        samples = [[r, r] for r in (0, args.rows // 2, args.rows - 1)]
    for new_row, old_row in samples:
        value = table.value[new_row].numpy()
        if old_row < 0:
            ok = not value.any()
        else:
            spec = f"{args.rows} {args.dim} {old_row},1:-"
            want = tf.raw_ops.RestoreV2(prefix=args.prefix, tensor_names=[KEY], shape_and_slices=[spec],
                                        dtypes=[tf.float32])[0].numpy()[0]
            ok = np.array_equal(value, want) and value.any()
        if not ok:
            raise SystemExit(f"{case}: row {new_row} (checkpoint row {old_row}) is wrong: {value[:4]}")
    return result


# ---------------------------------------------------------------- parent side (no TensorFlow)


def spawn(args: argparse.Namespace, table: dict, case: str) -> dict:
    cmd = [sys.executable, __file__, "--worker", case, "--prefix", table["prefix"], "--rows", str(table["rows"]),
           "--new-rows", str(table["new_rows"]), "--dim", str(table["dim"]), "--old-vocab", table["old"],
           "--new-vocab", table["new"], "--samples", json.dumps(table["samples"])]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{case} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return json.loads(next(line for line in done.stdout.splitlines() if line.startswith(MARK))[len(MARK):])


def write_checkpoint(rows: int, dim: int, prefix: str) -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    code = (
        "import os; os.environ['TF_CPP_MIN_LOG_LEVEL']='3'\n"
        f"import sys; sys.path.insert(0, {here!r})\n"
        "from embedding_tables import _model\n"
        "import tensorflow as tf, keras\n"
        "keras.utils.set_random_seed(0)\n"
        f"m = _model({rows}, {dim})\n"
        "e = m.get_layer('emb').embeddings\n"
        "e.assign(tf.random.uniform(e.shape) + 0.5)\n"  # no zero rows: a carried row is never 0
        f"tf.train.Checkpoint(model=m).write({prefix!r})\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"writing the checkpoint failed:\n{done.stderr[-4000:]}")


def prepare(rows: int, dim: int, tmp: str) -> dict:
    """The checkpoint and the two vocabulary files of one table; which new rows to check."""
    rng = random.Random(0)
    old = [f"item{i}" for i in range(rows)]
    new = old + [f"new{i}" for i in range(rows // 5)]
    rng.shuffle(new)
    paths = {"old": f"{tmp}/old.txt", "new": f"{tmp}/new.txt"}
    for path, tokens in ((paths["old"], old), (paths["new"], new)):
        with open(path, "w") as f:
            f.write("\n".join(tokens) + "\n")
    picks = [0, len(new) // 3, len(new) // 2, len(new) - 1] + [new.index("new0"), new.index(f"item{rows - 1}")]
    samples = [[j, int(new[j][4:]) if new[j].startswith("item") else -1] for j in picks]
    prefix = f"{tmp}/table"
    write_checkpoint(rows, dim, prefix)
    return {"rows": rows, "dim": dim, "new_rows": len(new), "prefix": prefix, "samples": samples, **paths}


def read_floor(path: str) -> float:
    buf = bytearray(16 * MIB)
    started = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buf):
            pass
    return time.perf_counter() - started


def run_table(args: argparse.Namespace, rows: int, dim: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="ws-bench-", dir=args.dir) as tmp:
        table = prepare(rows, dim, tmp)
        load_before = os.getloadavg()
        runs: dict[str, list[dict]] = {c: [] for c in args.cases}
        floors = []
        for r in range(args.repeats):
            for case in (args.cases if r % 2 == 0 else args.cases[::-1]):
                runs[case].append(spawn(args, table, case))
            floors.append(read_floor(table["prefix"] + ".data-00000-of-00001"))
        load_after = os.getloadavg()
    summary = {c: {"seconds": statistics.median(x["seconds"] for x in rs),
                   "runs": [round(x["seconds"], 3) for x in rs],
                   "extra_mib": statistics.median(x["extra_mib"] for x in rs),
                   "exact_peak": all(x["exact_peak"] for x in rs)} for c, rs in runs.items()}
    if "restore" in runs:  # each round's own ratio: both measured minutes apart at most
        for c, rs in runs.items():
            summary[c]["round_ratios"] = [round(x["seconds"] / y["seconds"], 2) for x, y in zip(rs, runs["restore"])]
    return {"rows": rows, "dim": dim, "new_rows": table["new_rows"], "table_mib": rows * dim * 4 / MIB,
            "floor_s": statistics.median(floors), "load_before": load_before, "load_after": load_after,
            "summary": summary}


def render(result: dict) -> list[str]:
    s, table_mib = result["summary"], result["table_mib"]
    restore = s["restore"]["seconds"] if "restore" in s else float("nan")
    lines = [
        (f"table {result['rows']:,} x {result['dim']} float32 = {table_mib:.0f} MiB; new vocabulary "
         f"{result['new_rows']:,} tokens (+20%, shuffled); medians of {len(next(iter(s.values()))['runs'])} "
         f"fresh processes; load average {result['load_before'][0]:.2f} before, {result['load_after'][0]:.2f} "
         f"after"),
        f"  {'case':<50} {'restore s':>9} {'warm_start s':>12} {'ratio':>6} {'extra / table':>13}  target",
    ]
    for case, label in LABELS.items():
        if case not in s or case.startswith("join-"):
            continue
        x = s[case]
        target = TARGETS.get(case)
        verdict = ""
        if target:
            met = x["seconds"] / restore <= target[0] and x["extra_mib"] / table_mib <= target[1]
            verdict = f"<= {target[0]}x, <= {target[1]}x: {'met' if met else 'NOT met'}"
        lines.append(f"  {label:<50} {restore:>9.3f} {x['seconds']:>12.3f} {x['seconds'] / restore:>6.2f} "
                     f"{x['extra_mib'] / table_mib:>13.2f}  {verdict}")
    joins = [c for c in LABELS if c.startswith("join-") and c in s]
    if joins:
        lines.append(f"  {'the row map alone (no table)':<50} {'':>9} {'seconds':>12} {'':>6} {'extra MiB':>13}")
        for case in joins:
            lines.append(f"  {LABELS[case]:<50} {'':>9} {s[case]['seconds']:>12.3f} {'':>6} "
                         f"{s[case]['extra_mib']:>13.0f}")
    lines.append(f"  {'reading the data file once (the floor)':<50} {'':>9} {result['floor_s']:>12.3f} "
                 f"{result['floor_s'] / restore:>6.2f}")
    return lines


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tables", nargs="+", default=["4000000x64", "16000000x16"],
                   help="ROWSxDIM of each table (default: 4000000x64 16000000x16)")
    p.add_argument("--rows", type=int, help="one table of this many rows (with --dim; overrides --tables)")
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--cases", nargs="+", default=DEFAULT, choices=CASES, help="which to run (default: all but tf1)")
    p.add_argument("--dir", help="where the checkpoints go (default: the system's temp dir)")
    p.add_argument("--json", help="write every figure here")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--prefix", help=argparse.SUPPRESS)
    p.add_argument("--new-rows", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--old-vocab", default="", help=argparse.SUPPRESS)
    p.add_argument("--new-vocab", default="", help=argparse.SUPPRESS)
    p.add_argument("--samples", default="[]", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(MARK + json.dumps(worker(args)))
        return
    if "restore" not in args.cases:
        args.cases = ["restore", *args.cases]
    sizes = [(args.rows, args.dim)] if args.rows else [tuple(int(x) for x in t.split("x")) for t in args.tables]
    results = []
    for rows, dim in sizes:
        results.append(run_table(args, rows, dim))
        print("\n".join(render(results[-1])), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"repeats": args.repeats, "tables": results}, f, indent=2)


if __name__ == "__main__":
    main()
