"""Each error class's path end to end against the simulator, on PostgreSQL: a
transient 5xx retried, an auth error holding the page, the publishing quota
deferring one page while others publish, and one publish per page at a time."""

from __future__ import annotations

import io
import itertools
import json
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
import requests
import structlog
from sqlalchemy import func, select, update

from publisher.logs import configure_logging
from publisher.queue import PageBusy, Queue
from publisher.queue_rows import ClaimedPost
from publisher.runtime import Worker
from publisher.settings import Settings
from publisher.tables import Stage, facebook_pages, social_posts
from tests.builders import image, make_brand, post_row, worker_builder
from tests.conftest import GraphWorld

pytestmark = pytest.mark.postgres

FAST: dict[str, object] = {
    "worker_lease_seconds": 5,
    "worker_retry_base_seconds": 0.2,
    "worker_retry_max_seconds": 0.5,
    "graph_read_timeout_seconds": 3,
}


@pytest.fixture
def new_worker(
    pg_url: str, world_settings: Callable[..., Settings]
) -> Iterator[Callable[..., Worker]]:
    with worker_builder(pg_url, world_settings, FAST) as build:
        yield build


@pytest.fixture
def events() -> Iterator[Callable[[str], list[dict[str, object]]]]:
    """The JSON log events of the test with a given name."""
    stream = io.StringIO()
    configure_logging("json", "debug", stream=stream)

    def named(name: str) -> list[dict[str, object]]:
        lines = [json.loads(line) for line in stream.getvalue().splitlines() if line]
        return [line for line in lines if line.get("event") == name]

    try:
        yield named
    finally:
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()


def calls(world: GraphWorld, operation: str, account: str) -> list[dict[str, object]]:
    return [
        c
        for c in world.control("calls")["data"]
        if c["operation"] == operation and c["account"] == account
    ]


def publishes_of(world: GraphWorld, post: UUID) -> list[dict[str, object]]:
    return [p for p in world.publishes() if str(post) in str(p["source_url"])]


def test_transient_5xx_is_retried_then_published(
    new_worker: Callable[..., Worker], graph_world: GraphWorld
) -> None:
    """A 500 on the container create ends the attempt with a backoff; a 500 on an
    idempotent read is retried inside the attempt. Either way: published once."""
    worker = new_worker()
    brand = make_brand(worker.engine, graph_world)
    post = brand.image_post(caption="after a 500")
    for operation in ("create_container", "container_status"):
        graph_world.control(
            "faults",
            {"operation": operation, "kind": "http_500", "account": brand.ig_user_id},
        )

    code, summary = worker.daemon.run_once(timeout=20)

    assert (code, summary) == (0, {"published": 1})
    row = post_row(worker.engine, post)
    assert row.attempts == 1, "the create's 500 took one attempt"
    assert [
        c["status"] for c in calls(graph_world, "create_container", brand.ig_user_id)
    ] == [
        500,
        200,
    ]
    statuses = [
        c["status"] for c in calls(graph_world, "container_status", brand.ig_user_id)
    ]
    assert statuses[:2] == [500, 200]
    assert len(publishes_of(graph_world, post)) == 1 and row.post_link


def test_auth_error_holds_every_post_of_the_page_with_one_event(
    new_worker: Callable[..., Worker],
    graph_world: GraphWorld,
    events: Callable[[str], list[dict[str, object]]],
) -> None:
    worker = new_worker(worker_concurrency=4)
    brand = make_brand(worker.engine, graph_world)
    other = make_brand(worker.engine, graph_world)
    posts = [brand.image_post(caption=f"held {n}") for n in range(4)]
    fine = other.image_post(caption="other page")
    graph_world.control("tokens/expire", {"access_token": brand.token})

    worker.daemon.run_once(timeout=10)

    assert len(events("page_needs_reauth")) == 1
    assert post_row(worker.engine, fine).stage == Stage.PUBLISHED
    for post in posts:
        row = post_row(worker.engine, post)
        assert row.executed_at is None and row.claimed_by is None
        assert "reconnect" in (row.last_error or "").lower()
    # Held: a later run sends nothing at all with the dead token.
    sent = len(graph_world.control("calls")["data"])
    worker.daemon.run_until(posts, timeout=3)
    assert len(graph_world.control("calls")["data"]) == sent

    # Reconnected with a new token: the held posts go out, once each.
    new_token = "reconnected-token"
    graph_world.control(
        "accounts",
        {
            "page_id": brand.facebook_page_id,
            "ig_user_id": brand.ig_user_id,
            "access_token": new_token,
        },
    )
    with worker.engine.begin() as conn:
        conn.execute(
            update(facebook_pages)
            .where(facebook_pages.c.id == brand.page)
            .values(access_token=new_token, needs_reauth_at=None, reauth_reason=None)
        )
        conn.execute(
            update(social_posts)
            .where(social_posts.c.id.in_(posts))
            .values(next_attempt_at=None)
        )
    code, summary = worker.daemon.run_until(posts, timeout=30)

    assert (code, summary) == (0, {"published": 4})
    assert all(len(publishes_of(graph_world, post)) == 1 for post in posts)


