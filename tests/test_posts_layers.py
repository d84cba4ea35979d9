"""The read/write module sits beside the worker: it imports only the shared
rooms and the caption writers, and nothing the worker runs imports either."""

from __future__ import annotations

import ast
from pathlib import Path

import publisher

PACKAGE = Path(publisher.__file__).parent
ALLOWED = {
    "publisher.cli_settings",
    "publisher.db",
    "publisher.logs",
    "publisher.rules",
    "publisher.settings",
    "publisher.tables",
}


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.startswith("publisher")}


def test_posts_imports_only_the_shared_rooms() -> None:
    for path in (PACKAGE / "posts").glob("*.py"):
        outside = {
            n
            for n in imported(path)
            if not n.startswith(("publisher.posts", "publisher.captions"))
        }
        assert outside <= ALLOWED, (path.name, outside - ALLOWED)


# The caption writers read no database and know nothing of posts: facts in,
# caption out. They share the creative download with the worker.
CAPTIONS_ALLOWED = {"publisher.media_fetch", "publisher.rules", "publisher.settings"}


def test_captions_import_only_rules_settings_and_the_download() -> None:
    for path in (PACKAGE / "captions").glob("*.py"):
        outside = {n for n in imported(path) if not n.startswith("publisher.captions")}
        assert outside <= CAPTIONS_ALLOWED, (path.name, outside - CAPTIONS_ALLOWED)


def test_the_worker_never_imports_posts_or_captions() -> None:
    worker = [
        p
        for p in PACKAGE.rglob("*.py")
        if "posts" not in p.parts and "captions" not in p.parts
    ]
    worker.remove(PACKAGE / "cli.py")  # registers the `posts` command group
    worker.remove(PACKAGE / "demo.py")  # shows a caption recommendation too
    for path in worker:
        names = imported(path)
        assert not any(
            n.startswith(("publisher.posts", "publisher.captions")) for n in names
        ), path
