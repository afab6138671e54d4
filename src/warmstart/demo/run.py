"""The demo's story, :func:`run_demo`: the job of the people this tool is for, end to end.


1. Day 1: a Keras ranking model (:mod:`.model`) trained with Adam on a run of logs and
   checkpointed by ``tf.train.CheckpointManager``, model and optimizer, as a training job does.
2. Day 2: new logs (new items, gone items, the item vocabulary re-sorted and written to
   files by the pipeline, :mod:`.features`), and a changed model.
3. ``ws.warm_start`` with the rules for that change: a vocabulary remap of the item table
   (its Adam slots follow), ``preserve`` for the wider layers (the grown model starts out
   computing what the day-1 model computed), a rename for the head, the new embedding
   expected missing under ``strict=True``. The report.
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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from rich.console import Console

import warmstart as ws

from .call import call_text
from .console import Voice, bytes_bar, step_bar
from .data import Interactions, World, generate, holdout_latest, read_movielens, split_by_time
from .features import Features, Pipeline, Vocabulary, frequency_order
from .model import (
    EXPECT_MISSING,
    ITEM_TABLE,
    ON_MISMATCH,
    RENAME,
    compile_model,
    day1_shape,
    day2_shape,
    ranker,
)
from .plot import INSTALL_MATPLOTLIB, plot, plot_unavailable
from .results import Comparison
from .text import curve_table, summary_lines
from .timing import RestoreAttempt, Timing, time_both, try_restore
from .train import Curve, evaluate, train

__all__ = ["DemoConfig", "run_demo"]

HELD_OUT = 0.1  # the latest tenth of each run's logs is held out
DAY1_SHARE = 0.5  # a real log (--data) is split in time: day 1 is its first half
RUNS = ("scratch", "weights only", "weights + optimizer")


@dataclass(frozen=True)
class DemoConfig:
    """Sizes and settings; the defaults take about a minute on 2 CPU cores."""

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
    ``out_dir`` (also ``checkpoints/`` and ``vocab/``). Returns what ``curves.json`` holds.

    Without matplotlib, everything but ``curves.png`` is written, and the summary says so.
    """
    voice = Voice(console or Console(), quiet)
    started = time.perf_counter()
    no_plot = plot_unavailable()  # known now, not after the training
    voice.say(f"warmstart demo: a recommender retrained on new logs, warm-started vs from scratch "
              f"(seed {config.seed})\n")
    if no_plot:
        voice.say(f"Note: {no_plot}: curves.png will be left out. Fix: {INSTALL_MATPLOTLIB}\n")
    logs = _logs(config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    days = Days.prepare(*logs, config=config, vocab_dir=out / "vocab")
    prefix, day1 = _day1(days, config, out / "checkpoints", voice)
    day2 = Day2(config, days, out / "checkpoints")
    attempt = _day2_changes(day2, prefix, voice)
    warm, report, step0 = _warm_start(day2, voice, day1)
    comparison = _train_three(day2, warm, voice)
    _keep_day2(warm, report, out / "checkpoints-day2")
    timing = _time(day2, prefix)
    result = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()},
        "data": days.source,
        "day1": day1,
        **comparison.to_dict(),
        "step0": step0,
        "timing": {"warm_start_seconds": timing.warm_start, "restore_seconds": timing.restore,
                   "ratio": timing.ratio, "repeats": timing.repeats,
                   "restore_into_changed_model": {"error": attempt.error,
                                                  "overwritten": list(attempt.overwritten)}},
        "seconds": time.perf_counter() - started,
    }
    files = [out / "report.json", out / "curves.json"]
    files[0].write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    files[1].write_text(json.dumps(result, indent=2) + "\n")
    if no_plot:
        (out / "curves.png").unlink(missing_ok=True)  # an earlier run's would not match curves.json
    else:
        files.append(plot(comparison, out / "curves.png",
                          title=f"Day-2 training from scratch vs warm-started ({days.source}; seed {config.seed})"))
    _summary(voice, report=report, comparison=comparison, timing=timing, attempt=attempt, day1=day1,
             steps=config.steps)
    if no_plot:
        voice.always(f"Left out curves.png: {no_plot}. Fix: {INSTALL_MATPLOTLIB}")
    voice.always(f"Wrote {', '.join(f.name for f in files)} to {out}", fold=False)  # one line to copy
    return result


