"""``warmstart``: look into a checkpoint, plan a warm start, run the demo.

``main(argv, stdout, stderr)`` runs in-process and returns an :class:`ExitStatus`, so
tests call it with ``io.StringIO`` streams; ``run()`` is the console script.

Exit status:

====  ==============================================================================
0     success
1     the plan has problems: a real run would fail (``--strict``, ``--on-mismatch
      error``) or would load nothing
2     usage error (bad arguments, a ``--model`` that cannot be found)
3     checkpoint not found or unreadable
4     rule error: a bad regex, a rule that matched nothing
5     any other error: the model is not built, the model factory failed
130   interrupted
====  ==============================================================================

Errors are one line on stderr (``warmstart: error: Kind: message``, a few indented lines
of detail at most); the stack only with ``--traceback``. TensorFlow is imported by the
commands, never at import time, and its logging is kept off stderr.
"""

from __future__ import annotations

import os

# Before anything can import TensorFlow: its C++ start-up chatter would otherwise reach
# stderr around the one line a failing command prints.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse
import enum
import importlib
import importlib.util
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console

from . import render

__all__ = ["CliError", "ExitStatus", "build_parser", "load_model", "main", "run"]

PROG = "warmstart"
_POLICIES = ("error", "skip", "overlap")


class ExitStatus(enum.IntEnum):
    """The process exit status; see the module docstring."""

    SUCCESS = 0
    PROBLEMS = 1
    USAGE = 2
    CHECKPOINT = 3
    RULE = 4
    ERROR = 5
    INTERRUPTED = 130


class CliError(Exception):
    """A failure of the command itself (not the library), with the status to exit with."""

    def __init__(self, message: str, status: ExitStatus) -> None:
        super().__init__(message)
        self.status = status


EPILOG = """\
exit status:
  0    success
  1    the plan has problems: a real run would fail (--strict, --on-mismatch error)
       or would load nothing
  2    usage error (bad arguments, a --model that cannot be found)
  3    checkpoint not found or unreadable
  4    rule error: a bad regex, a rule that matched nothing
  5    any other error: the model is not built, the model factory failed
  130  interrupted

examples:
  warmstart demo
  warmstart inspect runs/v1
  warmstart plan runs/v1 --model models.py:build_v2 \\
      --rename 'score/(.*)=head/\\1' --on-mismatch-for 'tower_.*=overlap'
"""


# --- parsing -------------------------------------------------------------------------


def rename_rule(text: str) -> tuple[str, str | None]:
    """``TARGET_RE=TEMPLATE``; an empty template or ``None`` means "do not load".

    Split at the last ``=``: a regex may hold one (``(?=...)``), a variable name may not.
    """
    pattern, sep, template = text.rpartition("=")
    if not sep or not pattern:
        raise argparse.ArgumentTypeError(
            f"expected TARGET_RE=TEMPLATE (e.g. 'score/(.*)=head/\\1'), got {text!r}"
        )
    return pattern, None if template in ("", "None") else template


def mismatch_rule(text: str) -> tuple[str, str]:
    """``RE=POLICY`` with POLICY one of error, skip, overlap."""
    pattern, sep, policy = text.rpartition("=")
    if not sep or not pattern or policy not in _POLICIES:
        raise argparse.ArgumentTypeError(
            f"expected RE=POLICY with POLICY one of {', '.join(_POLICIES)} "
            f"(e.g. 'tower/.*=overlap'), got {text!r}"
        )
    return pattern, policy


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Carry every learned weight that still fits from a TensorFlow checkpoint "
        "into a changed Keras model, and see exactly what was carried and why.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    _add_common(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_inspect(commands)
    _add_plan(commands)
    _add_demo(commands)
    return parser


def _add_common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    # Accepted before and after the command; the subcommand's copy must not overwrite a
    # value given before it, hence SUPPRESS there.
    default: Any = argparse.SUPPRESS if suppress else False
    parser.add_argument("--traceback", action="store_true", default=default,
                        help="on error, print the full stack")
    parser.add_argument("-v", "--verbose", action="store_true", default=default,
                        help="show the library's log messages on stderr")


