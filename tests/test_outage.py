"""A 72-hour outage on PostgreSQL: the lateness limit, then a deliberate backfill."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import Engine, create_engine, select, update

from publisher.backfill import Window, make_plan, requeue
from publisher.db import db_now, init_schema
from publisher.runtime import build_worker
from publisher.settings import Settings
from publisher.tables import Stage, facebook_pages, social_posts
from tests.builders import PUBLISHER, Brand, make_brand, post_row, run_cli
from tests.conftest import GraphWorld

pytestmark = pytest.mark.postgres

# Hours before the database's now at which each post fell due; the limit is 24 h.
OUTAGE_HOURS = [71.5, 66, 54, 47, 36, 30, 25, 23.5, 18, 12, 6, 1, 0.01]
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _snapshot(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(social_posts).order_by(social_posts.c.id)))


def _outage(engine: Engine, brands: list[Brand]) -> dict[str, tuple[UUID, Brand]]:
    with engine.connect() as conn:
        now = db_now(conn)
    posts = {}
    for number, hours in enumerate(OUTAGE_HOURS):
        brand = brands[number % len(brands)]
        caption = f"due {hours} h ago"
        due = now - timedelta(hours=hours)
        posts[caption] = (brand.image_post(caption=caption, due_at=due), brand)
    return posts


@pytest.mark.timeout(240)
def test_outage_then_backfill(
    pg_url: str,
    world_settings: Callable[..., Settings],
    graph_world: GraphWorld,
    tmp_path: Path,
) -> None:
    settings = world_settings(
        pg_url,
        worker_concurrency=1,
        worker_claim_batch=1,
        worker_retry_base_seconds=0.2,
        worker_retry_max_seconds=0.5,
    )
    engine = create_engine(pg_url)
    brands = [make_brand(engine, graph_world), make_brand(engine, graph_world)]
    posts = _outage(engine, brands)
    on_time = [f"due {h} h ago" for h in OUTAGE_HOURS if h < 24]
    too_late = [f"due {h} h ago" for h in OUTAGE_HOURS if h >= 24]

    # The daemon comes back: within the limit published oldest first, rest missed.
    worker = build_worker(settings)
    try:
        code, summary = worker.daemon.run_once(timeout=120)
    finally:
        worker.close()
    assert summary == {"published": len(on_time), "missed": len(too_late)}
    assert code == 3
    assert [p["caption"] for p in graph_world.publishes()] == on_time
    for caption in too_late:
        row = post_row(engine, posts[caption][0])
        assert row.stage == Stage.MISSED
        assert row.failed_at is not None and row.executed_at is not None
        assert row.failure.startswith("Not published: it was ")
        assert "more than the 1 day a post may be late" in row.failure
    oldest = post_row(engine, posts["due 71.5 h ago"][0])
    assert "2 days 23 hours late" in oldest.failure

    # The dry run lists exactly the missed posts and changes nothing.
    env = {**os.environ, "COLUMNS": "250"}
    with engine.connect() as conn:
        now = db_now(conn)
    window = ["--since", (now - timedelta(hours=73)).isoformat()]
    window += ["--until", (now + timedelta(seconds=1)).isoformat()]
    before = _snapshot(engine)
    dry = run_cli(tmp_path, "backfill", *window, "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr[-3000:]
    listed = {UUID(text) for text in UUID_TEXT.findall(dry.stdout)}
    assert listed == {posts[caption][0] for caption in too_late}
    assert _snapshot(engine) == before

    # Meta throttles the first page once: its posts wait, the other page goes on.
    throttled = brands[0]
    graph_world.control(
        "faults",
        {
            "operation": "media_publish",
            "kind": "rate_limit",
            "minutes": 0,
            "account": throttled.ig_user_id,
        },
    )
    done = run_cli(tmp_path, "backfill", *window, "--yes", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"backfill summary: {len(too_late)} published" in done.stdout
    captions = [p["caption"] for p in graph_world.publishes()]
    assert sorted(captions) == sorted(on_time + too_late)
    assert len(set(captions)) == len(captions)
    for caption in too_late:
        row = post_row(engine, posts[caption][0])
        assert row.stage == Stage.PUBLISHED
        assert row.lateness_waived_at is not None
    with engine.connect() as conn:
        paused = conn.execute(
            select(facebook_pages.c.throttled_until).where(
                facebook_pages.c.id == throttled.page
            )
        ).scalar_one()
    assert paused is not None
    # The oldest post's page was paused, so the other page's oldest went first;
    # the other page, never throttled, went out oldest first.
    backfilled = captions[len(on_time) :]
    assert backfilled[0] == too_late[1]
    free = [c for c in too_late if posts[c][1] is brands[1]]
    assert [c for c in backfilled if c in free] == free

    # A second backfill has nothing to publish.
    again = run_cli(tmp_path, "backfill", *window, "--yes", env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "0 post(s) to publish" in again.stdout
    assert len(graph_world.publishes()) == len(captions)
    engine.dispose()


def test_backfill_refuses_without_yes_off_a_terminal(
    pg_url: str,
    world_settings: Callable[..., Settings],
    graph_world: GraphWorld,
    tmp_path: Path,
) -> None:
    world_settings(pg_url)
    engine = create_engine(pg_url)
    brand = make_brand(engine, graph_world)
    with engine.connect() as conn:
        now = db_now(conn)
    post = brand.image_post(due_at=now - timedelta(hours=30))
    worker = build_worker(world_settings(pg_url))
    try:
        assert [m.id for m in worker.queue.mark_missed()] == [post]
    finally:
        worker.close()
    window = ["--since", (now - timedelta(days=2)).isoformat(), "--until", "now"]

    refused = run_cli(tmp_path, "backfill", *window, env=dict(os.environ))

    assert refused.returncode == 2
    assert "without --yes" in refused.stderr
    assert post_row(engine, post).stage == Stage.MISSED
    naive = run_cli(
        tmp_path,
        "backfill",
        "--since",
        "2026-01-01T00:00",
        "--until",
        "now",
        env=dict(os.environ),
    )
    assert naive.returncode == 2
    assert "has no offset" in naive.stderr
    # A date alone: the hint is a time that is then accepted.
    day = run_cli(
        tmp_path,
        "backfill",
        "--since",
        "2026-01-01",
        "--until",
        "now",
        env=dict(os.environ),
    )
    assert "2026-01-01T00:00+00:00 or 2026-01-01T00:00Z" in day.stderr
    for hinted in ("2026-01-01T00:00+00:00", "2026-01-01T00:00Z"):
        dry = run_cli(
            tmp_path,
            "backfill",
            "--since",
            hinted,
            "--until",
            "now",
            "--dry-run",
            env=dict(os.environ),
        )
        assert dry.returncode == 0, dry.stderr
    engine.dispose()


def test_the_sweep_spares_sent_leased_and_waived_posts(
    any_url: str, world_settings: Callable[..., Settings], graph_world: GraphWorld
) -> None:
    worker = build_worker(world_settings(any_url))
    engine = worker.engine
    init_schema(engine)
    brand = make_brand(engine, graph_world)
    with engine.connect() as conn:
        now = db_now(conn)
    old = now - timedelta(days=3)
    sent = brand.image_post(due_at=old, stage=Stage.PUBLISH_SENT.value)
    leased = brand.image_post(
        due_at=old, claimed_by="other", claimed_until=now + timedelta(minutes=5)
    )
    waived = brand.image_post(due_at=old, lateness_waived_at=now)
    stale = brand.image_post(due_at=old)
    try:
        missed = worker.queue.mark_missed()
        assert [m.id for m in missed] == [stale]
        # Neither is the claim allowed to take a too-late post the sweep missed.
        with engine.begin() as conn:
            conn.execute(
                update(social_posts)
                .where(social_posts.c.id == stale)
                .values(stage=Stage.QUEUED.value, executed_at=None)
            )
        claimed = {post.id for post in worker.queue.claim(10)}
        assert claimed == {sent, waived}
        assert post_row(engine, leased).stage == Stage.QUEUED
    finally:
        worker.close()


def test_an_interrupted_backfill_is_finished_by_running_it_again(
    pg_url: str,
    world_settings: Callable[..., Settings],
    graph_world: GraphWorld,
    tmp_path: Path,
) -> None:
    settings = world_settings(pg_url)
    engine = create_engine(pg_url)
    brand = make_brand(engine, graph_world)
    with engine.connect() as conn:
        now = db_now(conn)
    old = [
        brand.image_post(caption=f"old {n}", due_at=now - timedelta(days=2 + n))
        for n in range(3)
    ]
    worker = build_worker(settings)
    try:
        assert {m.id for m in worker.queue.mark_missed()} == set(old)
    finally:
        worker.close()
    # A backfill killed right after it re-queued its plan: nothing published yet,
    # and a daemon's sweep leaves the waived posts alone.
    window = Window(now - timedelta(days=6), now)
    assert requeue(engine, make_plan(engine, window)) == 3
    worker = build_worker(settings)
    try:
        assert worker.queue.mark_missed() == []
    finally:
        worker.close()

    env = {**os.environ, "COLUMNS": "250"}
    since, until = window.since.isoformat(), window.until.isoformat()
    rerun = run_cli(
        tmp_path, "backfill", "--since", since, "--until", until, "--yes", env=env
    )

    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert rerun.stdout.count("re-queued earlier") == 3
    assert sorted(p["caption"] for p in graph_world.publishes()) == [
        "old 0",
        "old 1",
        "old 2",
    ]
    assert all(post_row(engine, post).stage == Stage.PUBLISHED for post in old)
    engine.dispose()


@pytest.mark.timeout(180)
def test_backfill_beside_a_running_daemon_publishes_each_post_once(
    pg_url: str,
    world_settings: Callable[..., Settings],
    graph_world: GraphWorld,
    tmp_path: Path,
) -> None:
    settings = world_settings(pg_url, worker_poll_interval_seconds=0.1)
    engine = create_engine(pg_url)
    brand = make_brand(engine, graph_world)
    with engine.connect() as conn:
        now = db_now(conn)
    old = [
        brand.image_post(caption=f"old {n}", due_at=now - timedelta(days=2, hours=n))
        for n in range(6)
    ]
    worker = build_worker(settings)
    try:
        assert len(worker.queue.mark_missed()) == len(old)
    finally:
        worker.close()
    env = {**os.environ, "COLUMNS": "250"}
    log = tmp_path / "daemon.log"
    with log.open("w") as log_file:
        daemon = subprocess.Popen(
            [PUBLISHER, "run"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
    try:
        since = (now - timedelta(days=3)).isoformat()
        done = run_cli(
            tmp_path, "backfill", "--since", since, "--until", "now", "--yes", env=env
        )
        assert done.returncode == 0, done.stderr[-3000:]
        # The daemon neither misses the waived posts again nor publishes a second
        # copy of one the backfill took (or the other way round).
        time.sleep(1)
        assert daemon.poll() is None, log.read_text()[-3000:]
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    captions = sorted(p["caption"] for p in graph_world.publishes())
    assert captions == sorted(f"old {n}" for n in range(6))
    assert all(post_row(engine, post).stage == Stage.PUBLISHED for post in old)
    engine.dispose()