# --- the data --------------------------------------------------------------------------------


def _logs(config: DemoConfig) -> tuple[Interactions, Interactions, str]:
    """Day 1's and day 2's logs, and what they are."""
    if config.data is not None:
        logs = read_movielens(config.data)
        day1, day2 = split_by_time(logs, fraction=DAY1_SHARE)
        when = time.strftime("%Y-%m-%d", time.gmtime(int(day2.timestamp[0])))
        return day1, day2, f"{config.data.name}: ratings >= 4 liked, day 2 from {when}"
    world = World(users=config.users, items=config.items, interactions=config.interactions)
    day1, day2 = generate(world, seed=config.seed)
    return day1, day2, f"generated logs: {world.users:,} users, {world.items:,} items, Zipf popularity"


@dataclass(frozen=True)
class Days:
    """Both runs' logs through their pipelines: training data, and held-out data evaluated."""

    source: str
    sizes: tuple[int, int]  # interactions logged on day 1, day 2
    liked: float  # share of positives on day 1
    users: Vocabulary
    pipe1: Pipeline
    pipe2: Pipeline
    train1: Features
    held1: Features
    train2: Features
    held2: Features
    held2_day1: Features  # day 2's held-out logs through day 1's pipeline: what the day-1 model reads

    @classmethod
    def prepare(cls, day1: Interactions, day2: Interactions, source: str, *, config: DemoConfig,
                vocab_dir: Path) -> Days:
        rng = np.random.default_rng(config.seed)
        train1, held1 = _split(day1, config.eval_rows, rng)
        train2, held2 = _split(day2, config.eval_rows, rng)
        users = Vocabulary.write(frequency_order(train1.user), vocab_dir / "users.txt")
        pipe1 = Pipeline.fit(train1, users=users, item_vocab_path=vocab_dir / "items_day1.txt", hour=False)
        pipe2 = Pipeline.fit(train2, users=users, item_vocab_path=vocab_dir / "items_day2.txt", hour=True)
        return cls(source, (len(day1), len(day2)), float(np.mean(day1.label)), users, pipe1, pipe2,
                   pipe1.encode(train1), pipe1.encode(held1), pipe2.encode(train2), pipe2.encode(held2),
                   pipe1.encode(held2))


def _split(logs: Interactions, rows: int, rng: np.random.Generator) -> tuple[Interactions, Interactions]:
    """Training logs, and a seeded sample of at most ``rows`` of the latest ones."""
    train_logs, held = holdout_latest(logs, fraction=HELD_OUT)
    if len(held) > rows:
        held = held.take(np.sort(rng.choice(len(held), size=rows, replace=False)))
    return train_logs, held


# --- the story -------------------------------------------------------------------------------


def _day1(days: Days, config: DemoConfig, checkpoints: Path, voice: Voice) -> tuple[str, dict[str, Any]]:
    """Train the day-1 model and checkpoint it as a training job does: model and optimizer,
    through a CheckpointManager."""
    steps = config.day1_steps or math.ceil(len(days.train1) / config.batch)
    voice.say(f"1. Day 1. {days.source[0].upper()}{days.source[1:]}; {days.sizes[0]:,} interactions, "
              f"{days.liked:.0%} liked.\n"
              f"   The ranker: user, item and weekday embeddings, item popularity, user.item"
              f" -> tower_0 (64) -> tower_1 (32) -> head (sigmoid).\n"
              f"   Adam, {steps:,} steps of {config.batch}"
              + (" (one pass over the training logs)." if config.day1_steps is None else "."))
    keras.utils.set_random_seed(config.seed)
    model = ranker(day1_shape(days.users.size, days.pipe1.items.size), name="ranker")
    compile_model(model, learning_rate=config.learning_rate)
    with voice.bars() as bars:
        train(model, days.train1, steps=steps, batch=config.batch, seed=config.seed,
              on_step=step_bar(bars, "day 1", steps))
    loss, auc = evaluate(model, days.held1)
    loss2, auc2 = evaluate(model, days.held2_day1)  # where day 2 starts from, on day 2's logs
    shutil.rmtree(checkpoints, ignore_errors=True)  # ours; a rerun must not pick up an old one
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model, optimizer=model.optimizer),
                                         str(checkpoints), max_to_keep=3)
    prefix = manager.save()
    voice.say(f"   Held-out (latest {HELD_OUT:.0%} of day 1): log loss {loss:.4f}, AUC {auc:.4f}.\n"
              f"   Checkpoint (model and optimizer, tf.train.CheckpointManager): {prefix}\n")
    return prefix, {"eval_loss": loss, "eval_auc": auc, "steps": steps, "eval_loss_day2": loss2,
                    "eval_auc_day2": auc2}


