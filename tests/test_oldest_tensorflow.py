"""The oldest TensorFlow the project declares (pyproject: ``tensorflow-cpu>=2.16``) runs the
library's end-to-end tests too: a second environment with ``tensorflow-cpu==2.16.2`` (and the
Keras 3 pip resolves for it) runs them in a subprocess. The environment is made once, in
``.venv-oldest-tf`` beside the project's own (git ignores it), and reused while it holds that
TensorFlow. tf_keras is not installed there (its 2.21 wheel needs TensorFlow 2.21): the tf_keras
tests skip in it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

OLDEST = "2.16.2"
ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-oldest-tf"
# every test that uses TensorFlow but this one, the pure ones (no TensorFlow), the demo's
# end-to-end runs (minutes of training; the demo's pieces are tested by the rest) and the docs'
# shown outputs (they print the main environment's versions)
IGNORED = ["pure", "test_oldest_tensorflow.py", "test_demo.py", "test_docs.py"]


def _python() -> Path:
    return VENV / "bin" / "python"


def _has_oldest() -> bool:
    if not _python().exists():
        return False
    done = subprocess.run([str(_python()), "-c", "import tensorflow as tf; print(tf.__version__)"],
                          capture_output=True, text=True, timeout=300, check=False)
    return done.stdout.strip() == OLDEST


@pytest.mark.slow
@pytest.mark.subprocess
def test_the_oldest_declared_tensorflow_passes_the_end_to_end_tests():
    if not _has_oldest():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True, timeout=300)
        subprocess.run([str(_python()), "-m", "pip", "install", "-q", f"tensorflow-cpu=={OLDEST}", "-e",
                        f"{ROOT}[test]"], check=True, timeout=1800)
    ignored = [a for name in IGNORED for a in ("--ignore", str(ROOT / "tests" / name))]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([str(_python()), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow",
                           str(ROOT / "tests"), *ignored],
                          capture_output=True, text=True, timeout=2400, check=False, cwd=ROOT, env=env)
    tail = (done.stdout + done.stderr)[-4000:]
    assert done.returncode == 0, tail
    assert " passed" in done.stdout and " failed" not in done.stdout, tail
