"""The pipeline end to end on PostgreSQL, against the simulator over real HTTP."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import structlog
from sqlalchemy import update

from publisher.logs import configure_logging
from publisher.runtime import Worker, build_worker
from publisher.settings import Settings
from publisher.tables import Stage, social_posts
from tests.builders import Brand, make_brand, post_row
from tests.conftest import GraphWorld

pytestmark = pytest.mark.postgres


@pytest.fixture
def worker(pg_url: str, world_settings: Callable[..., Settings]) -> Iterator[Worker]:
    built = build_worker(world_settings(pg_url))
    yield built
    built.close()


@pytest.fixture
def brand(worker: Worker, graph_world: GraphWorld) -> Brand:
    return make_brand(worker.engine, graph_world)


def publishes_per_caption(world: GraphWorld) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in world.publishes():
        counts[item["caption"]] = counts.get(item["caption"], 0) + 1
    return counts


def test_once_publishes_due_and_leaves_the_rest(
    worker: Worker, brand: Brand, graph_world: GraphWorld
) -> None:
    due = brand.image_post(caption="due now")
    future = brand.image_post(
        caption="future", due_at=datetime.now(UTC) + timedelta(hours=1)
    )
    draft = brand.image_post(caption="draft", due_at=None)
    deleted = brand.image_post(caption="deleted", deleted_at=datetime.now(UTC))

    code, summary = worker.daemon.run_once(timeout=30)

    assert (code, summary) == (0, {"published": 1})
    row = post_row(worker.engine, due)
    assert row.executed_at is not None
    assert row.post_link.startswith("https://www.instagram.com/p/")
    assert row.media_container_id
    assert row.published_media_id
    assert row.claimed_by is None
    for untouched in (future, draft, deleted):
        other = post_row(worker.engine, untouched)
        assert other.executed_at is None
        assert other.stage == Stage.QUEUED
        assert other.media_container_id is None
    assert publishes_per_caption(graph_world) == {"due now": 1}


def test_png_creative_is_published_as_jpeg(
    worker: Worker, brand: Brand, graph_world: GraphWorld
) -> None:
    post = brand.image_post(fmt="PNG")

    code, _summary = worker.daemon.run_once(timeout=30)

    assert code == 0
    row = post_row(worker.engine, post)
    assert row.prepared_media_url.endswith(".jpg")
    [published] = graph_world.publishes()
    assert published["source_url"] == row.prepared_media_url


def test_video_in_progress_does_not_hold_up_images(
    pg_url: str,
    world_settings: Callable[..., Settings],
    graph_world: GraphWorld,
) -> None:
    graph_world.control("config", {"video_processing_seconds": 3})
    # One thread: the images can only go first if the video gives its thread back.
    worker = build_worker(world_settings(pg_url, worker_concurrency=1))
    brand = make_brand(worker.engine, graph_world)
    video = brand.video_post(
        caption="tour", due_at=datetime.now(UTC) - timedelta(minutes=1)
    )
    images = [brand.image_post(caption=f"image {n}") for n in range(3)]
    try:
        code, summary = worker.daemon.run_once(timeout=60)
        video_done = post_row(worker.engine, video).executed_at
        images_done = [post_row(worker.engine, image).executed_at for image in images]
    finally:
        worker.close()

    assert (code, summary) == (0, {"published": 4})
    kinds = {
        item["caption"]: item["media_product_type"] for item in graph_world.publishes()
    }
    assert kinds["tour"] == "REELS"
    assert all(done < video_done for done in images_done)


def test_preflight_failure_makes_no_graph_call(
    worker: Worker, brand: Brand, graph_world: GraphWorld
) -> None:
    post = brand.image_post(width=1000, height=2000, caption="too tall")

    code, summary = worker.daemon.run_once(timeout=30)

    assert (code, summary) == (3, {"failed": 1})
    row = post_row(worker.engine, post)
    assert row.failed_at is not None
    assert row.executed_at is not None
    assert "1000×2000" in row.failure
    assert "between 4:5 and 1.91:1" in row.failure
    assert graph_world.control("calls")["data"] == []


def test_each_published_post_is_published_once(
    worker: Worker, brand: Brand, graph_world: GraphWorld
) -> None:
    posts = [brand.image_post(caption=f"post {n}") for n in range(12)]

    code, summary = worker.daemon.run_once(timeout=60)

    assert (code, summary) == (0, {"published": 12})
    assert publishes_per_caption(graph_world) == {f"post {n}": 1 for n in range(12)}
    assert all(post_row(worker.engine, p).post_link for p in posts)


def test_transient_publish_error_is_reconciled_not_resent(
    worker: Worker, brand: Brand, graph_world: GraphWorld
) -> None:
    graph_world.control(
        "faults", {"operation": "media_publish", "kind": "apply_then_code_2"}
    )
    post = brand.image_post(caption="ambiguous")

    worker.daemon.run_once(timeout=5)
    assert post_row(worker.engine, post).stage == Stage.PUBLISH_SENT
    # The settle time has passed as far as the reconciliation can tell.
    with worker.engine.begin() as conn:
        conn.execute(
            update(social_posts)
            .where(social_posts.c.id == post)
            .values(
                publish_sent_at=datetime.now(UTC) - timedelta(minutes=1),
                next_attempt_at=None,
            )
        )
    code, summary = worker.daemon.run_until([post], timeout=30)

    assert (code, summary) == (0, {"published": 1})
    assert publishes_per_caption(graph_world) == {"ambiguous": 1}
    assert post_row(worker.engine, post).post_link


def test_expired_token_holds_the_page(
    worker: Worker, brand: Brand, graph_world: GraphWorld
) -> None:
    graph_world.control("tokens/expire", {"access_token": brand.token})
    posts = [brand.image_post(caption=f"held {n}") for n in range(3)]

    code, summary = worker.daemon.run_once(timeout=10)

    assert (code, summary) == (4, {"pending": 3})
    for post in posts:
        row = post_row(worker.engine, post)
        assert row.failed_at is None
        assert "reconnect" in (row.last_error or "").lower()
    assert graph_world.publishes() == []


def test_facebook_page_gets_a_photo_post(
    worker: Worker, graph_world: GraphWorld
) -> None:
    page = make_brand(worker.engine, graph_world, target="facebook")
    post = page.image_post(caption="On the Page")

    code, summary = worker.daemon.run_once(timeout=30)

    assert (code, summary) == (0, {"published": 1})
    row = post_row(worker.engine, post)
    assert row.post_link.startswith("https://www.facebook.com/")
    assert row.media_container_id is None
    [published] = graph_world.publishes()
    assert published["page_id"] == page.facebook_page_id


def test_no_token_reaches_the_logs(
    worker: Worker,
    brand: Brand,
    graph_world: GraphWorld,
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json", "debug")
    brand.image_post(caption="logged")
    graph_world.control("faults", {"operation": "container_status", "kind": "http_500"})
    try:
        worker.daemon.run_once(timeout=30)
    finally:
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()

    logged = capsys.readouterr()
    assert '"event": "post_published"' in logged.err
    assert brand.token not in logged.out + logged.err