@dataclass(frozen=True)
class Day2:
    """The day-2 model, and the warm start that fits its changes: the library's whole API
    in one call."""

    config: DemoConfig
    days: Days
    checkpoints: Path

    def model(self, *, built: bool = False) -> tuple[keras.Model, keras.optimizers.Optimizer]:
        """A fresh day-2 model and its Adam; every call draws the same initial values."""
        keras.utils.set_random_seed(self.config.seed + 1)
        model = ranker(day2_shape(self.days.users.size, self.days.pipe2.items.size), name="ranker")
        optimizer = compile_model(model, learning_rate=self.config.learning_rate)
        if built:
            optimizer.build(model.trainable_variables)
        return model, optimizer

    @property
    def source(self) -> str:
        return str(self.checkpoints)

    def warm_start_kwargs(self, optimizer: Any = None, progress: Any = None) -> dict[str, Any]:
        """The rules for the day-2 change, as ``ws.warm_start``'s keyword arguments: the
        demo prints its call from this same dict."""
        items = self.days.pipe1.items, self.days.pipe2.items
        return {
            "vocab": {ITEM_TABLE: ws.Vocab(str(items[0].path), str(items[1].path), num_oov_buckets=1,
                                           old_num_oov_buckets=1)},
            "on_mismatch": ON_MISMATCH,
            "rename": RENAME,
            "optimizer": optimizer,  # its Adam slots follow their variables, through the same remaps
            "strict": True,
            "expect_missing": EXPECT_MISSING,
            "progress": progress,
        }

    def warm_start(self, model: keras.Model, optimizer: Any = None) -> ws.Report:
        return ws.warm_start(model, self.source, **self.warm_start_kwargs(optimizer))


def _day2_changes(day2: Day2, prefix: str, voice: Voice) -> RestoreAttempt:
    """Say what changed, and show that ``tf.train.Checkpoint.restore`` cannot load it."""
    v1, v2 = day2.days.pipe1.items, day2.days.pipe2.items
    old, new = set(v1.tokens), set(v2.tokens)
    moved = sum(1 for i, t in enumerate(v1.tokens) if t in new and v2.tokens[i:i + 1] != (t,))
    voice.say(f"2. Day 2. New logs: {day2.days.sizes[1]:,} interactions. Items: {len(new):,} in the "
              f"vocabulary, {len(new - old):,} new ({len(new - old) / len(new):.0%}), "
              f"{len(old - new):,} gone; {moved:,} of the {len(old & new):,} kept moved "
              f"(sorted by frequency).\n"
              f"   Vocabulary files: {v1.path}, {v2.path.name}\n"
              f"   The model changed: a new 'hour' feature with its own embedding (hour_emb), "
              f"tower_0 64 -> 96 units (tower_1 gets 32 more inputs), the head renamed 'click'.")
    attempt = try_restore(*day2.model(built=True), prefix)
    overwritten = f" (after overwriting {', '.join(attempt.overwritten)})" if attempt.overwritten else ""
    voice.say(f"   tf.train.Checkpoint.restore cannot load it{overwritten}:\n"
              f"   {attempt.error or 'no error (unexpected)'}\n")
    return attempt


