"""``warmstart demo``: the library's promise, end to end, in a few seconds on a laptop.

A small ranking-style model (an item embedding, a dense tower, a head) is trained on
synthetic data and checkpointed with ``tf.train.CheckpointManager``, optimizer included.
Then the model changes the way real ones do: the first tower layer grows, a new input
branch appears, the head is renamed. ``tf.train.Checkpoint.restore`` cannot load that
checkpoint into the new model; ``warmstart`` loads everything that still fits, says what
it did not load, and the held-out loss shows that what it carried is the learning.

Only the public API of :mod:`warmstart` is used, so this file doubles as an example.
``changed_model`` is also a factory for ``warmstart plan --model``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import warmstart as ws
from warmstart.report import render

__all__ = ["changed_model", "old_model", "run_demo"]

N_ITEMS, EMBED, N_DENSE, N_HOUR = 200, 8, 8, 4
BATCH, N_TRAIN, N_TEST = 64, 4096, 1024

# The rules a user would write for this change; the CLI hint at the end spells them too.
RENAME = [(r"score/(.*)", r"head/\1")]
ON_MISMATCH = {r"tower_.*": "overlap"}
EXPECT_MISSING = [r"hour_proj/.*"]

Inputs = list[np.ndarray]


def _tower(item_id: Any, dense: Any, extra: Sequence[Any], width0: int) -> Any:
    emb = keras.layers.Embedding(N_ITEMS, EMBED, name="item_emb")(item_id)
    # New branches go last, so the old inputs keep their rows in tower_0's kernel and
    # the overlap copy lines them up.
    x = keras.layers.Concatenate(name="features")([keras.layers.Flatten(name="flat")(emb), dense, *extra])
    x = keras.layers.Dense(width0, activation="relu", name="tower_0")(x)
    return keras.layers.Dense(16, activation="relu", name="tower_1")(x)


def old_model() -> keras.Model:
    """The model of the first run: item embedding + dense features -> 32 -> 16 -> head."""
    item_id = keras.Input((1,), dtype="int32", name="item_id")
    dense = keras.Input((N_DENSE,), name="dense")
    out = keras.layers.Dense(1, name="head")(_tower(item_id, dense, (), 32))
    return keras.Model([item_id, dense], out, name="ranker")


def changed_model() -> keras.Model:
    """The next run's model: tower_0 is wider (48), a new ``hour`` input gets its own
    layer (``hour_proj``), and the head is called ``score``. Built, so it can be a
    ``warmstart plan --model warmstart.cli.demo:changed_model`` factory."""
    item_id = keras.Input((1,), dtype="int32", name="item_id")
    dense = keras.Input((N_DENSE,), name="dense")
    hour = keras.Input((N_HOUR,), name="hour")
    proj = keras.layers.Dense(4, activation="relu", name="hour_proj")(hour)
    out = keras.layers.Dense(1, name="score")(_tower(item_id, dense, (proj,), 48))
    return keras.Model([item_id, dense, hour], out, name="ranker_v2")


def make_data(seed: int) -> tuple[Inputs, np.ndarray, Inputs, np.ndarray]:
    """Synthetic clicks-like targets: a per-item effect plus a nonlinear function of the
    dense features, a little signal in the new ``hour`` input, and noise; unit variance."""
    rng = np.random.default_rng(seed)
    n = N_TRAIN + N_TEST
    item_effect = rng.normal(size=N_ITEMS)
    w1, w2 = rng.normal(size=(2, N_DENSE)) / np.sqrt(N_DENSE)
    ids = rng.integers(0, N_ITEMS, size=(n, 1)).astype("int32")
    dense = rng.normal(size=(n, N_DENSE)).astype("float32")
    hour = rng.normal(size=(n, N_HOUR)).astype("float32")
    y = item_effect[ids[:, 0]] + np.sin(2 * dense @ w1) + 0.5 * (dense @ w2) ** 2
    y = y + 0.2 * hour[:, 0] + 0.1 * rng.normal(size=n)
    y = ((y - y.mean()) / y.std()).astype("float32")[:, None]
    xs = [ids, dense, hour]
    return [x[:N_TRAIN] for x in xs], y[:N_TRAIN], [x[N_TRAIN:] for x in xs], y[N_TRAIN:]


def mse(model: keras.Model, xs: Inputs, y: np.ndarray) -> float:
    return float(np.mean((np.asarray(model(xs, training=False)) - y) ** 2))


def train(model: keras.Model, xs: Inputs, y: np.ndarray, *, steps: int, seed: int, progress: Progress) -> None:
    """Plain minibatch steps with Adam, so the checkpoint holds real optimizer slots."""
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
    rng = np.random.default_rng(seed)
    task = progress.add_task("training the first model", total=steps, loss=float("nan"))
    for _ in range(steps):
        idx = rng.integers(0, len(y), size=BATCH)
        loss = model.train_on_batch([x[idx] for x in xs], y[idx])
        progress.update(task, advance=1, loss=float(np.asarray(loss)))


def _old_inputs(xs: Inputs) -> Inputs:
    return xs[:2]  # the first model has no hour input


def save_checkpoint(model: keras.Model, directory: Path) -> str:
    """What a training job does: model and optimizer, through a CheckpointManager."""
    shutil.rmtree(directory, ignore_errors=True)  # ours; a rerun must not pick an old one
    checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
    return tf.train.CheckpointManager(checkpoint, str(directory), max_to_keep=1).save()


def run_demo(out_dir: str | Path, *, seed: int = 0, quiet: bool = False, console: Console | None = None,
             steps: int = 300) -> dict[str, Any]:
    """Train, checkpoint, change, warm-start, compare. Returns the numbers it prints.

    ``out_dir`` receives ``checkpoints/``, ``report.json`` (``Report.to_dict()``) and
    ``demo.json`` (the returned numbers).
    """
    console = console or Console()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    say = _sayer(console, quiet)
    keras.utils.set_random_seed(seed)
    x_train, y_train, x_test, y_test = make_data(seed)

    say(f"1. Train the first model: item embedding + dense features -> tower_0 (32) -> tower_1 (16)"
        f" -> head,\n   {steps} Adam steps on {N_TRAIN} synthetic examples")
    first = old_model()
    with _progress(console, quiet) as progress:
        train(first, _old_inputs(x_train), y_train, steps=steps, seed=seed, progress=progress)
    old_loss = mse(first, _old_inputs(x_test), y_test)
    prefix = save_checkpoint(first, out / "checkpoints")
    say(f"   held-out MSE {old_loss:.4f}; checkpoint (model and optimizer): {prefix}")

    say("2. Change it: tower_0 32 -> 48 units, a new 'hour' input with its own layer (hour_proj),\n"
        "   the head renamed to 'score'. (tf.train.Checkpoint.restore raises here: it pairs by position.)")
    keras.utils.set_random_seed(seed + 1)
    model = changed_model()
    fresh_loss = mse(model, x_test, y_test)

    say(f"3. Warm-start it: ws.warm_start(model, {str(out / 'checkpoints')!r},\n{_rules_text()}")
    report = ws.warm_start(model, out / "checkpoints", rename=RENAME, on_mismatch=ON_MISMATCH,
                           expect_missing=EXPECT_MISSING, strict=True)
    if not quiet:
        render(report, console)
    warm_loss = mse(model, x_test, y_test)

    result = _result(out, seed=seed, steps=steps, report=report, checkpoint=prefix,
                     old_loss=old_loss, fresh_loss=fresh_loss, warm_loss=warm_loss)
    (out / "report.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    (out / "demo.json").write_text(json.dumps(result, indent=2) + "\n")
    _summary(console, result, quiet=quiet)
    return result


def _result(out: Path, *, seed: int, steps: int, report: ws.Report, checkpoint: str,
            old_loss: float, fresh_loss: float, warm_loss: float) -> dict[str, Any]:
    return {
        "seed": seed,
        "train_steps": steps,
        "old_model_loss": old_loss,
        "fresh_loss": fresh_loss,
        "warm_started_loss": warm_loss,
        "loaded": len(report.loaded),
        "skipped": len(report.skipped),
        "missing": list(report.missing),
        "checkpoint": checkpoint,
        "report": str(out / "report.json"),
        "out_dir": str(out),
    }


def _summary(console: Console, r: dict[str, Any], *, quiet: bool) -> None:
    """The numbers that matter, printed even with --quiet."""
    def p(text: str) -> None:
        console.print(text, markup=False, highlight=False)

    p("")
    p("Held-out MSE of the changed model, before any training of it:")
    p(f"  fresh (random init):  {r['fresh_loss']:.4f}")
    p(f"  warm-started:         {r['warm_started_loss']:.4f}   "
      f"({r['fresh_loss'] / max(r['warm_started_loss'], 1e-12):.1f}x lower; the first model had "
      f"{r['old_model_loss']:.4f})")
    p(f"Loaded {r['loaded']} variable(s), skipped {r['skipped']}, new {len(r['missing'])} "
      f"({', '.join(r['missing']) or 'none'}).")
    p(f"Wrote the report JSON and the numbers to {r['out_dir']} (report.json, demo.json).")
    if not quiet:
        ckpt = str(Path(r["out_dir"]) / "checkpoints")
        p(f"Next: warmstart inspect {ckpt}")
        p(f"      warmstart plan {ckpt} --model warmstart.cli.demo:changed_model "
          f"--rename 'score/(.*)=head/\\1' --on-mismatch-for 'tower_.*=overlap'")


def _rules_text() -> str:
    """The rules as the Python a user would type (raw strings: no doubled backslashes)."""
    rename = ", ".join(f'(r"{p}", r"{t}")' for p, t in RENAME)
    mismatch = ", ".join(f'r"{p}": "{v}"' for p, v in ON_MISMATCH.items())
    missing = ", ".join(f'r"{p}"' for p in EXPECT_MISSING)
    indent = " " * 6
    return (f"{indent}rename=[{rename}],\n{indent}on_mismatch={{{mismatch}}},\n"
            f"{indent}expect_missing=[{missing}], strict=True)")


def _sayer(console: Console, quiet: bool) -> Callable[[str], None]:
    def say(text: str) -> None:
        if not quiet:
            console.print(text, markup=False, highlight=False)
    return say


def _progress(console: Console, quiet: bool) -> Progress:
    """Bars on a terminal only: a file or a pipe would get one frame per refresh."""
    return Progress(
        TextColumn("   {task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"), TimeElapsedColumn(),
        console=console, disable=quiet or not console.is_terminal, transient=False,
    )
