"""Backfill on SQLite starts the sandbox: a port already taken changes nothing."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from publisher.db import db_now, init_schema
from publisher.runtime import build_worker
from publisher.settings import Settings
from publisher.tables import Stage
from tests.builders import free_port, make_brand, post_row, run_cli
from tests.conftest import GraphWorld


def test_a_sandbox_port_in_use_requeues_nothing(
    sqlite_url: str,
    world_settings: Callable[..., Settings],
    graph_world: GraphWorld,
    tmp_path: Path,
) -> None:
    worker = build_worker(world_settings(sqlite_url))
    engine = worker.engine
    try:
        init_schema(engine)
        brand = make_brand(engine, graph_world)
        with engine.connect() as conn:
            now = db_now(conn)
        post = brand.image_post(due_at=now - timedelta(hours=30))
        assert [m.id for m in worker.queue.mark_missed()] == [post]
    finally:
        worker.close()
    # What a sandbox daemon on the same file holds: the media port.
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    env = dict(
        os.environ,
        PUBLISHER_SANDBOX_MODE="on",
        PUBLISHER_SANDBOX_MEDIA_PORT=str(taken.getsockname()[1]),
        PUBLISHER_SANDBOX_GRAPH_PORT=str(free_port()),
    )
    window = ["--since", (now - timedelta(days=2)).isoformat(), "--until", "now"]
    try:
        result = run_cli(tmp_path, "backfill", *window, "--yes", env=env)
    finally:
        taken.close()

    assert result.returncode == 2, result.stderr
    assert "sandbox.media_port" in result.stderr
    row = post_row(engine, post)
    assert row.stage == Stage.MISSED and row.lateness_waived_at is None
    engine.dispose()
