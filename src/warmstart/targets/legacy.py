"""Is an object from tf_keras (Keras 2 as the ``tf_keras`` package)? Answered from the class and
its bases, without importing tf_keras, so that a user's subclass (a ``tf_keras.Model``
subclassed in ``__main__``) counts as tf_keras too."""

from __future__ import annotations

from typing import Any

__all__ = ["is_tf_keras", "tf_keras_class"]


def tf_keras_class(obj: Any) -> type | None:
    """The nearest class of ``obj`` (itself or a base) defined in tf_keras, or None."""
    for k in type(obj).__mro__:
        if k.__module__.startswith("tf_keras"):
            return k
    return None


def is_tf_keras(obj: Any, *classes: str) -> bool:
    """Whether ``obj`` is a tf_keras object; with ``classes``, an instance of a tf_keras class
    of one of those names (``"Layer"``, ``"Model"``, ``"Optimizer"``)."""
    return any(k.__module__.startswith("tf_keras") and (not classes or k.__name__ in classes)
               for k in type(obj).__mro__)
