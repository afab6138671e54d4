"""All or nothing under faults (issue 14): every fault injected at every phase of a warm start,
held and streamed, with and without an optimizer. After each run the model and the optimizer
are either bit-identical to before (the run raised) or hold exactly one checkpoint's values
(the fault could not reach the snapshot: the files were renamed, deleted or rewritten by
rename after they were opened).

Faults are real: files are replaced with ``os.replace``, overwritten in place, truncated,
rewritten by ``tf.train.Checkpoint.write``, rotated away by a ``CheckpointManager``; the
``progress`` callback raises, raises ``KeyboardInterrupt``, or has a thread send a real SIGINT.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading

import keras
import numpy as np
import pytest
import tensorflow as tf

import warmstart as ws
from warmstart.sources import bundle

ROWS, WIDTH = 20_000, 16  # 1.25 MiB a table: streamed (with its Adam slots) under BUDGET
BUDGET = 512 << 10


@pytest.fixture(autouse=True)
def small_memory_tier(monkeypatch):
    """Undo records beyond the first 64 KiB go to the undo file, so the faults here meet both
    the records kept in memory and those in the file (the tables are a few MiB)."""
    from warmstart.apply import spill

    monkeypatch.setattr(spill, "MEMORY_TIER", 64 << 10)


def build(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    ids = keras.Input((2,), dtype="int32")
    a = keras.layers.Embedding(ROWS, WIDTH, name="emb")(ids[:, :1])
    b = keras.layers.Embedding(ROWS, WIDTH, name="emb2")(ids[:, 1:])
    x = keras.layers.Flatten()(keras.layers.Concatenate()([a, b]))
    return keras.Model(ids, keras.layers.Dense(4, name="head")(x))


def trained(seed: int) -> tuple[keras.Model, keras.optimizers.Optimizer]:
    model = build(seed)
    opt = keras.optimizers.Adam(learning_rate=0.1)
    model.compile(optimizer=opt, loss="mse")
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, ROWS, size=(4096, 2))  # touches most rows: slots are not zeros
    model.fit(ids, rng.normal(size=(4096, 4)), batch_size=1024, epochs=1, verbose=0)
    return model, opt


class Target:
    """A fresh model and a built Adam, reset to their initial values before each run."""

    def __init__(self, optimizer: bool) -> None:
        self.model = build(7)
        self.optimizer = keras.optimizers.Adam() if optimizer else None
        if self.optimizer is not None:
            self.optimizer.build(self.model.trainable_variables)
        self.initial = self.values()

    @property
    def variables(self) -> list:
        return list(self.model.weights) + (list(self.optimizer.variables) if self.optimizer else [])

    def values(self) -> list[np.ndarray]:
        return [np.array(v.numpy()) for v in self.variables]

    def reset(self) -> None:
        for v, x in zip(self.variables, self.initial, strict=True):
            v.assign(x)

    def warm_start(self, prefix: str, **options) -> ws.Report:
        return ws.warm_start(self.model, prefix, optimizer=self.optimizer, **options)


def assert_values(target: Target, expected: list[np.ndarray]) -> None:
    for v, got, want in zip(target.variables, target.values(), expected, strict=True):
        np.testing.assert_array_equal(got, want, err_msg=v.path)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Checkpoints A and B (model and optimizer), targets, and what A and B load as."""
    root = tmp_path_factory.mktemp("tx")
    a_model, a_opt = trained(1)
    b_model, b_opt = trained(2)
    a = tf.train.Checkpoint(model=a_model, optimizer=a_opt).write(str(root / "a" / "ckpt"))
    b = tf.train.Checkpoint(model=b_model, optimizer=b_opt).write(str(root / "b" / "ckpt"))
    targets = {opt: Target(opt) for opt in (False, True)}
    loads, calls = {}, {}
    for opt, t in targets.items():
        for name, prefix in (("a", a), ("b", b)):
            t.reset()
            t.warm_start(prefix)
            loads[opt, name] = t.values()
        for budget in (BUDGET, None):  # how many progress calls each configuration makes
            seen: list = []
            t.reset()
            t.warm_start(a, memory_budget=budget, progress=lambda d, n, seen=seen: seen.append(d))
            calls[opt, budget] = len(seen)
        t.reset()
    assert not np.array_equal(loads[True, "a"][0], loads[True, "b"][0])
    return {"a": a, "b": b, "a_objects": (a_model, a_opt), "b_objects": (b_model, b_opt), "targets": targets, "loads": loads, "calls": calls}


