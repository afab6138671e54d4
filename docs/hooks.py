"""MkDocs hooks: the README, the changelog and the contributing guide are pages of the site
without being copied into ``docs/`` (one file each, read on GitHub and on the site alike).

Links between them and ``docs/*.md`` are written for GitHub (``docs/guide.md`` from the
README, ``../README.md`` from a page); here they are rewritten to the site's paths.
(Docstrings are translated for the site by ``griffe_docstrings.py``.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
OUTSIDE = {"README.md": "index.md", "CHANGELOG.md": "changelog.md", "CONTRIBUTING.md": "contributing.md"}


def on_files(files: Files, config: Any) -> Files:
    for source, page in OUTSIDE.items():
        files.append(File.generated(config, page, abs_src_path=str(ROOT / source)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    outside = page.file.src_uri in OUTSIDE.values()
    for source, target in OUTSIDE.items():
        markdown = markdown.replace(f"]({'' if outside else '../'}{source}", f"]({target}")
    if outside:
        markdown = markdown.replace("](docs/", "](")
    return markdown