def _subparser(commands: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    p = commands.add_parser(name, help=help_text, description=help_text, epilog=EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_common(p, suppress=True)
    return p


def _add_inspect(commands: Any) -> None:
    p = _subparser(commands, "inspect", "List a checkpoint's variables and optimizer slots, "
                   "with the names rules refer to.")
    p.add_argument("source", metavar="SOURCE",
                   help="checkpoint prefix, CheckpointManager directory or SavedModel directory")
    p.add_argument("--all", action="store_true", help="also list other entries (counters, hyperparameters)")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(handler=cmd_inspect)


def _add_plan(commands: Any) -> None:
    p = _subparser(commands, "plan", "Plan a warm start (a dry run: nothing is written) and "
                   "show what would be loaded, skipped and missing.")
    p.add_argument("source", metavar="SOURCE", help="checkpoint prefix or directory")
    p.add_argument("--model", required=True, metavar="MODULE:FACTORY",
                   help="a function returning the built model: 'pkg.models:build' or "
                   "'path/to/file.py:build'")
    p.add_argument("--include", action="append", metavar="RE",
                   help="load only targets that fully match one of these (repeatable)")
    p.add_argument("--exclude", action="append", default=[], metavar="RE", help="never load these")
    p.add_argument("--rename", action="append", default=[], type=rename_rule, metavar="TARGET_RE=TEMPLATE",
                   help="load targets matching TARGET_RE from the expanded TEMPLATE (\\1 refers to "
                   "a group); an empty template or None means do not load")
    p.add_argument("--on-mismatch", choices=_POLICIES, default="skip",
                   help="when shapes differ: error, skip (default) or overlap (copy the common block)")
    p.add_argument("--on-mismatch-for", action="append", default=[], type=mismatch_rule,
                   metavar="RE=POLICY", help="a policy for matching targets; first match wins")
    p.add_argument("--strict", action="store_true",
                   help="every included target must be loaded (or covered by --expect-missing)")
    p.add_argument("--expect-missing", action="append", default=[], metavar="RE",
                   help="targets expected to stay new under --strict")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=cmd_plan)


def _add_demo(commands: Any) -> None:
    p = _subparser(commands, "demo", "Train a ranking model on day-1 logs, change it for day 2, "
                   "warm-start it and train day 2 three ways (scratch, weights, weights + optimizer); "
                   "print the report, the curves and a summary.")
    p.add_argument("--out", default="./warmstart-demo", metavar="DIR",
                   help="where report.json, curves.json, curves.png, the checkpoints and the vocabulary "
                   "files go (default: ./warmstart-demo)")
    p.add_argument("--quiet", action="store_true", help="print only the final summary")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default: 0)")
    p.add_argument("--data", metavar="RATINGS_CSV",
                   help="a MovieLens ratings.csv (userId,movieId,rating,timestamp) instead of generated "
                   "logs; split in time into day 1 and day 2, a rating >= 4 counts as liked")
    sizes = p.add_argument_group("sizes (generated logs)")
    sizes.add_argument("--users", type=_positive, metavar="N", help="users (default: 2000)")
    sizes.add_argument("--items", type=_positive, metavar="N",
                       help="items of day 1's catalogue (default: 2000)")
    sizes.add_argument("--interactions", type=_positive, metavar="N",
                       help="interactions per day (default: 1200000)")
    training = p.add_argument_group("training")
    training.add_argument("--steps", type=_positive, default=3000, metavar="N",
                          help="day-2 training steps of each of the three runs (default: 3000)")
    training.add_argument("--day1-steps", type=_positive, metavar="N",
                          help="day-1 training steps (default: one pass over day 1's training logs)")
    training.add_argument("--eval-every", type=_positive, default=100, metavar="N",
                          help="evaluate the day-2 runs every N steps (default: 100)")
    training.add_argument("--batch", type=_positive, default=256, metavar="N",
                          help="batch size (default: 256)")
    p.set_defaults(handler=cmd_demo)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _version() -> str:
    try:
        return metadata.version("warmstart")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "unknown"


# --- commands ----------------------------------------------------------------------------


def cmd_inspect(args: argparse.Namespace, console: Console, out: TextIO) -> ExitStatus:
    import warmstart as ws
    located = ws.locate(args.source)
    order = {"variable": 0, "slot": 1, "other": 2}
    entries = sorted(ws.inspect_checkpoint(args.source), key=lambda e: order.get(str(e.kind), 3))  # stable: checkpoint order kept
    shown = [e for e in entries if args.all or str(e.kind) != "other"]
    if args.json:
        render.write_json(out, [render.entry_dict(e) for e in shown])
    else:
        render.inspect_table(console, shown, prefix=located.path, fmt=located.format,
                             hidden_other=len(entries) - len(shown))
    return ExitStatus.SUCCESS


def cmd_plan(args: argparse.Namespace, console: Console, out: TextIO) -> ExitStatus:
    import warmstart as ws
    ws.locate(args.source)  # a wrong path fails now, not after building a large model
    model = load_model(args.model)
    report = ws.warm_start(
        model, args.source,
        include=args.include, exclude=args.exclude, rename=args.rename,
        on_mismatch=mismatch_policy(args.on_mismatch, args.on_mismatch_for),
        strict=args.strict, expect_missing=args.expect_missing, dry_run=True,
    )
    if args.json:
        render.write_json(out, report.to_dict())
    else:
        console.print(report)
    return ExitStatus.SUCCESS if report.ok else ExitStatus.PROBLEMS


