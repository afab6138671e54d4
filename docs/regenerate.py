"""Rewrite every output shown in the README and the docs from what the code above it prints.

    python docs/regenerate.py              # every page, and the README's demo output (about a minute)
    python docs/regenerate.py --no-demo    # every page, not the demo
    python docs/regenerate.py docs/cli.md  # some pages

``tests/test_docs.py`` runs the same blocks and fails when a shown output no longer matches;
run this, read the diff, commit. The rules for writing a page are in ``docrun.py``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import docrun


def shown(ran: docrun.Ran) -> str:
    """What a page shows for a block: its output, with the world's folder taken out."""
    text = ran.printed
    for folder in ran.folders:
        text = text.replace(folder + os.sep, "").replace(folder, ".")
    return text


def demo(page: str) -> dict[int, str]:
    """Run the page's ``warmstart demo`` command as written; its parts by output block line."""
    command, parts = docrun.demo_blocks(page)
    if command is None:
        return {}
    argv = docrun.commands(command.text.replace(".venv/bin/warmstart", "warmstart"))[0][1:]
    started = time.perf_counter()
    printed = docrun.run_demo(argv[1:])
    print(f"{page}: warmstart {' '.join(argv)}: {time.perf_counter() - started:.0f} s")
    out = Path(argv[argv.index("--out") + 1]) if "--out" in argv else Path("warmstart-demo")
    shutil.copyfile(out / "curves.png", docrun.ROOT / "docs" / "demo.png")
    texts = docrun.demo_parts(printed)
    return {block.line: texts[part] for part, block in parts.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pages", nargs="*", help="README.md, docs/*.md (default: all)")
    parser.add_argument("--no-demo", action="store_true", help="leave the README's demo output as it is")
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="warmstart-docs-"))
    try:
        for page in args.pages or docrun.PAGES:
            page = str(Path(page).resolve().relative_to(docrun.ROOT))
            outputs = {ran.block.output.line: shown(ran) for ran in docrun.run_page(page, scratch)
                       if ran.block.output is not None}
            if not args.no_demo:
                outputs.update(demo(page))
            changed = docrun.rewrite(page, outputs)
            print(f"{page}: {len(outputs)} outputs, {'rewritten' if changed else 'unchanged'}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
