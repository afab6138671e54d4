"""What TensorFlow's TF1 warm-start tools do in eager mode (TF 2 with Keras 3), case by case.

Run: python docs/scripts/tf1_in_eager.py. The README's "Why" section quotes its output.
Each case starts from a checkpoint holding one variable, 1.0, and a target variable at 0.0.
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import tensorflow as tf


def outcome(fn, variable) -> str:
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the point is to show what each call raises
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        return f"raises {type(e).__name__}: {first[:100]}"
    return f"returns; the variable is now {float(variable.numpy()):.1f}"


def main() -> None:
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, eager: {tf.executing_eagerly()}")
    with tempfile.TemporaryDirectory() as d:
        # A TF1-style checkpoint: the key is the variable's name, "w".
        with tf.Graph().as_default():
            w = tf.compat.v1.get_variable("w", initializer=1.0)
            saver = tf.compat.v1.train.Saver([w])
            with tf.compat.v1.Session() as s:
                s.run(w.initializer)
                prefix = saver.save(s, os.path.join(d, "tf1", "ckpt"))
        init = tf.compat.v1.train.init_from_checkpoint

        plain = tf.Variable(0.0, name="w")
        print("init_from_checkpoint(prefix, {'w': tf.Variable}):",
              outcome(lambda: init(prefix, {"w": plain}), plain))

        layer = keras.layers.Dense(1, kernel_initializer="zeros", use_bias=False)
        layer.build((None, 1))
        kernel = layer.kernel
        with tf.Graph().as_default():  # a (1, 1) kernel needs a (1, 1) entry
            k = tf.compat.v1.get_variable("k", initializer=[[1.0]])
            saver = tf.compat.v1.train.Saver([k])
            with tf.compat.v1.Session() as s:
                s.run(k.initializer)
                kprefix = saver.save(s, os.path.join(d, "tf1k", "ckpt"))
        print("init_from_checkpoint(prefix, {'k': keras_layer.kernel}):",
              outcome(lambda: init(kprefix, {"k": kernel}), kernel))

        named = tf.Variable(0.0, name="w")
        print("init_from_checkpoint(prefix, {'w': 'w'}) (a name, the graph-era form):",
              outcome(lambda: init(prefix, {"w": "w"}), named))
        print("init_from_checkpoint(prefix, {'/': '/'}) (a scope, the graph-era form):",
              outcome(lambda: init(prefix, {"/": "/"}), named))

        target = tf.Variable(0.0, name="w")
        print("tf.compat.v1.train.warm_start(prefix) with a tf.Variable 'w' alive:",
              outcome(lambda: tf.compat.v1.train.warm_start(prefix), target))


if __name__ == "__main__":
    main()
