"""Acceptance: PostgreSQL restarts under a running `publisher run` daemon.

The test has a cluster of its own, so the session cluster the other tests share
is never restarted under them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, select, text

from publisher.db import init_schema
from publisher.tables import social_posts
from tests.builders import PUBLISHER, make_brand
from tests.conftest import GraphWorld
from tests.pg import Cluster, start_cluster

pytestmark = [pytest.mark.postgres, pytest.mark.acceptance]

POSTS = 200
PAGES = 20


@pytest.fixture
def own_cluster() -> Iterator[Cluster]:
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


def _published(engine: Engine) -> int:
    with engine.connect() as conn:
        query = select(func.count()).where(social_posts.c.stage == "published")
        return int(conn.execute(query).scalar_one())


def _server_start(engine: Engine) -> object:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_postmaster_start_time()")).scalar_one()


@pytest.mark.timeout(400)
def test_database_restart_during_200_posts_publishes_each_once(
    own_cluster: Cluster, graph_world: GraphWorld, tmp_path: Path
) -> None:
    admin = create_engine(own_cluster.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE restarted"))
    admin.dispose()
    url = own_cluster.url.rsplit("/", 1)[0] + "/restarted"
    engine = create_engine(url, pool_pre_ping=True)
    init_schema(engine)
    brands = [make_brand(engine, graph_world) for _ in range(PAGES)]
    posts = [brands[n % PAGES].image_post(caption=f"restart {n}") for n in range(POSTS)]

    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    env.update(
        {
            "PUBLISHER_DATABASE_URL": url,
            "PUBLISHER_GRAPH_BASE_URL": graph_world.simulator.url,
            "PUBLISHER_MEDIA_BASE_URL": graph_world.media.url,
            "PUBLISHER_MEDIA_DIRECTORY": str(graph_world.media_dir),
            "PUBLISHER_SANDBOX_MODE": "off",
            "PUBLISHER_WORKER_LEASE_SECONDS": "10",
            "PUBLISHER_WORKER_POLL_INTERVAL_SECONDS": "0.2",
            "PUBLISHER_WORKER_RETRY_BASE_SECONDS": "0.5",
            "PUBLISHER_WORKER_RETRY_MAX_SECONDS": "2",
            "PUBLISHER_LOG_FORMAT": "json",
        }
    )
    log = tmp_path / "daemon.log"
    with log.open("wb") as out:
        daemon = subprocess.Popen(
            [PUBLISHER, "run"], cwd=tmp_path, env=env, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 300
        while _published(engine) < POSTS // 4:
            assert time.monotonic() < deadline, "the daemon did not get going"
            time.sleep(0.2)
        started = _server_start(engine)
        own_cluster.restart()
        restarted_at = _published(engine)
        assert _server_start(engine) > started
        while _published(engine) < POSTS:
            assert daemon.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"{_published(engine)} published"
            time.sleep(0.5)

        assert daemon.poll() is None, "the daemon exited on the restart"
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(60) == 0, log.read_text()[-3000:]
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(10)

    assert restarted_at < POSTS, "the restart came after the run"
    counts = Counter(
        p["source_url"].rsplit("/", 1)[-1][:36] for p in graph_world.publishes()
    )
    assert sorted(counts) == sorted(str(post) for post in posts)
    assert set(counts.values()) == {1}
    with engine.connect() as conn:
        leftovers = conn.execute(
            select(func.count()).where(social_posts.c.claimed_by.is_not(None))
        ).scalar_one()
    assert leftovers == 0
    engine.dispose()
