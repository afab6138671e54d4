"""The pure half of the library runs without TensorFlow: its modules import none, and this
whole folder passes in a process where importing TensorFlow, Keras or tf_keras fails."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

_BLOCK_TF = textwrap.dedent(
    """
    import importlib.abc, sys
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {"tensorflow", "keras", "tf_keras"}:
                raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
    sys.meta_path.insert(0, Block())
    """
)
HERE = Path(__file__).parent


def _run(code: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _BLOCK_TF + textwrap.dedent(code)],
                          check=False, capture_output=True, text=True, timeout=timeout, cwd=HERE.parent.parent)


@pytest.mark.subprocess
def test_pure_modules_import_without_tensorflow():
    done = _run(
        """
        import warmstart, warmstart.entries, warmstart.errors, warmstart.names
        import warmstart.rules, warmstart.plan, warmstart.matching, warmstart.remap, warmstart.validation
        import warmstart.report, warmstart.sources, warmstart.sources.bundle, warmstart.sources.object_graph
        import warmstart.sources.locate, warmstart.sources.keras_slots, warmstart.layout
        import warmstart.report.provenance
        from warmstart import OnMismatch, RuleError, SourceEntry, TargetEntry, Vocab, locate
        assert not {"tensorflow", "keras", "tf_keras"} & set(sys.modules), "TensorFlow imported"
        print("ok")
        """
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


@pytest.mark.subprocess
@pytest.mark.slow
def test_this_folder_passes_without_tensorflow():
    done = _run(
        f"""
        import pytest
        code = pytest.main([{str(HERE)!r}, "-q", "-p", "no:cacheprovider", "--ignore", {__file__!r}])
        assert not {{"tensorflow", "keras", "tf_keras"}} & set(sys.modules), "TensorFlow imported"
        sys.exit(int(code))
        """,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "error" not in done.stdout.splitlines()[-1]
