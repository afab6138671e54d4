"""Find the checkpoint a user pointed at: a prefix (TF2 object-based or TF1 name-based), a
CheckpointManager directory (its ``checkpoint`` state file names the latest), a SavedModel
directory, or a Keras file (``.weights.h5``, ``.keras``, legacy ``.h5``/``.hdf5``).

No TensorFlow: the state file is a two-line text proto, parsed here so that TF's own
"Couldn't match files" logging never reaches a CLI's one-line error.
"""

from __future__ import annotations

import codecs
import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import CheckpointNotFoundError, CheckpointReadError

__all__ = ["Location", "locate"]

_STATE_LINE = re.compile(r'^\s*model_checkpoint_path\s*:\s*"((?:[^"\\]|\\.)*)"\s*$', re.MULTILINE)
_DATA = re.compile(r"\.data-(\d{5})-of-(\d{5})$")


@dataclass(frozen=True, slots=True)
class Location:
    """Where a checkpoint the user pointed at really is.

    ``path`` is what its reader opens: a TF checkpoint prefix (``runs/v1/ckpt-3``) or a file;
    ``files`` every file the warm start reads (index and data shards).
    """

    path: str
    format: str  # one of FORMATS
    files: tuple[str, ...]
    root_is_model: bool = False


FORMATS = {
    "tf2-checkpoint": "TF2 object-based checkpoint (tf.train.Checkpoint, CheckpointManager)",
    "tf1-checkpoint": "TF1 name-based checkpoint (tf.compat.v1.train.Saver)",
    "saved-model": "SavedModel variables (tf.saved_model.save)",
    "saved-model-export": "SavedModel from model.export (variables by name)",
    "keras-weights": "Keras 3 weights file (model.save_weights, .weights.h5)",
    "keras-archive": "Keras 3 model archive (model.save, .keras)",
    "keras-h5": "legacy Keras HDF5 file (Keras 2 / tf_keras / Keras 3 .h5)",
}
_KERAS_SUFFIXES = {".weights.h5": "keras-weights", ".keras": "keras-archive", ".h5": "keras-h5", ".hdf5": "keras-h5"}


def locate(path: str | os.PathLike[str]) -> Location:
    """Resolve ``path`` (a prefix, a CheckpointManager directory, a SavedModel directory) to
    the checkpoint it means, checking that its files are there.

    >>> ws.locate("runs/v1").path  # doctest: +SKIP
    'runs/v1/ckpt-3'
    """
    p = Path(os.fspath(path)).expanduser()
    text = os.fspath(path)
    if p.is_dir():
        return _from_dir(p, text)
    for suffix in (".index",):
        if text.endswith(suffix) and p.is_file():
            return _checked(text[: -len(suffix)], "tf2-checkpoint", False, text)
    m = _DATA.search(text)
    if m and p.is_file():
        return _checked(text[: m.start()], "tf2-checkpoint", False, text)
    for suffix, fmt in _KERAS_SUFFIXES.items():
        if text.endswith(suffix) and not Path(text + ".index").is_file():  # not a prefix named x.h5
            if not p.is_file():
                raise CheckpointNotFoundError(f"no checkpoint at {text!r}: the file does not exist.")
            return Location(text, fmt, (text,))
    if Path(text + ".index").is_file():
        return _checked(text, "tf2-checkpoint", False, text)
    if p.exists():
        raise CheckpointReadError(
            f"{text!r} is neither a checkpoint prefix, a directory nor a Keras file: there is no "
            f"{text + '.index'!r} and it does not end in .weights.h5, .keras, .h5 or .hdf5.\n"
            f"  Fix: pass the prefix (runs/v1/ckpt-3), its directory, a SavedModel directory, or a "
            f"Keras file under its own suffix."
        )
    parent = p.parent
    near = sorted(q.name[: -len(".index")] for q in parent.glob("*.index")) if parent.is_dir() else []
    hint = f" Checkpoints in {str(parent)!r}: {', '.join(near[:5])}." if near else ""
    raise CheckpointNotFoundError(f"no checkpoint at {text!r}: the path does not exist.{hint}")


