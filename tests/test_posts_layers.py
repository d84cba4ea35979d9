"""The read/write module sits beside the worker: it imports only the shared
rooms, and nothing the worker runs imports it."""

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
        outside = {n for n in imported(path) if not n.startswith("publisher.posts")}
        assert outside <= ALLOWED, (path.name, outside - ALLOWED)


def test_the_worker_never_imports_posts() -> None:
    worker = [p for p in PACKAGE.rglob("*.py") if "posts" not in p.parts]
    worker.remove(PACKAGE / "cli.py")  # registers the `posts` command group
    for path in worker:
        assert not any(n.startswith("publisher.posts") for n in imported(path)), path