def cmd_demo(args: argparse.Namespace, console: Console, out: TextIO) -> ExitStatus:
    from warmstart.demo import DataError, DemoConfig, run_demo

    sizes = {k: getattr(args, k) for k in ("users", "items", "interactions") if getattr(args, k) is not None}
    if args.data is not None:
        if sizes:
            raise CliError(f"demo: --{next(iter(sizes))} sizes generated logs; it cannot be combined "
                           f"with --data", ExitStatus.USAGE)
        if not Path(args.data).is_file():
            raise CliError(f"demo --data: no file {args.data!r}", ExitStatus.USAGE)
    config = DemoConfig(seed=args.seed, data=None if args.data is None else Path(args.data), steps=args.steps,
                        day1_steps=args.day1_steps, every=args.eval_every, batch=args.batch, **sizes)
    try:
        run_demo(Path(args.out), config, console=console, quiet=args.quiet)
    except DataError as e:
        raise CliError(f"demo --data: {e}", ExitStatus.USAGE) from e
    return ExitStatus.SUCCESS


def mismatch_policy(default: str, per_pattern: Sequence[tuple[str, str]]) -> str | dict[str, str]:
    """The library's ``on_mismatch``: a string, or a mapping that ends in the default.

    A mapping leaves unmatched names at "skip", so a non-skip default becomes a final
    catch-all ``.*``.
    """
    if not per_pattern:
        return default
    policies = dict(per_pattern)
    if default != "skip":
        policies.setdefault(".*", default)
    return policies


# --- loading the model -------------------------------------------------------------------


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


# --- running -----------------------------------------------------------------------------


def _import_tensorflow() -> None:
    """Import TensorFlow (which every command needs) with the process's stderr muted.

    TensorFlow 2.21 prints its oneDNN notice while its shared libraries load, even with
    TF_CPP_MIN_LOG_LEVEL set from Python; only the file descriptor can be silenced. Python
    errors are exceptions, not writes, so nothing the user needs is lost.
    """
    if "tensorflow" in sys.modules:
        return
    try:
        with render.fd_muted(2):
            import tensorflow  # noqa: F401
    except ModuleNotFoundError as e:
        if e.name == "tensorflow":
            raise CliError(f"{e.name} is not installed.\n  Fix: pip install 'warmstart[cpu]' "
                           f"(or 'warmstart[gpu]').", ExitStatus.ERROR) from e
        raise


def exit_status_for(exc: BaseException) -> ExitStatus:
    if isinstance(exc, CliError):
        return exc.status
    from warmstart.errors import CheckpointNotFoundError, CheckpointReadError, RuleError

    if isinstance(exc, (CheckpointNotFoundError, CheckpointReadError)):
        return ExitStatus.CHECKPOINT
    if isinstance(exc, RuleError):
        return ExitStatus.RULE
    return ExitStatus.ERROR


def _error_text(exc: BaseException, *, traced: bool) -> str:
    from warmstart.errors import WarmStartError

    if isinstance(exc, CliError):
        return render.error_text(exc, prog=PROG, kind=False)
    text = render.error_text(exc, prog=PROG)
    if not isinstance(exc, WarmStartError) and not traced:  # a bug, ours or a dependency's
        text = text.rstrip("\n") + "\n  (unexpected; rerun with --traceback to see where it came from)\n"
    return text


def _parse(argv: Sequence[str] | None, out: TextIO, err: TextIO) -> argparse.Namespace | ExitStatus:
    # argparse writes to sys.stdout/sys.stderr and exits; redirect both so that tests
    # (and embedding programs) get the text and a status instead of a dead process.
    with redirect_stdout(out), redirect_stderr(err):
        try:
            return build_parser().parse_args(argv)
        except SystemExit as e:
            return ExitStatus.SUCCESS if e.code in (0, None) else ExitStatus.USAGE


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> ExitStatus:
    """Run one command in this process and return its exit status."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    args = _parse(argv, out, err)
    if isinstance(args, ExitStatus):
        return args
    try:
        with render.quiet_libraries(err, verbose=args.verbose):
            _import_tensorflow()
            return args.handler(args, render.make_console(out), out)
    except KeyboardInterrupt:
        err.write(f"\n{PROG}: interrupted\n")
        return ExitStatus.INTERRUPTED
    except BrokenPipeError:
        raise  # the reader went away (`| head`); run() ends quietly
    except Exception as e:  # noqa: BLE001  the one place every failure becomes a line and a status
        if args.traceback:
            err.write(render.traceback_text(e))
        err.write(_error_text(e, traced=args.traceback))
        return exit_status_for(e)


def run() -> None:
    """The console script: ``sys.exit(main())``."""
    try:
        status: int = main()
    except BrokenPipeError:
        # Python would print a traceback while flushing the closed pipe at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        status = 128 + 13  # what a process killed by SIGPIPE reports, as `yes | head` does
    sys.exit(status)
