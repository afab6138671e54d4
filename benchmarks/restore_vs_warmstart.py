#!/usr/bin/env python
"""Benchmark: ``tf.train.Checkpoint.restore`` vs ``warmstart.warm_start`` on the same checkpoint.

Four scenarios (see benchmarks/README.md):

* ``a`` — one large Keras ``Embedding`` table (default 4,000,000 x 64 float32 = 1 GiB) in a
  built Sequential model.
* ``b`` — many small variables: a Functional model with ``--layers`` parallel ``Dense``
  layers (default 1,000 layers of width 16 = 2,000 variables) feeding one ``Add``.
* ``c`` — the same with ``--auto-layers`` (2,500: 5,000 variables) auto-named layers, the
  day-2 process having built ``--layers / 3`` other layers first: every counter shifts and a
  third of the names collide with other layers' names in the checkpoint.
* ``d`` — ``--named-layers`` (5,000: 10,000 variables) layers with exact names.

Scenarios c and d also time ``str(report)`` after the warm start (the table a daily job prints).

For each scenario the checkpoint is written once (``tf.train.Checkpoint(model=m).write``)
in a subprocess. Then every (method, repetition) runs in its own FRESH subprocess, which
imports every warmstart module, builds the identical model (cheap zero initialiser, so the
values differ from the checkpoint's), warms TF up with one dummy op, takes its memory
baseline, runs exactly one timed operation, records CPU time and page faults, then times
one dense read of every variable (the after-effect: a variable written by scatter or slice
ops is left in TF's copy-on-read mode) and checks that the values really arrived.

Memory: the kernel's peak-RSS counter (``ru_maxrss`` = ``VmHWM``) is reset after the
baseline by writing ``5`` to ``/proc/self/clear_refs`` (Linux >= 4.0), so "peak extra" is the
high-water mark reached *during the operation* minus the RSS just before it. Where the
reset is not allowed, the baseline is the pre-op high-water mark instead (which can hide an
operation's peak under the build's own peak; the output says which mode was used).

The parent process never imports TensorFlow. Run ``--help`` for the flags; for a quick check:

    python benchmarks/restore_vs_warmstart.py --rows 200000 --layers 100 --auto-layers 300 --named-layers 500 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULT_MARK = "@@RESULT "
METHODS = ("restore", "warm_start")
MIB = 2**20


# --------------------------------------------------------------------------------------------
# memory probes (used by the workers; no TensorFlow needed)
# --------------------------------------------------------------------------------------------


def _proc_status() -> dict[str, int]:
    """VmRSS / VmHWM in KiB from /proc/self/status ({} where unavailable)."""
    out: dict[str, int] = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":", 1)
                    out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


def _maxrss_kib() -> int:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r // 1024 if sys.platform == "darwin" else r  # bytes on macOS, KiB on Linux


def _reset_peak() -> bool:
    """Reset the peak-RSS counter to the current RSS (Linux clear_refs "5")."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def _memory() -> dict[str, int]:
    s = _proc_status()
    return {"maxrss_kib": _maxrss_kib(), "hwm_kib": s.get("VmHWM", -1), "rss_kib": s.get("VmRSS", -1)}


# --------------------------------------------------------------------------------------------
# worker side (imports TensorFlow)
# --------------------------------------------------------------------------------------------


