"""Acceptance: the CLI as a subprocess, as an operator runs it."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
import requests
from sqlalchemy import create_engine, text

from publisher import sample
from tests.builders import PUBLISHER, free_port, image, post_row, run_cli

pytestmark = pytest.mark.acceptance


def cli_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    env.update(
        {
            "PUBLISHER_SANDBOX_GRAPH_PORT": str(free_port()),
            "PUBLISHER_SANDBOX_MEDIA_PORT": str(free_port()),
            "PUBLISHER_LOG_FORMAT": "json",
            **overrides,
        }
    )
    return env


@pytest.mark.timeout(240)
def test_demo_publishes_all_but_the_preflight_post(tmp_path: Path) -> None:
    env = cli_env(tmp_path, PUBLISHER_SANDBOX_VIDEO_PROCESSING_SECONDS="2")

    result = run_cli(tmp_path, "demo", env=env, timeout=200)

    assert result.returncode == 0, result.stderr[-3000:]
    assert (
        "The simulator's publish log holds 5 publish(es) for 5 published post(s)"
        in (result.stdout)
    )
    with sqlite3.connect(tmp_path / "var" / "publisher.db") as db:
        rows = db.execute(
            "SELECT stage, executed_at, post_link, media_container_id, failed_at, "
            "failure FROM social_posts"
        ).fetchall()
    published = [row for row in rows if row[0] == "published"]
    failed = [row for row in rows if row[0] == "failed"]
    assert (len(published), len(failed), len(rows)) == (5, 1, 6)
    assert all(row[1] and row[2] and row[3] for row in published)
    [bad] = failed
    assert bad[4]
    assert "between 4:5 and 1.91:1" in bad[5]
    # The demo ends with the built-in writer's recommendations.
    assert "the built-in writer" in result.stdout
    assert "Just listed: 12 Harbor View Road, Portland, ME 04101" in result.stdout
    assert "Merry Christmas from Harbor Realty (demo)!" in result.stdout


@pytest.mark.postgres
def test_run_once_on_postgres_with_the_sandbox(tmp_path: Path, pg_url: str) -> None:
    media_port = free_port()
    env = cli_env(
        tmp_path,
        PUBLISHER_DATABASE_URL=pg_url,
        PUBLISHER_SANDBOX_MODE="on",
        PUBLISHER_SANDBOX_MEDIA_PORT=str(media_port),
        PUBLISHER_MEDIA_DIRECTORY=str(tmp_path / "media"),
        PUBLISHER_SANDBOX_VIDEO_PROCESSING_SECONDS="1",
    )
    engine = create_engine(pg_url)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        brand = sample.insert_brand(conn)
        user = sample.insert_user(conn)
        page = sample.insert_page(conn, brand)

        def post(
            data: bytes, mime: str, due_at: datetime | None, video: bool = False
        ) -> UUID:
            file = sample.insert_file(
                conn,
                tmp_path / "media",
                f"http://127.0.0.1:{media_port}",
                data,
                name="creative.bin",
                mime=mime,
            )
            template = sample.insert_template(conn, "t", video=video)
            instance = sample.insert_instance(conn, brand, template, file)
            return sample.insert_post(
                conn,
                brand=brand,
                user=user,
                page=page,
                due_at=due_at,
                caption="Just listed #home",
                template_instance=instance,
            )

        png = post(image(1080, 1080), "image/png", now)
        reel = post(sample.stand_in_video(), "video/mp4", now, video=True)
        future = post(image(1080, 1080), "image/png", now + timedelta(hours=2))
        draft = post(image(1080, 1080), "image/png", None)

    result = run_cli(tmp_path, "run", "--once", env=env)

    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "2 published"
    for published in (png, reel):
        row = post_row(engine, published)
        assert row.post_link
        assert row.executed_at is not None
    assert post_row(engine, png).prepared_media_url.endswith(".jpg")
    for untouched in (future, draft):
        assert post_row(engine, untouched).executed_at is None
    engine.dispose()


def test_db_init_twice_is_harmless(tmp_path: Path) -> None:
    env = cli_env(tmp_path)

    first = run_cli(tmp_path, "db", "init", env=env)
    second = run_cli(tmp_path, "db", "init", env=env)

    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("created tables: ")
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "schema already present; nothing to do"


def test_bad_setting_fails_at_start_naming_it(tmp_path: Path) -> None:
    env = cli_env(tmp_path, PUBLISHER_WORKER_CONCURRENCY="zero")

    result = run_cli(tmp_path, "run", "--once", env=env)

    assert result.returncode == 2
    assert re.search(
        r"worker\.concurrency .*PUBLISHER_WORKER_CONCURRENCY", result.stderr
    )
    assert "Traceback" not in result.stderr


def test_run_without_schema_says_so(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "run", "--once", env=cli_env(tmp_path))

    assert result.returncode == 2
    assert "run `publisher db init` first" in result.stderr


def test_run_once_with_nothing_due_exits_zero(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    assert run_cli(tmp_path, "db", "init", env=env).returncode == 0

    result = run_cli(tmp_path, "run", "--once", env=env)

    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "no posts were due"


@pytest.mark.postgres
@pytest.mark.timeout(90)
def test_daemon_publishes_then_stops_on_sigterm(tmp_path: Path, pg_url: str) -> None:
    media_port = free_port()
    env = cli_env(
        tmp_path,
        PUBLISHER_DATABASE_URL=pg_url,
        PUBLISHER_SANDBOX_MODE="on",
        PUBLISHER_SANDBOX_MEDIA_PORT=str(media_port),
        PUBLISHER_MEDIA_DIRECTORY=str(tmp_path / "media"),
        PUBLISHER_WORKER_POLL_INTERVAL_SECONDS="0.2",
    )
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        brand = sample.insert_brand(conn)
        user = sample.insert_user(conn)
        page = sample.insert_page(conn, brand)
        file = sample.insert_file(
            conn,
            tmp_path / "media",
            f"http://127.0.0.1:{media_port}",
            image(1080, 1080),
            name="c.png",
            mime="image/png",
        )
        asset = sample.insert_asset(conn, brand, file)
        post = sample.insert_post(
            conn,
            brand=brand,
            user=user,
            page=page,
            asset=asset,
            due_at=datetime.now(UTC),
            caption="daemon",
        )
    daemon = subprocess.Popen(
        [PUBLISHER, "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while post_row(engine, post).executed_at is None:
            assert time.monotonic() < deadline, "the daemon did not publish the post"
            assert daemon.poll() is None, daemon.communicate()[1][-3000:]
            time.sleep(0.2)
        daemon.send_signal(signal.SIGTERM)
        _out, err = daemon.communicate(timeout=30)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.communicate()

    assert daemon.returncode == 0, err[-3000:]
    assert '"event": "daemon_stopped"' in err
    row = post_row(engine, post)
    assert row.stage == "published"
    assert row.claimed_by is None
    with engine.connect() as conn:
        beats = conn.execute(text("SELECT count(*) FROM worker_heartbeats")).scalar()
    assert beats == 1
    engine.dispose()


def test_simulate_serves_the_graph_api(tmp_path: Path) -> None:
    port = free_port()
    simulator = subprocess.Popen(
        [PUBLISHER, "simulate", "--port", str(port)],
        cwd=tmp_path,
        env=cli_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                reply = requests.get(f"http://127.0.0.1:{port}/v25.0/me", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the simulator did not start"
                time.sleep(0.1)
        simulator.send_signal(signal.SIGTERM)
        simulator.communicate(timeout=20)
    finally:
        if simulator.poll() is None:
            simulator.kill()
            simulator.communicate()

    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == 190
    assert simulator.returncode == 0


def test_unreachable_database_is_said_without_the_password(tmp_path: Path) -> None:
    env = cli_env(
        tmp_path,
        PUBLISHER_DATABASE_URL=f"postgresql://u:hunter2@127.0.0.1:{free_port()}/x",
        PUBLISHER_MEDIA_BASE_URL="https://media.example.test",
    )

    for command in (["db", "init"], ["run", "--once"]):
        result = run_cli(tmp_path, *command, env=env)

        assert result.returncode == 5, result.stderr
        assert "cannot reach the database" in result.stderr
        assert "hunter2" not in result.stderr
        assert "Traceback" not in result.stderr


def test_busy_sandbox_port_names_the_setting(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    assert run_cli(tmp_path, "db", "init", env=env).returncode == 0
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env["PUBLISHER_SANDBOX_GRAPH_PORT"] = str(port)

        result = run_cli(tmp_path, "run", "--once", env=env)

    assert result.returncode == 2, result.stderr[-2000:]
    assert "PUBLISHER_SANDBOX_GRAPH_PORT" in result.stderr
    assert "Traceback" not in result.stderr
