"""The ``warmstart`` command line: ``inspect``, ``plan`` and ``demo``.

Importing this package does not import TensorFlow; each command does, when it runs.
"""

from .main import ExitStatus, main, run

__all__ = ["ExitStatus", "main", "run"]