def _build_model(args: argparse.Namespace, *, fresh_init: bool):
    """The model of a scenario. ``fresh_init`` uses a cheap zero initialiser (the values are
    overwritten by the op under test anyway; random init of 1 GiB costs ~9 s a process)."""
    import keras

    if args.scenario == "a":
        init = "zeros" if fresh_init else "uniform"
        return keras.Sequential(
            [
                keras.Input((1,), dtype="int32"),
                keras.layers.Embedding(args.rows, args.dim, embeddings_initializer=init),
            ]
        )
    kinit = "zeros" if fresh_init else "glorot_uniform"
    layers = args.layers
    if args.scenario == "c" and fresh_init:
        # day 2 in a process that built other layers first: every auto-name counter shifts, and
        # a third of the names collide with other layers' names in the checkpoint
        for _ in range(args.layers // 3):
            keras.layers.Dense(1)
    if args.scenario == "c":
        layers = args.auto_layers
    if args.scenario == "d":
        layers = args.named_layers
    x = keras.Input((args.width,))
    named = args.scenario == "d"
    outs = [keras.layers.Dense(args.width, kernel_initializer=kinit, name=f"l{i}" if named else None)(x)
            for i in range(layers)]
    out = keras.layers.Add()(outs) if len(outs) > 1 else outs[0]
    return keras.Model(x, out)


def _sample_points(model, scenario: str) -> list[tuple[int, tuple[int, ...]]]:
    """(weight index, element index) pairs checked after each op."""
    weights = model.weights
    if scenario == "a":
        rows, dim = (int(d) for d in weights[0].shape)
        return [(0, (r, c)) for r in (0, 1, rows // 2, rows - 1) for c in (0, dim - 1)]
    picks = sorted({0, 1, len(weights) // 2, len(weights) // 2 + 1, len(weights) - 2, len(weights) - 1})
    points = []
    for i in picks:
        shape = tuple(int(d) for d in weights[i].shape)
        points.append((i, tuple(0 for _ in shape)))
        points.append((i, tuple(d - 1 for d in shape)))
    return points


def _read_points(model, points) -> list[float]:
    import numpy as np

    weights = model.weights
    return [float(np.asarray(weights[i].value[idx])) for i, idx in points]


def _import_all(package: str, skip: tuple[str, ...] = ()) -> float:
    """Import every submodule of ``package`` (except ``skip`` trees); the seconds it took."""
    import importlib
    import pkgutil

    t0 = time.perf_counter()
    pkg = importlib.import_module(package)
    for info in pkgutil.walk_packages(pkg.__path__, package + "."):
        if not info.name.startswith(skip):
            importlib.import_module(info.name)
    return time.perf_counter() - t0


def _worker_write(args: argparse.Namespace) -> dict:
    import numpy as np
    import tensorflow as tf

    t0 = time.perf_counter()
    model = _build_model(args, fresh_init=False)
    build_s = time.perf_counter() - t0
    if args.scenario != "a":  # make biases non-zero too, so every sampled value is checkable
        rng = np.random.default_rng(0)
        for w in model.weights:
            w.assign(rng.uniform(-1, 1, size=tuple(w.shape)).astype("float32"))
    points = _sample_points(model, args.scenario)
    expected = _read_points(model, points)
    if any(v == 0.0 for v in expected):
        raise SystemExit("a sampled checkpoint value is exactly 0; the restore check would be blind")
    prefix = os.path.join(args.dir, "ckpt")
    t0 = time.perf_counter()
    written = tf.train.Checkpoint(model=model).write(prefix)
    write_s = time.perf_counter() - t0
    data_files = sorted(str(p) for p in Path(args.dir).glob("ckpt.data-*"))
    nbytes = sum(int(np.prod(w.shape)) * 4 for w in model.weights)
    with open(os.path.join(args.dir, "expected.json"), "w") as f:
        json.dump({"points": [[i, list(idx)] for i, idx in points], "values": expected}, f)
    return {
        "prefix": written,
        "build_s": build_s,
        "write_s": write_s,
        "n_variables": len(model.weights),
        "variable_bytes": nbytes,
        "data_files": data_files,
        "data_bytes": sum(os.path.getsize(p) for p in data_files),
    }


def _worker_measure(args: argparse.Namespace) -> dict:
    import numpy as np
    import tensorflow as tf

    import warmstart as ws

    # The package loads its TensorFlow-side modules on first use; import them all now, as
    # TensorFlow's own checkpoint modules already are, so the timed op is the operation only.
    import_s = _import_all("warmstart", skip=("warmstart.cli",))

    with open(os.path.join(args.dir, "expected.json")) as f:
        exp = json.load(f)
    points = [(i, tuple(idx)) for i, idx in exp["points"]]
    expected = exp["values"]

    t0 = time.perf_counter()
    model = _build_model(args, fresh_init=True)
    build_s = time.perf_counter() - t0
    before = _read_points(model, points)
    if any(abs(b - e) < 1e-12 for b, e in zip(before, expected, strict=True)):
        raise SystemExit("fresh model already holds the checkpoint's values; the check would be blind")

    # warm TF up: one eager op, one variable write/read (kernels, thread pools, allocator)
    warm = tf.Variable(tf.zeros([4]))
    warm.assign(tf.ones([4]) + 1.0)
    _ = warm.numpy()
    del warm, before

    mem_pre_reset = _memory()
    reset = _reset_peak()
    base = _memory()

    prefix = args.prefix
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    load_before = os.getloadavg()[0]
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    if args.method == "restore":
        status = tf.train.Checkpoint(model=model).restore(prefix).expect_partial()
        loaded = None
    else:
        report = ws.warm_start(model, prefix)
        loaded = len(report.loaded)
    op_s = time.perf_counter() - t0
    report_text_s = None
    if args.method != "restore":
        t_text = time.perf_counter()
        text = str(report)
        report_text_s = time.perf_counter() - t_text
        del text
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    if profiler is not None:
        profiler.disable()
    peak = _memory()  # high-water marks right after the op, before any checking reads

    # After-effect: one dense read of every variable, as a training step or model.save does.
    # A variable written with scatter/strided-slice ops is left in TF's copy-on-read mode, in
    # which every dense read copies the whole buffer; a whole-tensor assign leaves it aliased.
    def dense_read() -> float:
        t = time.perf_counter()
        for w in model.weights:
            x = tf.convert_to_tensor(w.value)
            del x
        return time.perf_counter() - t

    _reset_peak()
    before_read = _memory()
    dense_read_s = dense_read()
    after_read = _memory()
    dense_read_again_s = dense_read()

    # correctness (outside the timed region and after the peak was taken)
    if args.method == "restore":
        status.assert_nontrivial_match()
    elif loaded != len(model.weights):
        raise SystemExit(f"warm_start loaded {loaded} of {len(model.weights)} variables")
    got = _read_points(model, points)
    if not np.allclose(got, expected, rtol=0, atol=0):
        raise SystemExit(f"{args.method}: values not restored: got {got[:4]}, expected {expected[:4]}")
    del got
    import gc

    gc.collect()
    after = _memory()

    result = {
        "scenario": args.scenario,
        "method": args.method,
        "op_s": op_s,
        "build_s": build_s,
        "peak_reset": reset,
        "loadavg_1min_before_op": load_before,
        "baseline_rss_mib": base["rss_kib"] / 1024,
        "baseline_hwm_before_reset_mib": mem_pre_reset["hwm_kib"] / 1024,
        # peak extra, from ru_maxrss and from VmHWM (the same kernel counter, two interfaces)
        "peak_extra_maxrss_mib": (peak["maxrss_kib"] - base["maxrss_kib"]) / 1024,
        "peak_extra_hwm_mib": (peak["hwm_kib"] - base["hwm_kib"]) / 1024,
        "rss_after_op_extra_mib": (peak["rss_kib"] - base["rss_kib"]) / 1024,
        "rss_retained_extra_mib": (after["rss_kib"] - base["rss_kib"]) / 1024,
        # where the time went: CPU in user / kernel mode, and page faults taken during the op
        "user_s": ru1.ru_utime - ru0.ru_utime,
        "sys_s": ru1.ru_stime - ru0.ru_stime,
        "minor_faults": ru1.ru_minflt - ru0.ru_minflt,
        "major_faults": ru1.ru_majflt - ru0.ru_majflt,
        "dense_read_after_s": dense_read_s,
        "dense_read_after_peak_extra_mib": (after_read["maxrss_kib"] - before_read["maxrss_kib"]) / 1024,
        "dense_read_again_s": dense_read_again_s,
        "report_text_s": report_text_s,
        "warmstart_file": ws.__file__,
        "warmstart_import_s": import_s,
        "variables_loaded": loaded if loaded is not None else len(model.weights),
        "checked_values": len(points),
    }
    if profiler is not None:
        import io
        import pstats

        os.makedirs(args.profile, exist_ok=True)
        stem = os.path.join(args.profile, f"{args.scenario}-{args.method}-r{args.rep}")
        profiler.dump_stats(stem + ".prof")
        buf = io.StringIO()
        pstats.Stats(profiler, stream=buf).sort_stats("cumulative").print_stats(40)
        Path(stem + ".txt").write_text(buf.getvalue())
        result["profile"] = stem + ".prof"
    return result


def _worker(args: argparse.Namespace) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    result = _worker_write(args) if args.worker == "write" else _worker_measure(args)
    sys.stdout.write(RESULT_MARK + json.dumps(result) + "\n")
    sys.stdout.flush()


# --------------------------------------------------------------------------------------------
# parent side (no TensorFlow import)
# --------------------------------------------------------------------------------------------


def _spawn(args: argparse.Namespace, *extra: str) -> dict:
    cmd = [
        sys.executable, os.path.abspath(__file__),
        "--scenario", args.scenario_now,
        "--rows", str(args.rows), "--dim", str(args.dim),
        "--layers", str(args.layers), "--width", str(args.width),
        "--auto-layers", str(args.auto_layers), "--named-layers", str(args.named_layers),
        *extra,
    ]  # fmt: skip
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK) :])
    tail = "\n".join((proc.stdout + "\n" + proc.stderr).strip().splitlines()[-25:])
    raise SystemExit(f"worker failed (rc={proc.returncode}): {' '.join(cmd)}\n{tail}")


def _cpu_busy(window: float = 0.5) -> float:
    """Fraction of all CPUs busy over ``window`` seconds (from /proc/stat; -1 if unavailable)."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields[:8]), idle

    try:
        t0, i0 = sample()
        time.sleep(window)
        t1, i1 = sample()
    except (OSError, ValueError, IndexError):
        return -1.0
    return 1.0 - (i1 - i0) / max(1, t1 - t0)


def _wait_idle(limit_s: float, threshold: float = 0.15) -> float:
    """Wait up to ``limit_s`` for the machine to be idle; the busy fraction last seen."""
    deadline = time.monotonic() + limit_s
    busy = _cpu_busy()
    while busy > threshold and time.monotonic() < deadline:
        time.sleep(2.0)
        busy = _cpu_busy()
    return busy


def _read_floor(files: list[str], repeats: int, buffer_mib: int = 16) -> list[float]:
    """Seconds to read the data files once with a large buffer (warm cache: one read first)."""
    buf = bytearray(buffer_mib * MIB)
    view = memoryview(buf)

    def read_all() -> float:
        t0 = time.perf_counter()
        for path in files:
            with open(path, "rb", buffering=0) as f:
                while f.readinto(view):
                    pass
        return time.perf_counter() - t0

    read_all()  # warm the page cache
    return [read_all() for _ in range(repeats)]


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def _summarise(scenario: str, meta: dict, runs: list[dict], floor: list[float], args) -> dict:
    by = {m: [r for r in runs if r["method"] == m] for m in METHODS}
    summary: dict = {"scenario": scenario, "checkpoint": meta, "floor_read_s": floor,
                     "floor_read_median_s": _median(floor), "methods": {}}  # fmt: skip
    for m, rs in by.items():
        summary["methods"][m] = {
            "op_s": [r["op_s"] for r in rs],
            "op_median_s": _median([r["op_s"] for r in rs]),
            "peak_extra_maxrss_mib": [r["peak_extra_maxrss_mib"] for r in rs],
            "peak_extra_maxrss_median_mib": _median([r["peak_extra_maxrss_mib"] for r in rs]),
            "peak_extra_hwm_median_mib": _median([r["peak_extra_hwm_mib"] for r in rs]),
            "rss_retained_extra_median_mib": _median([r["rss_retained_extra_mib"] for r in rs]),
            "baseline_rss_median_mib": _median([r["baseline_rss_mib"] for r in rs]),
            "build_median_s": _median([r["build_s"] for r in rs]),
            "warmstart_import_median_s": _median([r["warmstart_import_s"] for r in rs]),
            "user_median_s": _median([r["user_s"] for r in rs]),
            "sys_median_s": _median([r["sys_s"] for r in rs]),
            "minor_faults_median": _median([r["minor_faults"] for r in rs]),
            "dense_read_after_median_s": _median([r["dense_read_after_s"] for r in rs]),
            "dense_read_after_peak_extra_median_mib": _median(
                [r["dense_read_after_peak_extra_mib"] for r in rs]
            ),
            "rss_after_op_extra_median_mib": _median([r["rss_after_op_extra_mib"] for r in rs]),
            "dense_read_again_median_s": _median([r["dense_read_again_s"] for r in rs]),
            "report_text_median_s": _median([r["report_text_s"] for r in rs if r.get("report_text_s") is not None]),
            "peak_reset": all(r["peak_reset"] for r in rs),
            "loadavg_1min_max": max(r["loadavg_1min_before_op"] for r in rs),
            "cpu_busy_before_max": max(r["cpu_busy_before_spawn"] for r in rs),
        }
    ws_m, rs_m = summary["methods"]["warm_start"], summary["methods"]["restore"]
    summary["time_ratio"] = ws_m["op_median_s"] / rs_m["op_median_s"]
    pairs = [w["op_s"] / r["op_s"] for w, r in zip(by["warm_start"], by["restore"], strict=True)]
    summary["time_ratio_per_repeat"] = pairs
    table_mib = meta["variable_bytes"] / MIB
    summary["table_mib"] = table_mib
    if scenario == "a":
        summary["peak_ratio_to_table"] = ws_m["peak_extra_maxrss_median_mib"] / table_mib
        summary["targets"] = {
            "time_ratio<=1.2": summary["time_ratio"] <= 1.2,
            "peak_extra<=1.2x_table": summary["peak_ratio_to_table"] <= 1.2,
        }
    elif scenario == "b":
        summary["targets"] = {"time_ratio<=1.5": summary["time_ratio"] <= 1.5}
    else:  # many variables (c: shifted auto-names, d: exact names): issue 9's targets
        summary["report_text_ratio"] = ws_m["report_text_median_s"] / ws_m["op_median_s"]
        summary["targets"] = {"time_ratio<=1.0": summary["time_ratio"] <= 1.0,
                              "str(report)<=0.1x_warm_start": summary["report_text_ratio"] <= 0.1}
    return summary


def _print_summary(s: dict) -> None:
    meta = s["checkpoint"]
    desc = (
        f"Scenario ({s['scenario']}): {meta['n_variables']} variable(s), "
        f"{meta['variable_bytes'] / MIB:.1f} MiB of float32, data file {meta['data_bytes'] / MIB:.1f} MiB"
    )
    print("\n" + desc)
    print("-" * len(desc))
    hdr = f"{'method':<22}{'op median s':>12}{'  runs (s)':<30}{'peak extra MiB':>15}{'RSS after MiB':>15}"
    print(hdr)
    for m in METHODS:
        d = s["methods"][m]
        runs = ", ".join(f"{x:.3f}" for x in d["op_s"])
        print(f"{m:<22}{d['op_median_s']:>12.3f}  {runs:<28}{d['peak_extra_maxrss_median_mib']:>15.0f}"
              f"{d['rss_after_op_extra_median_mib']:>15.0f}")  # fmt: skip
    for m in METHODS:
        d = s["methods"][m]
        print(f"  {m}: CPU user {d['user_median_s']:.2f} s, sys {d['sys_median_s']:.2f} s, "
              f"{d['minor_faults_median']:.0f} minor page faults (medians)")
        read1, read1_mib = d["dense_read_after_median_s"], d["dense_read_after_peak_extra_median_mib"]
        print(f"  {'':{len(m)}}  then a dense read of every variable: {read1:.3f} s, +{read1_mib:.0f} MiB; "
              f"again {d['dense_read_again_median_s']:.3f} s")
    fl = ", ".join(f"{x:.3f}" for x in s["floor_read_s"])
    print(f"{'read data file (floor)':<22}{s['floor_read_median_s']:>12.3f}  {fl:<28}")
    pr = ", ".join(f"{x:.2f}" for x in s["time_ratio_per_repeat"])
    print(f"time ratio warm_start/restore (medians): {s['time_ratio']:.2f}   per repeat: {pr}")
    if "report_text_ratio" in s:
        text_s = s["methods"]["warm_start"]["report_text_median_s"]
        print(f"str(report): {text_s:.3f} s = {s['report_text_ratio']:.3f} x the warm start")
    if "peak_ratio_to_table" in s:
        print(f"warm_start peak extra / table size: {s['peak_ratio_to_table']:.2f}")
    for name, ok in s["targets"].items():
        print(f"target {name}: {'MET' if ok else 'MISSED'}")
    load = max(d["loadavg_1min_max"] for d in s["methods"].values())
    busy = max(d["cpu_busy_before_max"] for d in s["methods"].values())
    cpus = os.cpu_count() or 1
    if busy > 0.15:
        print(f"note: before some op the CPUs were up to {busy:.0%} busy (1-min load up to {load:.2f} on "
              f"{cpus} CPU(s)): other processes were competing, timings are noisy; compare the per-repeat "
              f"ratios, or rerun with --wait-idle")
    if not all(d["peak_reset"] for d in s["methods"].values()):
        print("note: the peak-RSS counter could not be reset; peaks are relative to the pre-op "
              "high-water mark")


def _mem_total_gib() -> float:
    try:
        with open("/proc/meminfo") as f:
            return round(int(f.readline().split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        return -1.0


def _library_version() -> dict:
    """The warmstart source being measured: git commit of the repo and whether src/ is dirty."""
    repo = Path(__file__).resolve().parent.parent
    out: dict = {"repo": str(repo)}
    try:
        git = ["git", "-C", str(repo)]
        run = {"capture_output": True, "text": True, "check": True}
        out["commit"] = subprocess.run([*git, "rev-parse", "--short", "HEAD"], **run).stdout.strip()
        dirty = subprocess.run([*git, "status", "--porcelain", "--", "src"], **run).stdout.strip()
        out["src_dirty"] = bool(dirty)
    except (OSError, subprocess.CalledProcessError):
        out["commit"] = "unknown"
    return out


def _parent(args: argparse.Namespace) -> None:
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="ws-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    out: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": {"cpus": os.cpu_count(), "memory_gib": _mem_total_gib(), "platform": platform.platform(),
                    "python": platform.python_version()},  # fmt: skip
        "argv": sys.argv,
        "warmstart": _library_version(),
        "config": {k: getattr(args, k) for k in ("rows", "dim", "layers", "width", "repeats", "scenarios")},
        "scenarios": {},
    }
    lib = out["warmstart"]
    dirty = " (src/ modified)" if lib.get("src_dirty") else ""
    print(f"warmstart at commit {lib.get('commit')}{dirty}, {out['machine']['cpus']} CPU(s), {out['date']}")
    try:
        for scenario in args.scenarios:
            args.scenario_now = scenario
            sdir = root / f"scenario-{scenario}"
            if sdir.exists():
                shutil.rmtree(sdir)
            sdir.mkdir(parents=True)
            print(f"[{scenario}] writing checkpoint in {sdir} ...", file=sys.stderr, flush=True)
            meta = _spawn(args, "--worker", "write", "--dir", str(sdir))
            print(f"[{scenario}] written: {meta['data_bytes'] / MIB:.1f} MiB in {meta['write_s']:.2f} s",
                  file=sys.stderr, flush=True)  # fmt: skip
            floor = _read_floor(meta["data_files"], max(args.repeats, 3))
            runs = []
            for rep in range(args.repeats):
                order = METHODS if rep % 2 == 0 else METHODS[::-1]
                for method in order:
                    extra = ["--worker", "measure", "--method", method, "--dir", str(sdir),
                             "--prefix", meta["prefix"], "--rep", str(rep)]  # fmt: skip
                    if args.profile:
                        extra += ["--profile", args.profile]
                    busy = _wait_idle(args.wait_idle) if args.wait_idle > 0 else _cpu_busy()
                    r = _spawn(args, *extra)
                    r["cpu_busy_before_spawn"] = busy
                    runs.append(r)
                    print(f"[{scenario}] rep {rep} {method:<10} {r['op_s']:.3f} s, "
                          f"peak +{r['peak_extra_maxrss_mib']:.0f} MiB, "
                          f"cpu user {r['user_s']:.2f} s sys {r['sys_s']:.2f} s, {r['minor_faults']} faults "
                          f"(build {r['build_s']:.1f} s, baseline RSS {r['baseline_rss_mib']:.0f} MiB, "
                          f"machine {busy:.0%} busy before)",
                          file=sys.stderr, flush=True)  # fmt: skip
            files = sorted({r["warmstart_file"] for r in runs})
            out["warmstart"]["measured_files"] = files
            inside = all(Path(f).resolve().is_relative_to(Path(lib["repo"]) / "src") for f in files)
            if not inside:
                print(f"note: warmstart imported from {', '.join(files)} (not this repo's src/; the commit "
                      f"above does not describe it)")
            s = _summarise(scenario, meta, runs, floor, args)
            s["runs"] = runs
            out["scenarios"][scenario] = s
            _print_summary(s)
    finally:
        if not args.keep and not args.dir:
            shutil.rmtree(root, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
        print(f"\nfigures written to {args.json}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)  # fmt: skip
    p.add_argument("--scenarios", nargs="+", choices=("a", "b", "c", "d"), default=["a", "b", "c", "d"],
                   help="a: one large Embedding table; b: many small Dense variables")
    p.add_argument("--rows", type=int, default=4_000_000, help="scenario a: embedding rows")
    p.add_argument("--dim", type=int, default=64, help="scenario a: embedding width")
    p.add_argument("--layers", type=int, default=1_000, help="scenario b: Dense layers (2 variables each)")
    p.add_argument("--width", type=int, default=16, help="scenarios b-d: Dense width (kernel width x width)")
    p.add_argument("--auto-layers", type=int, default=2_500,
                   help="scenario c: auto-named Dense layers whose counters shift on day 2 (2 variables each)")
    p.add_argument("--named-layers", type=int, default=5_000,
                   help="scenario d: Dense layers with exact names (2 variables each)")
    p.add_argument("--repeats", type=int, default=3, help="fresh-process repetitions per method")
    p.add_argument("--dir", default=None, help="where to write checkpoints (default: a temp dir, removed)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir")
    p.add_argument("--json", default=None, metavar="OUT", help="write all figures to this JSON file")
    p.add_argument("--wait-idle", type=float, default=0.0, metavar="S",
                   help="before each worker, wait up to S seconds for the CPUs to be <15%% busy")
    p.add_argument("--profile", default=None, metavar="DIR",
                   help="cProfile each timed op into DIR (adds overhead to the timings)")
    # worker mode (internal)
    p.add_argument("--worker", choices=("write", "measure"), help=argparse.SUPPRESS)
    p.add_argument("--scenario", choices=("a", "b", "c", "d"), help=argparse.SUPPRESS)
    p.add_argument("--method", choices=METHODS, help=argparse.SUPPRESS)
    p.add_argument("--prefix", help=argparse.SUPPRESS)
    p.add_argument("--rep", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        _worker(args)
    else:
        _parent(args)


if __name__ == "__main__":
    main()