def _from_dir(p: Path, text: str) -> Location:
    state = p / "checkpoint"
    if state.is_file():
        latest = _latest(state)
        prefix = latest if os.path.isabs(latest) else str(p / latest)
        if not Path(prefix + ".index").is_file():
            raise CheckpointNotFoundError(
                f"the state file {str(state)!r} names {latest!r} as the latest checkpoint, but "
                f"{prefix + '.index'!r} does not exist (deleted, or the directory was copied in part).\n"
                f"  Fix: pass an existing prefix explicitly, or restore the missing files."
            )
        return _checked(prefix, "tf2-checkpoint", False, text)
    saved = p / "variables" / "variables"
    if (p / "saved_model.pb").is_file() or Path(str(saved) + ".index").is_file():
        if not Path(str(saved) + ".index").is_file():
            raise CheckpointReadError(
                f"{text!r} is a SavedModel without variables ({str(saved)!r}.index is missing)."
            )
        return _checked(str(saved), "saved-model", True, text)
    if p.name == "variables" and (p / "variables.index").is_file():
        return _checked(str(p / "variables"), "saved-model", True, text)
    prefixes = sorted(str(q)[: -len(".index")] for q in p.glob("*.index"))
    if len(prefixes) == 1:
        return _checked(prefixes[0], "tf2-checkpoint", False, text)
    if prefixes:
        raise CheckpointReadError(
            f"{text!r} holds {len(prefixes)} checkpoints and no 'checkpoint' state file to say "
            f"which is latest: {', '.join(Path(x).name for x in prefixes[:6])}.\n"
            f"  Fix: pass one prefix, e.g. {prefixes[-1]!r}."
        )
    keras_files = sorted(q.name for q in p.iterdir() if q.is_file() and q.name.endswith(tuple(_KERAS_SUFFIXES)))
    if len(keras_files) == 1:  # a BackupAndRestore folder (latest.weights.h5), a model.save() folder
        return locate(p / keras_files[0])
    if keras_files:
        raise CheckpointReadError(
            f"{text!r} holds {len(keras_files)} Keras files and no TF checkpoint: {', '.join(keras_files[:6])}.\n"
            f"  Fix: pass the one to warm-start from, e.g. {str(p / keras_files[-1])!r}."
        )
    raise CheckpointNotFoundError(
        f"no checkpoint in directory {text!r}: it has no 'checkpoint' state file, no *.index "
        f"file and no SavedModel."
    )


def _latest(state: Path) -> str:
    try:
        content = state.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CheckpointReadError(f"cannot read the state file {str(state)!r}: {e}") from None
    m = _STATE_LINE.search(content)
    if m is None:
        raise CheckpointReadError(
            f"the state file {str(state)!r} names no model_checkpoint_path; it is not a "
            f"tf.train.CheckpointManager state file.\n  Fix: pass a checkpoint prefix instead."
        )
    # A text-proto string: raw UTF-8 (what TF writes) or C escapes of its bytes (\303\250, as
    # protobuf's as_utf8=False writes). Unescape to bytes first, then decode them as a path.
    raw, _ = codecs.escape_decode(m.group(1).encode("utf-8"))  # type: ignore[attr-defined]
    return os.fsdecode(raw)


def _checked(prefix: str, fmt: str, root_is_model: bool, given: str) -> Location:
    """Check the data shards are all there, so a missing shard is named before reading."""
    index_file = prefix + ".index"
    data = sorted(glob.glob(glob.escape(prefix) + ".data-*-of-*"))
    shards = {m.group(2) for f in data if (m := _DATA.search(f))}
    if not data:
        raise CheckpointReadError(
            f"checkpoint {prefix!r} has an index but no data file ({prefix}.data-00000-of-NNNNN).\n"
            f"  Fix: copy the data file(s) next to the index."
        )
    if len(shards) == 1:
        total = int(shards.pop())
        have = {int(m.group(1)) for f in data if (m := _DATA.search(f))}
        lost = [f"{prefix}.data-{i:05d}-of-{total:05d}" for i in range(total) if i not in have]
        if lost:
            raise CheckpointReadError(
                f"checkpoint {prefix!r} is missing {len(lost)} of its {total} data shards: "
                f"{', '.join(lost[:4])}.\n  Fix: copy the missing shard(s) next to the index."
            )
    if fmt == "tf2-checkpoint" and not _has_object_graph(prefix):
        fmt = "tf1-checkpoint"
    return Location(prefix, fmt, (index_file, *data), root_is_model)


def _has_object_graph(prefix: str) -> bool:
    """Does the bundle hold TF2's object graph? (A TF1 ``Saver`` checkpoint does not.) An
    index that cannot be read is left to the reader, which says why."""
    from .bundle import read_index

    try:
        return "_CHECKPOINTABLE_OBJECT_GRAPH" in read_index(prefix).entries
    except (CheckpointReadError, CheckpointNotFoundError):
        return True