def run_dir(world, tmp_path) -> str:
    """A CheckpointManager directory holding A as ckpt-1, as a training job leaves it; its prefix."""
    a_model, a_opt = world["a_objects"]
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=a_model, optimizer=a_opt),
                                         str(tmp_path / "run"), max_to_keep=1, checkpoint_name="ckpt")
    return manager.save(checkpoint_number=1)


def streamed_tensors(prefix: str, min_bytes: int = 1 << 20) -> list[bundle.BundleEntry]:
    return [e for e in bundle.read_index(prefix).entries.values() if e.size > min_bytes]


# ----------------------------------------------------------------------------- the faults

def replace_data(world, prefix):
    """Another checkpoint's data file moved over ours (os.replace)."""
    spare = prefix + ".spare"
    shutil.copy(world["b"] + ".data-00000-of-00001", spare)
    os.replace(spare, prefix + ".data-00000-of-00001")


def rewrite(world, prefix):
    """A restarted job saves to the same prefix (tf.train.Checkpoint.write)."""
    b_model, b_opt = world["b_objects"]
    tf.train.Checkpoint(model=b_model, optimizer=b_opt).write(prefix)


def rotate(world, prefix):
    """Another job's CheckpointManager(max_to_keep=1) saves ckpt-2 and deletes ckpt-1."""
    b_model, b_opt = world["b_objects"]
    ckpt = tf.train.Checkpoint(model=b_model, optimizer=b_opt)
    manager = tf.train.CheckpointManager(ckpt, os.path.dirname(prefix), max_to_keep=1, checkpoint_name="ckpt")
    manager.save(checkpoint_number=2)
    assert not os.path.exists(prefix + ".index")


def overwrite(world, prefix):
    """4 bytes overwritten in place near the end of every large tensor (the rows read last)."""
    with open(prefix + ".data-00000-of-00001", "r+b") as f:
        for e in streamed_tensors(prefix):
            f.seek(e.offset + e.size - 40)
            old = f.read(4)
            f.seek(e.offset + e.size - 40)
            f.write(bytes(b ^ 0xFF for b in old))


def truncate(world, prefix):
    """The data file cut short in the first large tensor."""
    first = min(streamed_tensors(prefix), key=lambda e: e.offset)
    os.truncate(prefix + ".data-00000-of-00001", first.offset + 100)


def raise_error(world, prefix):
    raise ValueError("the callback fails")


def keyboard_interrupt(world, prefix):
    raise KeyboardInterrupt


def sigint(world, prefix):
    """A real SIGINT, sent by another thread; Python raises it in the main thread."""
    sender = threading.Thread(target=os.kill, args=(os.getpid(), signal.SIGINT))
    sender.start()
    sender.join()


SNAPSHOT_SAFE = {replace_data, rewrite, rotate}  # new files or new names: the snapshot holds
IN_PLACE = {overwrite, truncate}  # the same file changed: caught by the checksums
RAISING = {raise_error: ws.AbortedError, keyboard_interrupt: KeyboardInterrupt, sigint: KeyboardInterrupt}
FAULTS = [replace_data, rewrite, rotate, overwrite, truncate, raise_error, keyboard_interrupt, sigint]

# When the fault strikes, by progress call (streamed: first the verify pass, one call a
# large tensor, then one a written chunk). Held runs call back only while writing.
STREAMED_PHASES = ["verifying", "between passes", "mid-write", "before the last chunk", "after the last write"]
HELD_PHASES = ["mid-write", "after the last write"]


def fault_call(phase: str, calls: int, verify_calls: int) -> int:
    return {
        "verifying": 1,
        "between passes": verify_calls,
        "mid-write": verify_calls + (calls - verify_calls) // 2,
        "before the last chunk": calls - 3,  # the reader is one chunk ahead of the writes
        "after the last write": calls,
    }[phase]


def check(world, tmp_path, fault, phase, optimizer, budget):
    target = world["targets"][optimizer]
    target.reset()
    prefix = run_dir(world, tmp_path)
    verify_calls = len(streamed_tensors(prefix)) - (0 if optimizer else 4) if budget else 0
    at = fault_call(phase, world["calls"][optimizer, budget], verify_calls)
    seen: list[int] = []

    def progress(done, total):
        seen.append(done)
        if len(seen) == at:
            fault(world, prefix)

    fails = fault in RAISING or (fault in IN_PLACE and phase != "after the last write" and budget)
    if not fails:
        target.warm_start(prefix, memory_budget=budget, progress=progress)
        assert len(seen) >= at  # the fault did strike
        assert_values(target, world["loads"][optimizer, "a"])
        return
    error = RAISING.get(fault, ws.CheckpointReadError)
    with pytest.raises(error) as info:
        target.warm_start(prefix, memory_budget=budget, progress=progress)
    assert_values(target, target.initial)
    if fault is raise_error:
        assert isinstance(info.value.__cause__, ValueError)
    if error is KeyboardInterrupt and phase not in ("verifying", "between passes"):  # after writes
        assert any("undone" in n for n in getattr(info.value, "__notes__", ()))


