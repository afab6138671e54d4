"""``--model MODULE:FACTORY``: import the user's module or file and call the factory.

Not finding the factory is a usage error (exit 2); the factory or its module failing is
the model's problem (exit 5).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .status import CliError, ExitStatus

__all__ = ["load_model"]


def load_model(spec: str) -> Any:
    """Import ``MODULE:FACTORY`` (or ``path/to/file.py:FACTORY``) and call the factory.

    Not finding the factory is a usage error (exit 2); the factory failing is the model's
    problem (exit 5), reported with the factory's own exception chained for --traceback.
    """
    where, sep, attr = spec.rpartition(":")  # rpartition: 'C:\\m.py:f' keeps its drive
    if not sep or not where or not attr:
        raise CliError(f"--model {spec!r}: expected MODULE:FACTORY or path/to/file.py:FACTORY", ExitStatus.USAGE)
    is_path = where.endswith(".py") or "/" in where or os.sep in where
    # The model's module may import its neighbours, as it would under `python file.py`.
    with _on_sys_path(str(Path(where).resolve().parent) if is_path else os.getcwd()):
        module = _import_file(where) if is_path else _import_module(where)
        factory = getattr(module, attr, None)
        if not callable(factory):
            public = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
            raise CliError(f"--model {spec!r}: {where!r} has no function {attr!r}"
                           + (f" (it has: {', '.join(public)[:200]})" if public else ""), ExitStatus.USAGE)
        try:
            model = factory()
        except Exception as e:
            raise CliError(f"the model factory {spec!r} raised {type(e).__name__}: {e}", ExitStatus.ERROR) from e
    if model is None or not (isinstance(model, Mapping) or hasattr(model, "variables")):
        raise CliError(f"the model factory {spec!r} returned {type(model).__name__}, not a model.\n"
                       f"  Fix: return a built keras.Model, a tf.Module or a mapping of variables.",
                       ExitStatus.ERROR)
    return model


def _import_module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and (name + ".").startswith(e.name + "."):  # the module itself, not its imports
            raise CliError(f"--model: no module named {name!r} (a file works too: path/to/file.py:FACTORY)",
                           ExitStatus.USAGE) from None
        raise _import_failed(name, e) from e
    except Exception as e:
        raise _import_failed(name, e) from e


def _import_file(path: str) -> Any:
    file = Path(path).expanduser().resolve()
    spec = importlib.util.spec_from_file_location(f"_warmstart_model_{abs(hash(str(file)))}", file)
    if not file.is_file() or spec is None or spec.loader is None:
        raise CliError(f"--model: no Python file {path!r}", ExitStatus.USAGE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickling look their module up there
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[spec.name]
        raise _import_failed(path, e) from e
    return module


def _import_failed(what: str, e: Exception) -> CliError:
    return CliError(f"importing {what!r} failed: {type(e).__name__}: {e}", ExitStatus.ERROR)


@contextmanager
def _on_sys_path(folder: str) -> Iterator[None]:
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        yield
    finally:
        if added and folder in sys.path:
            sys.path.remove(folder)
