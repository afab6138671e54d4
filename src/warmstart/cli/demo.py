"""``warmstart demo``: an evolving recommender retrained, and the evidence that a warm start pays.

The story of the people this tool is for, end to end:

1. Day 1: a Keras ranking model (:mod:`.demo_model`) trained with Adam on a run of logs and
   checkpointed by ``tf.train.CheckpointManager``, model and optimizer, as a training job does.
2. Day 2: new logs (new items, gone items, the item vocabulary re-sorted and written to
   files by the pipeline, :mod:`.demo_features`), and a changed model.
3. ``ws.warm_start`` with the rules for that change: a vocabulary remap of the item table
   (its Adam slots follow), overlap for the wider layer, a rename for the head, the new
   embedding expected missing under ``strict=True``. The report.
4. Day-2 training three ways on the same data, order and seed: from scratch, warm-started
   weights only, warm-started weights and optimizer state; held-out log loss and AUC.
5. A summary: what was carried and what not, and the time against
   ``tf.train.Checkpoint.restore``.

Only the public API of :mod:`warmstart` is used: this is also its fullest example.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

import warmstart as ws
from warmstart.report import render

from . import demo_text
from .demo_data import Interactions, World, generate, holdout_latest, read_movielens, split_by_time
from .demo_features import Pipeline, Vocabulary, frequency_order
from .demo_model import (EXPECT_MISSING, ITEM_TABLE, ON_MISMATCH, RENAME, compile_model, day1_shape, day2_shape,
                         ranker, zero_new_inputs)
from .demo_plot import plot
from .demo_results import Comparison
from .demo_timing import time_both, try_restore
from .demo_train import Curve, evaluate, train

__all__ = ["DemoConfig", "run_demo"]

HELD_OUT = 0.1  # the latest tenth of each run's logs is held out
DAY1_SHARE = 0.5  # a real log (--data) is split in time: day 1 is its first half


@dataclass(frozen=True)
class DemoConfig:
    """Sizes and settings; the defaults finish in about a minute on 2 CPU cores."""

    seed: int = 0
    users: int = 2000
    items: int = 2000
    interactions: int = 1_200_000  # per run, generated
    data: Path | None = None  # a MovieLens ratings.csv instead of generated logs
    day1_steps: int | None = None  # None: one pass over day 1's training logs
    steps: int = 3000  # day-2 steps of each of the three runs
    every: int = 100  # evaluate every this many day-2 steps
    batch: int = 256
    learning_rate: float = 2e-3
    eval_rows: int = 50_000  # held-out rows evaluated (a seeded sample of the latest logs)
    window: int = 200  # early steps compared with and without the optimizer state


def run_demo(out_dir: str | Path, config: DemoConfig = DemoConfig(), *, console: Console | None = None,
             quiet: bool = False) -> dict[str, Any]:
    """Run the story; write ``report.json``, ``curves.json`` and ``curves.png`` into
    ``out_dir`` (also ``checkpoints/`` and ``vocab/``). Returns what ``curves.json`` holds."""
    console = console or Console()
    say = _sayer(console, quiet)
    rng = np.random.default_rng(config.seed)
    started = time.perf_counter()

    say(f"warmstart demo: a recommender retrained on new logs, warm-started vs from scratch (seed {config.seed})\n")
    day1_logs, day2_logs, source = _logs(config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    day1_train, day1_held = _split(day1_logs, config, rng)
    day2_train, day2_held = _split(day2_logs, config, rng)
    users = Vocabulary.write(frequency_order(day1_train.user), out / "vocab" / "users.txt")
    pipe1 = Pipeline.fit(day1_train, users=users, item_vocab_path=out / "vocab" / "items_day1.txt", hour=False)
    pipe2 = Pipeline.fit(day2_train, users=users, item_vocab_path=out / "vocab" / "items_day2.txt", hour=True)

    # 1. Day 1: train and checkpoint, as the training job does.
    day1_steps = config.day1_steps or math.ceil(len(day1_train) / config.batch)
    say(f"1. Day 1. {source[0].upper()}{source[1:]}; {len(day1_logs):,} interactions, {_share(day1_logs)} liked.\n"
        f"   The ranker: user, item and weekday embeddings, item popularity, user.item -> tower_0 (64) -> tower_1 (32)"
        f" -> head (sigmoid).\n   Adam, {day1_steps:,} steps of {config.batch}"
        + (" (one pass over the training logs)." if config.day1_steps is None else "."))
    keras.utils.set_random_seed(config.seed)
    day1 = ranker(day1_shape(users.size, pipe1.items.size), name="ranker")
    compile_model(day1, learning_rate=config.learning_rate)
    with _bars(console, quiet) as bars:
        train(day1, pipe1.encode(day1_train), steps=day1_steps, batch=config.batch, seed=config.seed,
              on_step=_step_bar(bars, "day 1", day1_steps))
    day1_loss, day1_auc = evaluate(day1, pipe1.encode(day1_held))
    checkpoints = out / "checkpoints"
    shutil.rmtree(checkpoints, ignore_errors=True)  # ours; a rerun must not pick up an old one
    prefix = tf.train.CheckpointManager(tf.train.Checkpoint(model=day1, optimizer=day1.optimizer),
                                        str(checkpoints), max_to_keep=3).save()
    say(f"   Held-out (latest {HELD_OUT:.0%} of day 1): log loss {day1_loss:.4f}, AUC {day1_auc:.4f}.\n"
        f"   Checkpoint (model and optimizer, tf.train.CheckpointManager): {prefix}\n")

    # 2. Day 2: the logs and the model changed.
    old, new = set(pipe1.items.tokens), set(pipe2.items.tokens)
    moved = sum(1 for i, t in enumerate(pipe1.items.tokens) if t in new and pipe2.items.tokens[i:i + 1] != (t,))
    say(f"2. Day 2. New logs: {len(day2_logs):,} interactions. Items: {len(new):,} in the vocabulary, "
        f"{len(new - old):,} new ({len(new - old) / len(new):.0%}), {len(old - new):,} gone; {moved:,} of the "
        f"{len(old & new):,} kept moved (sorted by frequency).\n"
        f"   Vocabulary files: {pipe1.items.path}, {pipe2.items.path.name}\n"
        f"   The model changed: a new 'hour' feature with its own embedding (hour_emb), tower_0 64 -> 96 units, "
        f"the head renamed 'click'.")

    def day2_model() -> tuple[keras.Model, keras.optimizers.Optimizer]:
        keras.utils.set_random_seed(config.seed + 1)  # the three runs start from the same draws
        model = ranker(day2_shape(users.size, pipe2.items.size), name="ranker")
        return model, compile_model(model, learning_rate=config.learning_rate)

    def warm_start(model: keras.Model, optimizer: Any = None, progress: Any = None) -> ws.Report:
        return ws.warm_start(
            model, checkpoints,
            vocab={ITEM_TABLE: ws.Vocab(pipe1.items.path, pipe2.items.path, num_oov_buckets=1, old_num_oov_buckets=1)},
            on_mismatch=ON_MISMATCH, rename=RENAME, optimizer=optimizer,
            strict=True, expect_missing=EXPECT_MISSING, progress=progress,
        )

    model, optimizer = day2_model()
    optimizer.build(model.trainable_variables)
    attempt = try_restore(model, optimizer, prefix)
    say(f"   tf.train.Checkpoint.restore cannot load it: {attempt.error or 'no error (unexpected)'}"
        + (f"\n   (after overwriting {', '.join(attempt.overwritten)})" if attempt.overwritten else "") + "\n")

    # 3. Warm-start the day-2 model, optimizer included.
    say("3. Warm start:\n" + demo_text.call_text(
        str(checkpoints), str(pipe1.items.path), str(pipe2.items.path), rename=RENAME, on_mismatch=ON_MISMATCH,
        expect_missing=EXPECT_MISSING, table=ITEM_TABLE))
    warm, warm_optimizer = day2_model()
    with _bars(console, quiet) as bars:
        report = warm_start(warm, warm_optimizer, progress=_bytes_bar(bars, "warm start"))
    if not quiet:
        render(report, console)
    train2, held2 = pipe2.encode(day2_train), pipe2.encode(day2_held)
    random_loss, _ = evaluate(warm, held2)
    zeroed = zero_new_inputs(warm, report)
    zeroed_loss, _ = evaluate(warm, held2)
    say(f"\n   The overlap left the weights of inputs new to a layer as initialised: {'; '.join(zeroed)}.\n"
        f"   The demo zeroes them (keras), so the model computes what the day-1 model computed and they learn from\n"
        f"   step 1: held-out day-2 loss before any step {random_loss:.4f} with them random, {zeroed_loss:.4f} zeroed.\n")

    # 4. Train day 2 three ways: same data, order, seed and evaluations.
    say(f"4. Day 2 training, three ways: {config.steps:,} steps of {config.batch} each, same data order and seed;"
        f"\n   held-out: {len(held2):,} of the latest {HELD_OUT:.0%} of day 2's logs, evaluated every "
        f"{config.every} steps.")
    runs: dict[str, Curve] = {}
    for name in ("scratch", "weights only", "weights + optimizer"):
        if name == "weights + optimizer":
            model = warm
        else:
            model, _ = day2_model()
            if name == "weights only":
                zero_new_inputs(model, warm_start(model))  # the optimizer starts fresh
        with _bars(console, quiet) as bars:
            runs[name] = train(model, train2, steps=config.steps, batch=config.batch, seed=config.seed + 2,
                               name=name, held_out=held2, every=config.every,
                               on_step=_step_bar(bars, name, config.steps))
    comparison = Comparison(runs["scratch"], runs["weights only"], runs["weights + optimizer"], window=config.window)
    if not quiet:
        console.print()
        demo_text.curve_table(comparison, console)

    # 5. Time against restore, then the outputs and the summary.
    def day1_model() -> tuple[keras.Model, keras.optimizers.Optimizer]:
        model = ranker(day1_shape(users.size, pipe1.items.size), name="ranker")
        optimizer = compile_model(model, learning_rate=config.learning_rate)
        optimizer.build(model.trainable_variables)
        return model, optimizer

    def built_day2_model() -> tuple[keras.Model, keras.optimizers.Optimizer]:
        model, optimizer = day2_model()
        optimizer.build(model.trainable_variables)
        return model, optimizer

    timing = time_both(day1=day1_model, day2=built_day2_model, prefix=prefix, warm_start=warm_start)
    day1_numbers = {"eval_loss": day1_loss, "eval_auc": day1_auc, "steps": day1_steps}
    new_inputs = {"zeroed": zeroed, "eval_loss_random": random_loss, "eval_loss_zeroed": zeroed_loss}
    result = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()},
        "data": source,
        "day1": day1_numbers,
        **comparison.to_dict(),
        "new_inputs": new_inputs,
        "timing": {"warm_start_seconds": timing.warm_start, "restore_seconds": timing.restore,
                   "ratio": timing.ratio, "repeats": timing.repeats,
                   "restore_into_changed_model": {"error": attempt.error, "overwritten": list(attempt.overwritten)}},
        "seconds": time.perf_counter() - started,
    }
    files = {"report": out / "report.json", "curves": out / "curves.json", "plot": out / "curves.png"}
    files["report"].write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    files["curves"].write_text(json.dumps(result, indent=2) + "\n")
    plot(comparison, files["plot"], title=f"Day-2 training from scratch vs warm-started ({source}; seed {config.seed})")
    lines = demo_text.summary_lines(report=report, comparison=comparison, timing=timing, attempt=attempt,
                                    day1=day1_numbers, steps=config.steps)
    p = _printer(console)
    p("Summary" if quiet else "\nSummary")
    for line in lines:
        p(line)
    p(f"Wrote {', '.join(f.name for f in files.values())} to {out}")
    return result


def _logs(config: DemoConfig) -> tuple[Interactions, Interactions, str]:
    if config.data is not None:
        logs = read_movielens(config.data)
        day1, day2 = split_by_time(logs, fraction=DAY1_SHARE)
        when = time.strftime("%Y-%m-%d", time.gmtime(int(day2.timestamp[0])))
        return day1, day2, f"{config.data.name}: ratings >= 4 liked, day 2 from {when}"
    world = World(users=config.users, items=config.items, interactions=config.interactions)
    day1, day2 = generate(world, seed=config.seed)
    return day1, day2, f"generated logs: {world.users:,} users, {world.items:,} items, Zipf popularity"


def _split(logs: Interactions, config: DemoConfig, rng: np.random.Generator) -> tuple[Interactions, Interactions]:
    """Training logs, and a seeded sample of at most ``eval_rows`` of the latest ones."""
    train_logs, held = holdout_latest(logs, fraction=HELD_OUT)
    if len(held) > config.eval_rows:
        held = held.take(np.sort(rng.choice(len(held), size=config.eval_rows, replace=False)))
    return train_logs, held


def _share(logs: Interactions) -> str:
    return f"{float(np.mean(logs.label)):.0%}"


def _printer(console: Console) -> Callable[[str], None]:
    def p(text: str) -> None:
        console.print(text, markup=False, highlight=False, soft_wrap=True)
    return p


def _sayer(console: Console, quiet: bool) -> Callable[[str], None]:
    p = _printer(console)

    def say(text: str) -> None:
        if not quiet:
            p(text)
    return say


@contextmanager
def _bars(console: Console, quiet: bool) -> Iterator[Progress]:
    """Progress bars on a terminal only: a file or a pipe would get one frame per refresh."""
    progress = Progress(TextColumn("   {task.description:<20}"), BarColumn(), TextColumn("{task.fields[what]}"),
                        TimeElapsedColumn(), console=console, disable=quiet or not console.is_terminal)
    with progress:
        yield progress


def _step_bar(progress: Progress, name: str, total: int) -> Callable[[int, float], None]:
    task = progress.add_task(name, total=total, what="")

    def on_step(done: int, loss: float) -> None:
        if done % 10 == 0 or done == total:  # a refresh per step would cost more than the step
            progress.update(task, completed=done, what=f"{done:>{len(f'{total:,}')},}/{total:,}  loss {loss:.4f}")
    return on_step


def _bytes_bar(progress: Progress, name: str) -> Callable[[int, int], None]:
    task = progress.add_task(name, total=None, what="")

    def on_bytes(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total, what=f"{done / 1e6:.2f}/{total / 1e6:.2f} MB")
    return on_bytes
