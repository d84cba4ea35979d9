"""`publisher health` and the systemd notify path, against real daemons and servers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from publisher.db import init_schema
from publisher.queue import Queue
from publisher.settings import Settings
from tests.builders import PUBLISHER, run_cli
from tests.pg import start_cluster

pytestmark = pytest.mark.postgres


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    """A unix datagram socket standing in for systemd's notify socket."""
    directory = tempfile.mkdtemp(prefix="notify-")
    path = os.path.join(directory, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    try:
        yield sock, path
    finally:
        sock.close()
        os.unlink(path)
        os.rmdir(directory)


def _messages(sock: socket.socket, seconds: float) -> list[str]:
    """Every datagram received within `seconds`."""
    got = []
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            break
    return got


def _health(tmp_path: Path, env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    result = run_cli(tmp_path, "health", "--json", env=env, timeout=60)
    return result.returncode, json.loads(result.stdout)


@pytest.mark.timeout(120)
def test_health_follows_a_running_daemon_and_its_stuck_poll_loop(
    pg_url: str,
    world_settings: Callable[..., Settings],
    notify_socket: tuple[socket.socket, str],
    tmp_path: Path,
) -> None:
    world_settings(
        pg_url, worker_poll_interval_seconds=0.2, health_max_poll_age_seconds=2
    )
    env = dict(os.environ)
    code, before = _health(tmp_path, env)
    assert code == 1
    assert before["poll"]["ok"] is False

    sock, path = notify_socket
    log = tmp_path / "daemon.log"
    with log.open("w") as log_file:
        daemon = subprocess.Popen(
            [PUBLISHER, "run"],
            cwd=tmp_path,
            env={**env, "NOTIFY_SOCKET": path},
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
    engine = create_engine(pg_url)
    try:
        first = _messages(sock, 10)
        assert first[:1] == ["READY=1"], log.read_text()[-3000:]
        assert "WATCHDOG=1" in first
        code, report = _health(tmp_path, env)
        assert code == 0, report
        assert report["ok"] is True
        assert {"database", "schema", "poll"} <= set(report)

        # A poll that blocks (a lock held on the posts) stops the pings and the
        # heartbeat: health fails while the process is still up.
        with engine.connect() as blocker:
            blocker.execute(text("LOCK TABLE social_posts IN ACCESS EXCLUSIVE MODE"))
            _messages(sock, 1)  # the tick already past the lock
            assert _messages(sock, 3) == []
            code, stuck = _health(tmp_path, env)
            assert code == 1, stuck
            assert "stuck" in stuck["poll"]["detail"]
            assert daemon.poll() is None
            blocker.rollback()

        assert "WATCHDOG=1" in _messages(sock, 5)
        code, _report = _health(tmp_path, env)
        assert code == 0
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        finally:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait()
        engine.dispose()
    assert daemon.returncode == 0, log.read_text()[-3000:]


@pytest.mark.timeout(120)
def test_health_fails_while_the_database_is_down(tmp_path: Path) -> None:
    # A cluster of its own: stopping it must not disturb the session's.
    cluster = start_cluster()
    running = True
    try:
        url = cluster.url
        engine = create_engine(url)
        init_schema(engine)
        queue = Queue(engine, "health-test", timedelta(seconds=30))
        queue.heartbeat(socket.gethostname(), os.getpid(), datetime.now(UTC))
        engine.dispose()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")},
            "PUBLISHER_DATABASE_URL": url,
            "PUBLISHER_DATABASE_CONNECT_TIMEOUT_SECONDS": "2",
            "PUBLISHER_LOG_FORMAT": "json",
        }
        code, report = _health(tmp_path, env)
        assert code == 0, report

        cluster.stop()
        running = False
        code, report = _health(tmp_path, env)
        assert code == 1
        assert report["database"]["ok"] is False
        assert "cannot reach" in report["database"]["detail"]
        assert report["poll"]["ok"] is False
    finally:
        if running:
            cluster.stop()


def test_health_names_the_missing_schema(pg_url: str, tmp_path: Path) -> None:
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE social_posts DROP COLUMN lateness_waived_at"))
        conn.execute(text("DROP TABLE webhook_outbox"))
    engine.dispose()
    env = {**os.environ, "PUBLISHER_DATABASE_URL": pg_url}

    code, report = _health(tmp_path, env)

    assert code == 1
    schema = report["schema"]
    assert schema["ok"] is False
    assert schema["facts"] == {
        "missing_tables": ["webhook_outbox"],
        "missing_columns": ["social_posts.lateness_waived_at"],
    }