@pytest.mark.parametrize("phase", STREAMED_PHASES)
@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.__name__)
def test_streamed_with_optimizer(world, tmp_path, fault, phase):
    check(world, tmp_path, fault, phase, optimizer=True, budget=BUDGET)


@pytest.mark.parametrize("phase", STREAMED_PHASES)
@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.__name__)
def test_streamed_without_optimizer(world, tmp_path, fault, phase):
    check(world, tmp_path, fault, phase, optimizer=False, budget=BUDGET)


@pytest.mark.parametrize("optimizer", [True, False], ids=["optimizer", "no-optimizer"])
@pytest.mark.parametrize("phase", HELD_PHASES)
@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.__name__)
def test_held(world, tmp_path, fault, phase, optimizer):
    check(world, tmp_path, fault, phase, optimizer=optimizer, budget=None)


# ----------------------------------------------------------------------------- beyond the matrix


def test_a_failed_call_leaves_an_unbuilt_optimizer_unbuilt(world, tmp_path):
    model = build(7)
    before = [np.array(v.numpy()) for v in model.weights]
    opt = keras.optimizers.Adam()
    own = [v.path for v in opt.variables]  # the iteration counter and learning rate
    seen: list[int] = []

    def progress(done, total):
        seen.append(done)
        if len(seen) == 20:  # well into the writes, slots included
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ws.warm_start(model, run_dir(world, tmp_path), optimizer=opt, memory_budget=BUDGET, progress=progress)
    assert not opt.built and [v.path for v in opt.variables] == own and int(opt.iterations) == 0
    for v, x in zip(model.weights, before, strict=True):
        np.testing.assert_array_equal(v.numpy(), x)


def test_a_failed_rollback_says_which_variable_is_in_which_state(world, tmp_path, monkeypatch):
    from warmstart.apply import undo

    target = world["targets"][True]
    target.reset()
    restore = undo.Journal._restore
    restored: list[str] = []

    def failing_restore(self, record):
        if len(restored) == 3:  # the fourth restore fails
            raise OSError("the disk went away")
        restore(self, record)
        restored.append(record.name)

    monkeypatch.setattr(undo.Journal, "_restore", failing_restore)
    seen: list[int] = []

    def progress(done, total):
        seen.append(done)
        if len(seen) == world["calls"][True, BUDGET] - 3:
            raise ValueError("stop")

    with pytest.raises(ws.RollbackError) as info:
        target.warm_start(run_dir(world, tmp_path), memory_budget=BUDGET, progress=progress)
    message = str(info.value)
    assert "OSError: the disk went away" in message and isinstance(info.value.__cause__, OSError)
    assert "NOT restored, holding what this warm start wrote" in message
    assert "emb/embeddings" in message and "Fix:" in message


@pytest.mark.slow
def test_a_sigint_at_any_moment_leaves_all_or_nothing(world, tmp_path):
    """Real SIGINTs sent by a thread after a delay, landing wherever the warm start is."""
    target = world["targets"][True]
    prefix = run_dir(world, tmp_path)
    outcomes = set()
    for delay in np.linspace(0.0, 0.4, 12):
        target.reset()
        timer = threading.Timer(float(delay), os.kill, args=(os.getpid(), signal.SIGINT))
        try:
            timer.start()
            try:
                target.warm_start(prefix, memory_budget=BUDGET)
                outcome = "loaded"
            finally:
                timer.join()  # the signal is delivered by now, or in the next line
                os.sched_yield()
        except KeyboardInterrupt:
            outcome = "interrupted"
        else:
            try:  # a signal after the call returned lands here
                for _ in range(1000):
                    os.sched_yield()
            except KeyboardInterrupt:
                pass
        if outcome == "interrupted" and not np.array_equal(target.values()[0], target.initial[0]):
            outcome = "loaded"  # interrupted after the call had finished writing
        expected = world["loads"][True, "a"] if outcome == "loaded" else target.initial
        assert_values(target, expected)
        outcomes.add(outcome)
    assert "interrupted" in outcomes


