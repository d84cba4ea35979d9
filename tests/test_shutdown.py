"""Acceptance: `publisher run` stopped by signals, on PostgreSQL.

The first SIGTERM stops claiming, lets the attempts in flight finish within
`worker.shutdown_grace_seconds`, gives back what it still holds (a post in
publish-sent excepted: rescue reconciles it) and exits 0; a second signal exits
at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

import pytest
from sqlalchemy import Engine, create_engine, func, select

from publisher.runtime import Worker, build_worker
from publisher.settings import Settings
from publisher.tables import Stage, social_posts
from tests.builders import PUBLISHER, make_brand, post_row
from tests.conftest import GraphWorld

pytestmark = [pytest.mark.postgres, pytest.mark.acceptance]


def _env(world: GraphWorld, database_url: str, grace: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    env.update(
        {
            "PUBLISHER_DATABASE_URL": database_url,
            "PUBLISHER_GRAPH_BASE_URL": world.simulator.url,
            "PUBLISHER_GRAPH_READ_TIMEOUT_SECONDS": "60",
            "PUBLISHER_MEDIA_BASE_URL": world.media.url,
            "PUBLISHER_MEDIA_DIRECTORY": str(world.media_dir),
            "PUBLISHER_SANDBOX_MODE": "off",
            "PUBLISHER_WORKER_LEASE_SECONDS": "5",
            "PUBLISHER_WORKER_POLL_INTERVAL_SECONDS": "0.2",
            "PUBLISHER_WORKER_SHUTDOWN_GRACE_SECONDS": str(grace),
            "PUBLISHER_LOG_FORMAT": "json",
        }
    )
    return env


@contextmanager
def daemon(
    tmp_path: Path, world: GraphWorld, database_url: str, grace: float
) -> Iterator[subprocess.Popen[bytes]]:
    with (tmp_path / "daemon.log").open("wb") as log:
        process = subprocess.Popen(
            [PUBLISHER, "run"],
            cwd=tmp_path,
            env=_env(world, database_url, grace),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def claimed(engine: Engine, posts: list[UUID]) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).where(
                    social_posts.c.id.in_(posts), social_posts.c.claimed_by.is_not(None)
                )
            ).scalar_one()
        )


@pytest.fixture
def helper(pg_url: str, world_settings: Callable[..., Settings]) -> Iterator[Worker]:
    """A worker in the test process: for its engine, and as the rescuer."""
    worker = build_worker(world_settings(pg_url, worker_lease_seconds=5))
    yield worker
    worker.close()


def test_sigterm_finishes_what_it_can_and_gives_back_the_rest(
    helper: Worker, graph_world: GraphWorld, pg_url: str, tmp_path: Path
) -> None:
    """Four posts in flight: two can finish within the 10 s grace, two are stuck
    in a container create that answers after 60 s. Exit 0 at the end of the
    grace, the two published, the two others given back, claimable at once."""
    # The quick ones on pages of their own: a page publishes one post at a time.
    quick = [make_brand(helper.engine, graph_world) for _ in range(2)]
    stuck = make_brand(helper.engine, graph_world)
    finished = [page.image_post(caption="quick") for page in quick]
    released = [stuck.image_post(caption=f"stuck {n}") for n in range(2)]
    graph_world.control(
        "faults",
        {
            "operation": "create_container",
            "kind": "hang",
            "delay": 60,
            "times": 2,
            "account": stuck.ig_user_id,
        },
    )
    for page in quick:
        graph_world.control(
            "faults",
            {
                "operation": "create_container",
                "kind": "slow",
                "delay": 1,
                "account": page.ig_user_id,
            },
        )
    with daemon(tmp_path, graph_world, pg_url, grace=10) as process:
        wait_for(lambda: claimed(helper.engine, finished + released) == 4, 20, "claims")
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(40)
        took = time.monotonic() - started

    log = (tmp_path / "daemon.log").read_text()
    assert code == 0, log[-3000:]
    assert took < 40, "the daemon waited for the stuck call, not the grace period"
    assert '"event": "shutdown_grace_expired"' in log
    for post in finished:
        assert post_row(helper.engine, post).stage == Stage.PUBLISHED
    for post in released:
        row = post_row(helper.engine, post)
        assert row.claimed_by is None and row.claimed_until is None
        assert row.executed_at is None
    assert claimed(helper.engine, finished + released) == 0

    # Given back, not lost: another daemon publishes them once each.
    code, summary = helper.daemon.run_until(released, timeout=30)
    assert (code, summary) == (0, {"published": 2})
    assert len(graph_world.publishes()) == 4


def test_post_in_publish_sent_keeps_its_lease_for_rescue(
    helper: Worker, graph_world: GraphWorld, pg_url: str, tmp_path: Path
) -> None:
    """A publish call outlives the grace: its post is not given back (the call
    may have gone through), and rescue reconciles it once the lease runs out."""
    brand = make_brand(helper.engine, graph_world)
    post = brand.image_post(caption="publish outlives the grace")
    graph_world.control(
        "faults", {"operation": "media_publish", "kind": "apply_then_hang", "delay": 30}
    )
    with daemon(tmp_path, graph_world, pg_url, grace=1) as process:
        wait_for(lambda: len(graph_world.publishes()) == 1, 20, "the publish")
        process.send_signal(signal.SIGTERM)
        code = process.wait(20)

    assert code == 0, (tmp_path / "daemon.log").read_text()[-3000:]
    row = post_row(helper.engine, post)
    assert row.stage == Stage.PUBLISH_SENT and row.claimed_by is not None

    code, summary = helper.daemon.run_until([post], timeout=30)
    assert (code, summary) == (0, {"published": 1})
    assert len(graph_world.publishes()) == 1


def test_second_signal_exits_at_once(
    helper: Worker, graph_world: GraphWorld, pg_url: str, tmp_path: Path
) -> None:
    brand = make_brand(helper.engine, graph_world)
    post = brand.image_post(caption="interrupted twice")
    graph_world.control(
        "faults", {"operation": "create_container", "kind": "hang", "delay": 30}
    )
    with daemon(tmp_path, graph_world, pg_url, grace=60) as process:
        wait_for(lambda: claimed(helper.engine, [post]) == 1, 20, "the claim")
        wait_for(lambda: graph_world.control("faults")["data"] == [], 10, "the call")
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert process.poll() is None, "the first signal must wait for the attempt"
        process.send_signal(signal.SIGTERM)
        code = process.wait(10)

    assert code == 130
    # Left to the lease, which rescue handles; never published.
    assert graph_world.publishes() == []
    engine = create_engine(pg_url)
    try:
        assert post_row(engine, post).executed_at is None
    finally:
        engine.dispose()