def test_quota_used_up_defers_its_page_while_other_pages_publish(
    new_worker: Callable[..., Worker], graph_world: GraphWorld
) -> None:
    worker = new_worker(worker_concurrency=4)
    full = make_brand(worker.engine, graph_world)
    graph_world.control(
        "accounts",
        {
            "page_id": full.facebook_page_id,
            "ig_user_id": full.ig_user_id,
            "access_token": full.token,
            "quota_total": 2,
        },
    )
    others = [make_brand(worker.engine, graph_world) for _ in range(2)]
    waiting = [full.image_post(caption=f"quota {n}") for n in range(4)]
    free = [b.image_post(caption=f"free {n}") for n, b in enumerate(others * 2)]

    worker.daemon.run_once(timeout=10)

    for post in free:
        assert len(publishes_of(graph_world, post)) == 1
        assert post_row(worker.engine, post).stage == Stage.PUBLISHED
    rows = [post_row(worker.engine, post) for post in waiting]
    done = [row for row in rows if row.stage == Stage.PUBLISHED]
    held = [row for row in rows if row.executed_at is None]
    assert len(done) == 2 and len(held) == 2
    assert all("limit" in (row.last_error or "") for row in held)
    assert all(row.failed_at is None and row.claimed_by is None for row in held)
    # The quota was read before publishing, not found by running into it.
    publish_calls = calls(graph_world, "media_publish", full.ig_user_id)
    assert [c["status"] for c in publish_calls].count(200) == 2
    assert calls(graph_world, "publishing_limit", full.ig_user_id)
    # The page waits until its oldest publish leaves the 24-hour window.
    with worker.engine.connect() as conn:
        until = conn.execute(
            select(facebook_pages.c.throttled_until).where(
                facebook_pages.c.id == full.page
            )
        ).scalar_one()
    oldest = min(row.publish_sent_at for row in done)
    assert oldest + timedelta(hours=24) <= until
    assert until <= oldest + timedelta(hours=24, minutes=6)


def test_quota_used_by_another_tool_is_read_again_within_the_window(
    new_worker: Callable[..., Worker], graph_world: GraphWorld
) -> None:
    """The account's only publish of the day came from elsewhere, so its ageing
    out cannot be computed here: the page waits a twenty-fourth of the window
    and then reads the quota again."""
    worker = new_worker()
    brand = make_brand(worker.engine, graph_world)
    graph_world.control(
        "accounts",
        {
            "page_id": brand.facebook_page_id,
            "ig_user_id": brand.ig_user_id,
            "access_token": brand.token,
            "quota_total": 1,
        },
    )
    (graph_world.media_dir / "elsewhere.jpg").write_bytes(image(1080, 1350, "JPEG"))
    graph = f"{graph_world.simulator.url}/{brand.ig_user_id}"
    auth = {"access_token": brand.token}
    made = requests.post(
        f"{graph}/media",
        data={"image_url": f"{graph_world.media.url}/elsewhere.jpg", **auth},
        timeout=10,
    ).json()
    requests.post(
        f"{graph}/media_publish", data={"creation_id": made["id"], **auth}, timeout=10
    ).raise_for_status()
    post = brand.image_post(caption="ours")

    worker.daemon.run_once(timeout=10)

    row = post_row(worker.engine, post)
    assert row.executed_at is None and "limit" in (row.last_error or "")
    assert len(graph_world.publishes()) == 1
    with worker.engine.connect() as conn:
        until, now = conn.execute(
            select(facebook_pages.c.throttled_until, func.now()).where(
                facebook_pages.c.id == brand.page
            )
        ).one()
    assert timedelta(minutes=59) < until - now < timedelta(minutes=65)