def test_two_threads_into_one_model_do_not_mix(world, tmp_path):
    target = world["targets"][True]
    target.reset()
    started = threading.Event()
    errors: list[BaseException] = []

    def slow_progress(done, total):
        started.set()

    def run(prefix, progress=None):
        try:
            target.warm_start(prefix, memory_budget=BUDGET, progress=progress)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    first = threading.Thread(target=run, args=(world["a"], slow_progress))
    first.start()
    started.wait(30)
    second = threading.Thread(target=run, args=(world["b"],))
    second.start()
    first.join(60)
    second.join(60)
    assert not errors
    assert_values(target, world["loads"][True, "b"])  # the second ran after the first, whole


def test_a_warm_start_from_its_own_callback_is_refused(world, tmp_path):
    target = world["targets"][False]
    target.reset()
    inner: list[BaseException] = []

    def progress(done, total):
        if not inner:
            with pytest.raises(ws.BusyError, match="already running in this thread") as info:
                target.warm_start(world["b"])
            inner.append(info.value)

    target.warm_start(world["a"], progress=progress)
    assert inner
    assert_values(target, world["loads"][False, "a"])


def test_garbage_collection_is_paused_only_when_no_other_thread_runs(world):
    import gc

    target = world["targets"][False]
    seen = []
    target.warm_start(world["a"], progress=lambda done, total: seen.append(gc.isenabled()))
    assert seen and not any(seen)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        seen.clear()
        target.warm_start(world["a"], progress=lambda done, total: seen.append(gc.isenabled()))
        assert seen and all(seen)
    finally:
        stop.set()
        other.join()
    assert gc.isenabled()


def test_a_manager_directory_with_a_non_ascii_name(world, tmp_path):
    a_model, a_opt = world["a_objects"]
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=a_model, optimizer=a_opt),
                                         str(tmp_path / "run"), max_to_keep=1, checkpoint_name="modèle")
    manager.save()
    assert ws.locate(tmp_path / "run").path == str(tmp_path / "run" / "modèle-1")
    target = world["targets"][True]
    target.reset()
    target.warm_start(str(tmp_path / "run"))
    assert_values(target, world["loads"][True, "a"])
    (tmp_path / "run" / "checkpoint").write_text(  # the escaped form protobuf can also write
        'model_checkpoint_path: "mod\\303\\250le-1"\n', encoding="utf-8")
    assert ws.locate(tmp_path / "run").path == str(tmp_path / "run" / "modèle-1")


WRITER = r"""
import os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf
prefix, rows, width = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
emb = tf.Variable(np.zeros((rows, width), "float32"))
small = tf.Variable(np.zeros(3, "float32"))
deadline = time.monotonic() + 120
n = 0
while time.monotonic() < deadline:
    n += 1  # version n: every value of every tensor is n
    emb.assign(tf.fill([rows, width], float(n)))
    small.assign(tf.fill([3], float(n)))
    tf.train.Checkpoint(emb=emb, small=small).write(prefix)
    if n == 1:
        print("ready", flush=True)
"""


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_writer_rewriting_the_prefix_never_gives_mixed_rows(tmp_path):
    import subprocess
    import sys

    prefix = str(tmp_path / "ckpt")
    writer = subprocess.Popen([sys.executable, "-c", WRITER, prefix, str(ROWS), str(WIDTH)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        target = {"emb": tf.Variable(np.full((ROWS, WIDTH), -1.0, "float32")),
                  "small": tf.Variable(np.full(3, -1.0, "float32"))}
        loaded, failed = [], []
        for run in range(40):
            before = {k: v.numpy() for k, v in target.items()}
            try:
                ws.warm_start(target, prefix, memory_budget=BUDGET if run % 2 else None)
            except ws.WarmStartError as e:
                failed.append(type(e).__name__)
                for k, v in target.items():
                    np.testing.assert_array_equal(v.numpy(), before[k], err_msg=f"run {run}: {k} half-written")
                continue
            versions = {float(x) for v in target.values() for x in np.unique(v.numpy())}
            assert len(versions) == 1, f"run {run}: mixed rows of versions {sorted(versions)}"
            loaded.append(versions.pop())
        assert writer.poll() is None  # the writer kept writing throughout
    finally:
        writer.kill()
        writer.wait(timeout=30)
    assert len(loaded) >= 10, (loaded, failed)
    assert set(failed) <= {"CheckpointReadError", "CheckpointNotFoundError"}
    print(f"{len(loaded)} loaded (versions {min(loaded):.0f}..{max(loaded):.0f}), {len(failed)} refused: "
          f"{sorted(set(failed))}")
