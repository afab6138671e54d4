"""The test side of the distributed jobs: start a job script in its own process (with a
timeout, ended by its pid whatever happens), read what it wrote, and the values numpy
expects for each variable. Imports no TensorFlow.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def start(script: str, out: Path, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen:
    """Start ``dist_jobs/<script>`` writing into ``out``, in a session of its own (so that ending
    it ends whatever it started)."""
    out.mkdir(parents=True, exist_ok=True)
    log = open(out / "log.txt", "w")  # noqa: SIM115 - closed by finish()
    root = HERE.parents[1]
    path = os.pathsep.join([str(root / "src"), str(HERE), str(root / "benchmarks"), os.environ.get("PYTHONPATH", "")])
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": path.rstrip(os.pathsep), **(env or {})}
    proc = subprocess.Popen([sys.executable, str(HERE / script), str(out), *args], stdout=log,
                            stderr=subprocess.STDOUT, env=full_env, start_new_session=True)
    proc._log = log  # type: ignore[attr-defined]
    return proc


def finish(procs: Sequence[subprocess.Popen], timeout: float) -> list[int | None]:
    """Wait for every process up to ``timeout`` seconds in all, then end any still running (its
    process group, by pid); the exit codes (None: it was ended)."""
    import time

    deadline = time.monotonic() + timeout
    codes: list[int | None] = []
    try:
        for p in procs:
            try:
                codes.append(p.wait(timeout=max(0.1, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                codes.append(None)
    finally:
        for p in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
            p._log.close()  # type: ignore[attr-defined]
    return codes


def run(script: str, out: Path, *args: str, timeout: float) -> tuple[dict, dict[str, np.ndarray]]:
    """Run one job to its end and load what it wrote; a failure shows the job's log."""
    proc = start(script, out, *args)
    (code,) = finish([proc], timeout)
    return load(out, code)


def load(out: Path, code: int | None) -> tuple[dict, dict[str, np.ndarray]]:
    log = (out / "log.txt").read_text(errors="replace")[-6000:] if (out / "log.txt").exists() else ""
    if code != 0 or not (out / "result.json").exists():
        raise AssertionError(f"job in {out} {'timed out' if code is None else f'exited {code}'}:\n{log}")
    with np.load(out / "arrays.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    cases = json.loads((out / "result.json").read_text())
    crashed = {name: c["crashed"] for name, c in cases.items() if "crashed" in c}
    assert not crashed, "\n".join(f"case {n} crashed:\n{t}" for n, t in crashed.items())
    return cases, arrays


def expected(name: str, before: np.ndarray, source: np.ndarray,
             vocab: tuple[Sequence[str], Sequence[str]] | None = None) -> np.ndarray:
    """What a warm start leaves in a variable (or slot) ``name``: with ``vocab`` (old, new
    tokens) for the table, each new row takes its token's old row and new tokens keep theirs;
    otherwise the block the two shapes share is the checkpoint's and the rest stays (copy,
    overlap, cast)."""
    want = before.copy()
    if vocab is not None and name.split("@")[0] == "emb/embeddings":
        old = {t: i for i, t in enumerate(vocab[0])}
        for i, token in enumerate(vocab[1]):
            if token in old:
                want[i] = source[old[token]]
        return want
    block = tuple(slice(0, min(a, b)) for a, b in zip(want.shape, source.shape, strict=True))
    want[block] = source[block].astype(want.dtype)
    return want


def check_case(case: dict, arrays: dict[str, np.ndarray], sources: dict[str, np.ndarray],
               vocab: tuple[Sequence[str], Sequence[str]] | None = None, *, written: bool = True) -> int:
    """Every dumped variable of ``case``, per shard or per replica, against numpy: what the warm
    start wrote (``written``), or its value before (nothing written). Returns how many
    variables were checked."""
    for name, got in case["vars"].items():
        before = arrays[got["before"]]
        want = expected(name, before, sources[name], vocab) if written and name in sources else before
        parts = [arrays[k] for k in got["pieces"]]
        if got["sharded"]:
            cuts = np.cumsum([p.shape[0] for p in parts])[:-1]
            for k, (part, rows) in enumerate(zip(parts, np.split(want, cuts), strict=True)):
                np.testing.assert_array_equal(part, rows, err_msg=f"{name} shard {k}")
        else:
            for k, part in enumerate(parts):
                np.testing.assert_array_equal(part, want, err_msg=f"{name} replica {k}")
    return len(case["vars"])


def sources_of(cases: dict, arrays: dict[str, np.ndarray], label: str) -> dict[str, np.ndarray]:
    return {n: arrays[k] for n, k in cases["_sources"][label].items()}
