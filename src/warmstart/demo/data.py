"""Interaction logs for the demo: a seeded generator, a MovieLens reader, the split by time.

No data set can be downloaded when the demo runs, so by default the logs come from a small
model of how people pick and like items; ``read_movielens`` reads a real ``ratings.csv``
(``userId,movieId,rating,timestamp``) so that the same story runs on real data.

The generator (:func:`generate`), every draw from one ``numpy`` generator seeded by ``seed``:

* Users and items have latent factors ``u, v ~ N(0, I/dim)``; a shown item is liked with
  probability ``sigmoid(affinity * u.v + item_bias + weekday_effect + hour_effect - 1)``.
* The item shown is drawn by popularity, Zipf-distributed (``p ∝ rank ** -zipf``): a few
  items take most interactions and the tail is rarely seen, as in real catalogues. Items
  more popular are also liked a little more (their bias grows with log-popularity).
* Each run's logs cover ``days`` days; users are more active in the evening; the weekday
  (weekends) and the hour of day (evenings) shift the odds. The day-1 model sees the
  weekday; the hour is the feature the day-2 model adds.
* Between day 1 and day 2 the world drifts: ``retired`` of the items leave the catalogue,
  new items arrive to make ``new_share`` of day 2's catalogue (new releases get a boost of
  popularity), every item's log-popularity moves by ``N(0, 0.5)`` (so the frequency order
  changes), and user tastes rotate by the angle ``drift`` (radians) towards new tastes.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["DataError", "Interactions", "World", "generate", "holdout_latest", "hour", "read_movielens",
           "split_by_time", "weekday", "write_movielens"]

DAY = 86_400
START = 1_704_067_200  # 2024-01-01 00:00 UTC, a Monday: day 1's logs begin here


class DataError(ValueError):
    """A ``--data`` file that is not a MovieLens ratings.csv."""


@dataclass(frozen=True)
class Interactions:
    """One log of interactions, one row per (user, item) event; tokens are strings, as a
    data pipeline reads them."""

    user: np.ndarray  # str
    item: np.ndarray  # str
    label: np.ndarray  # float32, 1 = liked (clicked, rated >= 4)
    timestamp: np.ndarray  # int64, seconds since the epoch (UTC)
    truth: np.ndarray | None = None  # generated logs: the probability each label was drawn with

    def __len__(self) -> int:
        return int(self.label.size)

    def take(self, index: np.ndarray) -> Interactions:
        truth = None if self.truth is None else self.truth[index]
        return Interactions(self.user[index], self.item[index], self.label[index], self.timestamp[index],
                            truth)


@dataclass(frozen=True)
class World:
    """The sizes and the drift of the generated world (see the module docstring)."""

    users: int = 2000
    items: int = 2000  # day 1's catalogue
    interactions: int = 1_200_000  # per run (day 1, day 2)
    dim: int = 8
    zipf: float = 1.0
    affinity: float = 5.0
    new_share: float = 0.2
    retired: float = 0.1
    drift: float = 0.35
    days: int = 7


def generate(world: World, *, seed: int) -> tuple[Interactions, Interactions]:
    """Day 1's logs and day 2's, from the same users and a drifting catalogue."""
    rng = np.random.default_rng(seed)
    d = world.dim
    taste = rng.normal(size=(world.users, d)) / np.sqrt(d)
    activity = rng.lognormal(0.0, 0.8, size=world.users)  # some users interact far more
    weekday_effect = np.array([0.0, -0.1, 0.0, 0.1, 0.2, 0.5, 0.4])
    hour_effect = 0.6 * np.cos(2 * np.pi * (np.arange(24) - 20) / 24)  # evenings like more

    n1 = world.items
    factors = rng.normal(size=(n1, d)) / np.sqrt(d)
    log_pop = -world.zipf * np.log(rng.permutation(n1) + 1.0)  # Zipf by a random rank
    quality = rng.normal(scale=0.5, size=n1)
    names = np.array([f"i{k:06d}" for k in range(n1)])
    day1 = _log(rng, world, taste, activity, factors, log_pop, quality, names, start=START,
                effects=(weekday_effect, hour_effect))

    kept = np.sort(rng.choice(n1, size=n1 - round(world.retired * n1), replace=False))
    n_new = round(world.new_share / (1 - world.new_share) * kept.size)
    new_log_pop = -world.zipf * np.log(rng.integers(1, n1 + 1, size=n_new)) + 1.0  # new releases
    factors = np.concatenate([factors[kept], rng.normal(size=(n_new, d)) / np.sqrt(d)])
    log_pop = np.concatenate([log_pop[kept], new_log_pop]) + rng.normal(scale=0.5, size=kept.size + n_new)
    quality = np.concatenate([quality[kept], rng.normal(scale=0.5, size=n_new)])
    names = np.concatenate([names[kept], [f"i{k:06d}" for k in range(n1, n1 + n_new)]])
    new_taste = rng.normal(size=taste.shape) / np.sqrt(d)
    taste = np.cos(world.drift) * taste + np.sin(world.drift) * new_taste
    day2 = _log(rng, world, taste, activity, factors, log_pop, quality, names, start=START + world.days * DAY,
                effects=(weekday_effect, hour_effect))
    return day1, day2


def _log(rng: np.random.Generator, world: World, taste: np.ndarray, activity: np.ndarray,
         factors: np.ndarray, log_pop: np.ndarray, quality: np.ndarray, names: np.ndarray, *,
         start: int, effects: tuple[np.ndarray, np.ndarray]) -> Interactions:
    n = world.interactions
    users = rng.choice(taste.shape[0], size=n, p=activity / activity.sum())
    pop = np.exp(log_pop - log_pop.max())
    items = rng.choice(len(names), size=n, p=pop / pop.sum())
    day = rng.integers(0, world.days, size=n)
    hour_weight = 1.0 + 0.8 * np.cos(2 * np.pi * (np.arange(24) - 20) / 24)
    hour = rng.choice(24, size=n, p=hour_weight / hour_weight.sum())
    t = start + day * DAY + hour * 3600 + rng.integers(0, 3600, size=n)
    weekday_effect, hour_effect = effects
    bias = quality + 0.15 * (log_pop - log_pop.mean())
    logit = (world.affinity * np.einsum("nd,nd->n", taste[users], factors[items]) + bias[items]
             + weekday_effect[weekday(t)] + hour_effect[hour] - 1.0)
    truth = 1 / (1 + np.exp(-logit))
    label = (rng.random(n) < truth).astype("float32")
    order = np.argsort(t, kind="stable")
    user_names = np.array([f"u{k:06d}" for k in range(taste.shape[0])])
    return Interactions(user_names[users][order], names[items][order], label[order], t[order].astype("int64"),
                        truth[order])


def weekday(t: np.ndarray) -> np.ndarray:
    """Day of the week of a UTC timestamp, Monday = 0 (1970-01-01 was a Thursday)."""
    return (np.asarray(t, "int64") // DAY + 3) % 7


def hour(t: np.ndarray) -> np.ndarray:
    """Hour of the day of a UTC timestamp."""
    return (np.asarray(t, "int64") % DAY) // 3600


def read_movielens(path: str | os.PathLike[str], *, liked: float = 4.0) -> Interactions:
    """A MovieLens ``ratings.csv`` (``userId,movieId,rating,timestamp``, a header line),
    as logs sorted by time; a rating of ``liked`` or more is a positive."""
    with open(path, newline="", encoding="utf-8") as f:
        header = next(csv.reader(f), None)
    expected = ["userId", "movieId", "rating", "timestamp"]
    if header is None or [h.strip() for h in header] != expected:
        raise DataError(f"{os.fspath(path)!r}: expected a MovieLens ratings.csv whose header is "
                         f"{','.join(expected)}, found {header!r}")
    try:  # loadtxt parses in C: a csv module loop would take minutes on ml-25m
        table = np.loadtxt(path, delimiter=",", skiprows=1, dtype="float64", ndmin=2)
    except ValueError as e:
        raise DataError(f"{os.fspath(path)!r} is not a MovieLens ratings.csv: {e}") from None
    if table.shape[0] == 0:
        raise DataError(f"{os.fspath(path)!r} holds no ratings")
    order = np.argsort(table[:, 3], kind="stable")
    table = table[order]
    return Interactions(
        user=np.char.add("u", table[:, 0].astype("int64").astype(str)),
        item=np.char.add("m", table[:, 1].astype("int64").astype(str)),
        label=(table[:, 2] >= liked).astype("float32"),
        timestamp=table[:, 3].astype("int64"),
    )


def write_movielens(logs: Interactions, path: str | os.PathLike[str]) -> Path:
    """Write logs as a MovieLens ``ratings.csv`` (liked = 5.0, not liked = 2.0): how the
    tests feed the reader, and a way to try ``--data`` without a download."""
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["userId", "movieId", "rating", "timestamp"])
        for u, i, y, t in zip(logs.user, logs.item, logs.label, logs.timestamp, strict=True):
            w.writerow([int(str(u).lstrip("u")), int(str(i).lstrip("im")), "5.0" if y else "2.0", int(t)])
    return path


def split_by_time(logs: Interactions, *, fraction: float) -> tuple[Interactions, Interactions]:
    """The first ``fraction`` of the logs (by time) and the rest: day 1 and day 2."""
    cut = round(fraction * len(logs))
    order = np.argsort(logs.timestamp, kind="stable")
    return logs.take(order[:cut]), logs.take(order[cut:])


def holdout_latest(logs: Interactions, *, fraction: float) -> tuple[Interactions, Interactions]:
    """Training logs and the latest ``fraction`` held out for evaluation, as a team
    evaluates on the period after the one it trained on."""
    return split_by_time(logs, fraction=1 - fraction)