def _warm_start(day2: Day2, voice: Voice, day1: dict[str, Any]) -> tuple[keras.Model, ws.Report, dict[str, Any]]:
    """The warm start of the weights + optimizer run, with its report; and where it starts:
    its held-out loss before training, against the day-1 model's on the same logs and against
    an ``overlap`` warm start, which leaves the new weights as initialised."""
    days = day2.days
    model, optimizer = day2.model()
    bars = voice.bars()
    kwargs = day2.warm_start_kwargs(optimizer, progress=bytes_bar(bars, "warm start"))
    voice.say("3. Warm start:")
    voice.say(call_text("report = ws.warm_start", (model, day2.source), kwargs, indent=4,
                        names={"model": model, "optimizer": optimizer}), fold=False)
    voice.say()
    with bars:
        report = ws.warm_start(model, day2.source, **kwargs)
    if not voice.quiet:
        voice.console.print(report)
    preserved, _ = evaluate(model, days.held2)
    overlapped, _ = evaluate(_overlap_start(day2), days.held2)
    zeroed = [f"{e.target} ({e.detail})" for e in report.loaded if e.action is ws.Action.PRESERVE and " zero" in e.detail]
    voice.say(f"\n   preserve zeroed the weights of inputs new to a layer: {'; '.join(zeroed)}; new units keep their "
              f"initial weights, so they learn from the first step. Held-out day-2 log loss before training: "
              f"{preserved:.4f} (the day-1 model on the same logs: {day1['eval_loss_day2']:.4f}; with \"overlap\", "
              f"which leaves the new weights random: {overlapped:.4f}).\n")
    return model, report, {"zeroed": zeroed, "eval_loss_preserve": preserved, "eval_loss_overlap": overlapped,
                           "eval_loss_day1_model": day1["eval_loss_day2"]}


def _overlap_start(day2: Day2) -> keras.Model:
    """The same warm start with ``overlap`` where the demo says ``preserve``, for comparison."""
    model, _ = day2.model()
    kwargs = day2.warm_start_kwargs()
    kwargs["on_mismatch"] = {k: "overlap" if v == "preserve" else v for k, v in kwargs["on_mismatch"].items()}
    ws.warm_start(model, day2.source, **kwargs)
    return model


def _keep_day2(model: keras.Model, report: ws.Report, directory: Path) -> None:
    """The trained day-2 model's checkpoint, with the warm start's report beside it
    (provenance: where its first weights came from, under which rules)."""
    shutil.rmtree(directory, ignore_errors=True)
    tf.train.CheckpointManager(tf.train.Checkpoint(model=model), str(directory), max_to_keep=1).save()
    report.save(directory / "warmstart-report.json")


def _train_three(day2: Day2, warm: keras.Model, voice: Voice) -> Comparison:
    """Day 2 three ways, on the same data, batch order and evaluations."""
    config, days = day2.config, day2.days
    voice.say(f"4. Day 2 training, three ways: {config.steps:,} steps of {config.batch} each, same data "
              f"order and seed;\n   held-out: {len(days.held2):,} of the latest {HELD_OUT:.0%} of day 2's "
              f"logs, evaluated every {config.every} steps.")
    runs: dict[str, Curve] = {}
    for name in RUNS:
        if name == "weights + optimizer":
            model = warm
        else:
            model, _ = day2.model()
            if name == "weights only":
                day2.warm_start(model)  # the optimizer starts fresh
        with voice.bars() as bars:
            runs[name] = train(model, days.train2, steps=config.steps, batch=config.batch,
                               seed=config.seed + 2, name=name, held_out=days.held2, every=config.every,
                               on_step=step_bar(bars, name, config.steps))
    comparison = Comparison(runs[RUNS[0]], runs[RUNS[1]], runs[RUNS[2]], window=config.window)
    if not voice.quiet:
        voice.say()
        curve_table(comparison, voice.console)
    return comparison


def _time(day2: Day2, prefix: str) -> Timing:
    """The warm start into the day-2 model against restore into an identical day-1 model,
    both with a built optimizer (restore defers what it cannot place yet)."""
    days, config = day2.days, day2.config

    def day1_model() -> tuple[keras.Model, keras.optimizers.Optimizer]:
        model = ranker(day1_shape(days.users.size, days.pipe1.items.size), name="ranker")
        optimizer = compile_model(model, learning_rate=config.learning_rate)
        optimizer.build(model.trainable_variables)
        return model, optimizer

    return time_both(day1=day1_model, day2=lambda: day2.model(built=True), prefix=prefix,
                     warm_start=day2.warm_start)


def _summary(voice: Voice, **numbers: Any) -> None:
    voice.always("Summary" if voice.quiet else "\nSummary")
    for line in summary_lines(**numbers):
        voice.always(line)
