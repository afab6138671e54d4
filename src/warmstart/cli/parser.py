"""The command line's grammar: ``build_parser`` and the types of its arguments.

Parsing imports neither TensorFlow nor the demo, so ``warmstart --help`` is fast; each
subcommand names the function in :mod:`.commands` that runs it.
"""

from __future__ import annotations

import argparse
import os
from importlib import metadata
from typing import Any

from .commands import cmd_apply, cmd_demo, cmd_inspect, cmd_plan
from .status import status_table

__all__ = ["EPILOG", "POLICIES", "PROG", "build_parser", "hashed_rule", "mismatch_rule", "rename_rule", "vocab_rule"]

PROG = "warmstart"
POLICIES = ("error", "skip", "overlap", "preserve")

EPILOG = status_table() + """

examples:
  warmstart demo
  warmstart inspect runs/v1
  warmstart plan runs/v1 --model models.py:build_v2 \\
      --rename 'score/(.*)=head/\\1' --on-mismatch-for 'tower_.*=overlap'
  warmstart apply runs/v1 --model models.py:build_v2 --out runs/v2-start \\
      --vocab 'item_emb/embeddings=vocab/v1.txt:vocab/v2.txt,num_oov_indices=1' --optimizer
"""


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
    if not sep or not pattern or policy not in POLICIES:
        raise argparse.ArgumentTypeError(
            f"expected RE=POLICY with POLICY one of {', '.join(POLICIES)} "
            f"(e.g. 'tower/.*=overlap'), got {text!r}"
        )
    return pattern, policy


_VOCAB_OPTIONS = {"num_oov_indices": int, "mask_token": str, "num_oov_buckets": int, "old_num_oov_buckets": int,
                  "old_num_oov_indices": int, "old_mask_token": str, "axis": int}


def _split_files(files: str) -> tuple[str, str, str]:
    cuts = [i for i, ch in enumerate(files) if ch == ":"]
    if len(cuts) > 1:
        fit = [i for i in cuts if os.path.isfile(files[:i]) and os.path.isfile(files[i + 1 :])]
        if len(fit) == 1:
            return files[: fit[0]], ":", files[fit[0] + 1 :]
        if len(fit) > 1:
            raise argparse.ArgumentTypeError(
                f"--vocab {files!r}: more than one split at ':' names two existing files; rename them, or use "
                f"ws.Vocab from Python")
    return files.partition(":")


def vocab_rule(text: str) -> tuple[str, dict[str, Any]]:
    """``RE=OLD:NEW[,option=value...]``: a ``ws.Vocab`` between two vocabulary files, with its
    layout options (``num_oov_indices=1``, ``mask_token=`` for an empty mask token, ...).

    The options are split off at the commas first; then ``RE=OLD:NEW`` at its last ``=`` (a
    regex may hold one) and ``OLD:NEW`` at its first ``:``, or, where a path holds a colon, at
    the one colon that leaves two existing files.
    """
    head, *options = text.split(",")
    pattern, sep, files = head.rpartition("=")
    old, colon, new = _split_files(files)
    if not sep or not pattern or not colon or not old or not new:
        raise argparse.ArgumentTypeError(
            f"expected RE=OLD:NEW[,option=value...] (e.g. 'item_emb/.*=v1.txt:v2.txt,num_oov_indices=1'), got {text!r}")
    kwargs: dict[str, Any] = {"old": old, "new": new}
    for option in options:
        key, eq, value = option.partition("=")
        if not eq or key not in _VOCAB_OPTIONS:
            raise argparse.ArgumentTypeError(
                f"--vocab option {option!r}: expected one of {', '.join(f'{k}=...' for k in _VOCAB_OPTIONS)}")
        try:
            kwargs[key] = _VOCAB_OPTIONS[key](value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--vocab option {option!r}: {key} takes a number") from None
    return pattern, kwargs


def hashed_rule(text: str) -> tuple[str, tuple[int, int]]:
    """``RE=OLD_BINS:NEW_BINS``: a ``ws.Hashed`` remap."""
    pattern, sep, bins = text.rpartition("=")
    old, colon, new = bins.partition(":")
    if not sep or not pattern or not colon or not old.isdigit() or not new.isdigit():
        raise argparse.ArgumentTypeError(f"expected RE=OLD_BINS:NEW_BINS (e.g. 'user_hash/.*=100:200'), got {text!r}")
    return pattern, (int(old), int(new))


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
    _add_apply(commands)
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
    _add_source_root(p)
    p.set_defaults(handler=cmd_inspect)


def _add_source_root(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source-root", metavar="PATH",
                   help="the sub-object of the checkpoint that is the model, for a checkpoint holding several "
                   "(tf.train.Checkpoint(generator=g, discriminator=d): --source-root generator)")


def _add_plan(commands: Any) -> None:
    p = _subparser(commands, "plan", "Plan a warm start (a dry run: nothing is written) and "
                   "show what would be loaded, skipped and missing.")
    _add_warm_start_options(p)
    p.set_defaults(handler=cmd_plan)


def _add_apply(commands: Any) -> None:
    p = _subparser(commands, "apply", "Build the model, warm-start it, and write a TF2 checkpoint of the result "
                   "(restorable by tf.train.Checkpoint of the same model, and by warm_start) and the report as "
                   "JSON into --out: the day-2 starting point, prepared before training starts.")
    _add_warm_start_options(p)
    p.add_argument("--out", required=True, metavar="DIR",
                   help="where the checkpoint (DIR/ckpt-1, with a 'checkpoint' state file) and report.json go")
    p.add_argument("--memory-budget", type=_positive, metavar="MiB",
                   help="hold up to this much verified data, stream larger tables (default: 256)")
    p.set_defaults(handler=cmd_apply)


def _add_warm_start_options(p: argparse.ArgumentParser) -> None:
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
    p.add_argument("--on-mismatch", choices=POLICIES, default="skip",
                   help="when shapes differ: error, skip (default), overlap (copy the common block) or "
                   "preserve (overlap, with the new inputs zeroed so the grown model computes what the old one did)")
    p.add_argument("--on-mismatch-for", action="append", default=[], type=mismatch_rule,
                   metavar="RE=POLICY", help="a policy for matching targets; first match wins")
    p.add_argument("--vocab", action="append", default=[], type=vocab_rule, metavar="RE=OLD:NEW[,OPT=V]",
                   help="remap the rows of matching tables by token between two vocabulary files; options: "
                   "num_oov_indices=N and mask_token= (a Keras lookup's mask and OOV rows first), "
                   "num_oov_buckets=N (TF1: OOV rows last), old_*, axis=1")
    p.add_argument("--hashed", action="append", default=[], type=hashed_rule, metavar="RE=OLD_BINS:NEW_BINS",
                   help="remap the rows of a hashed feature's table to a new number of bins")
    p.add_argument("--cast", action="append", default=[], metavar="SRC->DST",
                   help="allow a dtype change beyond the safe ones, e.g. 'float64->float32'")
    p.add_argument("--optimizer", action="store_true",
                   help="also carry the compiled optimizer's slots (the model factory returns a compiled model)")
    p.add_argument("--strict", action="store_true",
                   help="every included target must be loaded (or covered by --expect-missing)")
    p.add_argument("--expect-missing", action="append", default=[], metavar="RE",
                   help="targets expected to stay new under --strict")
    _add_source_root(p)
    p.add_argument("--all", action="store_true", help="show every row of the report's tables")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


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
