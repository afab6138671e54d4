"""How much smaller Adam's updates are when carried moments meet a reset step counter.

Run: python docs/scripts/adam_step.py. The guide quotes its output (optimizer state, the
``optimizer_step`` option). A Keras Adam (default betas 0.9 / 0.999) holds moments as if
carried from a long run that saw the same gradient g throughout (m = g, v = g * g). With the
same gradient every step after the warm start the moments stay what they are, so the t-th
update differs only by the bias correction of the step counter: t - 1 when the step is
reset (``optimizer_step="reset"``), 10,000 + t - 1 when it is carried. Each row is one
``apply_gradients`` of each kind, measured on a real variable; the closed form beside it is
(1 - 0.9**t) / sqrt(1 - 0.999**t).
"""

from __future__ import annotations

import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

STEPS = (1, 2, 5, 12, 50, 118, 300, 1000, 1750, 3000)
CARRIED = 10_000
G = 0.01


def update(iterations: int) -> float:
    """The size of one Adam update with moments (g, g*g) at step counter ``iterations``."""
    v = keras.Variable(np.zeros(1, "float32"))
    opt = keras.optimizers.Adam(learning_rate=1e-3)
    opt.build([v])
    opt._momentums[0].assign([G])
    opt._velocities[0].assign([G * G])
    opt.iterations.assign(iterations)
    opt.apply_gradients([(np.array([G], "float32"), v)])
    return abs(float(v.numpy()[0]))


def closed_form(t: int) -> float:
    return (1 - 0.9**t) / math.sqrt(1 - 0.999**t)


def main() -> None:
    print(f"Keras {keras.__version__} Adam, beta_1=0.9, beta_2=0.999, moments carried, the same gradient every step")
    print("step after the warm start   update (step carried) / update (step reset)   closed form")
    for t in STEPS:
        print(f"{t:>26,}   {update(CARRIED + t - 1) / update(t - 1):>44.2f}   {closed_form(t):>11.2f}")
    ratios = [closed_form(t) for t in range(1, 5001)]
    peak = int(np.argmax(ratios)) + 1
    below = next(t for t in range(peak, 5001) if closed_form(t) < 1.1)
    print(f"closed form: largest {max(ratios):.2f} at step {peak}; below 1.10 from step {below:,}")


if __name__ == "__main__":
    main()