def test_usage_headers_near_the_limit_pause_the_page(
    new_worker: Callable[..., Worker], graph_world: GraphWorld
) -> None:
    """Usage headers climb with each call of the account; once the latest reply
    says 90% or more, the page pauses before its next publish, nothing fails."""
    worker = new_worker(worker_concurrency=1)
    brand = make_brand(worker.engine, graph_world)
    posts = [brand.image_post(caption=f"busy {n}") for n in range(3)]
    graph_world.control("config", {"usage_threshold": 0, "usage_calls_per_hour": 8})

    worker.daemon.run_once(timeout=10)

    rows = [post_row(worker.engine, post) for post in posts]
    done = [row for row in rows if row.stage == Stage.PUBLISHED]
    paused = [row for row in rows if row.executed_at is None]
    assert done and paused and all(row.failed_at is None for row in rows)
    assert all("usage" in (row.last_error or "") for row in paused)
    assert len(calls(graph_world, "media_publish", brand.ig_user_id)) == len(done)
    with worker.engine.connect() as conn:
        until, now = conn.execute(
            select(facebook_pages.c.throttled_until, func.now()).where(
                facebook_pages.c.id == brand.page
            )
        ).one()
    assert until - now > timedelta(minutes=9)


def _claim_of(queue: Queue, post: UUID) -> ClaimedPost:
    [claimed] = queue.claim(1)
    assert claimed.id == post
    return claimed


def test_one_publish_per_page_in_flight_across_workers(
    new_worker: Callable[..., Worker], graph_world: GraphWorld
) -> None:
    """Two daemons hold a post each of one page: only one may be in publish-sent.
    The other is refused until the first ends, or its lease runs out (a dead
    worker blocks its page only until rescue can take the post over)."""
    first, second = new_worker(), new_worker()
    brand = make_brand(first.engine, graph_world)
    a = brand.image_post(caption="first")
    b = brand.image_post(caption="second")
    other_page = make_brand(first.engine, graph_world).image_post(caption="other")
    post_a = _claim_of(first.queue, a)
    post_b = _claim_of(second.queue, b)

    assert first.queue.mark_publish_sent(post_a) is not None
    with pytest.raises(PageBusy):
        second.queue.mark_publish_sent(post_b)
    # Another page is not held up.
    post_c = _claim_of(second.queue, other_page)
    assert second.queue.mark_publish_sent(post_c) is not None

    # The first worker dies: once its lease has run out the page is free again.
    with first.engine.begin() as conn:
        conn.execute(
            update(social_posts)
            .where(social_posts.c.id == a)
            .values(claimed_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert second.queue.mark_publish_sent(post_b) is not None
    assert post_row(first.engine, b).stage == Stage.PUBLISH_SENT


def test_posts_of_one_page_are_published_one_at_a_time(
    new_worker: Callable[..., Worker], graph_world: GraphWorld
) -> None:
    """Two daemons, six posts of one page, each publish call slow: the calls
    never overlap, and every post is published once."""
    first, second = new_worker(), new_worker()
    brand = make_brand(first.engine, graph_world)
    posts = [brand.image_post(caption=f"in line {n}") for n in range(6)]
    graph_world.control(
        "faults",
        {"operation": "media_publish", "kind": "slow", "delay": 0.5, "times": 6},
    )

    threads = [
        threading.Thread(target=w.daemon.run_once, args=(60,)) for w in (first, second)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)

    publishing = [
        c
        for c in graph_world.simulator.state.calls()
        if c.operation == "media_publish" and c.account == brand.ig_user_id
    ]
    ends = sorted(c.at for c in publishing)
    assert len(ends) == 6
    # Each call sleeps 0.5 s before it answers, so calls that never overlap end
    # at least that far apart.
    assert all(later - earlier >= 0.5 for earlier, later in itertools.pairwise(ends))
    assert all(len(publishes_of(graph_world, post)) == 1 for post in posts)
