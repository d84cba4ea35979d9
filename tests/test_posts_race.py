"""update and delete racing a real claiming worker on PostgreSQL.

The real daemon publishes to the simulator over HTTP while another thread changes
or deletes the same posts through `publisher.posts`, each at a different moment of
the post's way (before the claim, while its container is processed, after the
publish call). Whatever the timing, every post ends one of two ways: published
once with its old content and the change refused, or changed (or deleted) and not
published. Never both.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import update

from publisher import posts
from publisher.runtime import Worker, build_worker
from publisher.settings import Settings
from publisher.tables import Stage, social_posts
from tests.builders import Brand, make_brand, post_row
from tests.conftest import GraphWorld

pytestmark = pytest.mark.postgres

POSTS_PER_ROUND = 12


@pytest.fixture
def worker(pg_url: str, world_settings: Callable[..., Settings]) -> Iterator[Worker]:
    built = build_worker(
        world_settings(pg_url, worker_concurrency=4, worker_claim_batch=4)
    )
    yield built
    built.close()


def interfere(
    worker: Worker, brand: Brand, plan: list[tuple[UUID, str, float]]
) -> tuple[threading.Thread, dict[UUID, str], list[BaseException]]:
    """Change each post at its moment; record 'changed', 'deleted' or 'refused'."""
    outcome: dict[UUID, str] = {}
    errors: list[BaseException] = []

    def body() -> None:
        started = time.monotonic()
        for post, action, at in sorted(plan, key=lambda item: item[2]):
            time.sleep(max(0.0, at - (time.monotonic() - started)))
            try:
                if action == "update":
                    posts.update_post(
                        worker.engine,
                        brand.brand,
                        post,
                        {
                            "facebook_page": str(brand.page),
                            "template_instance": str(
                                post_row(worker.engine, post).template_instance
                            ),
                            "caption": f"new {post}",
                            "due_at": (
                                datetime.now(UTC) + timedelta(hours=1)
                            ).isoformat(),
                        },
                    )
                    outcome[post] = "changed"
                else:
                    posts.delete_post(worker.engine, brand.brand, post)
                    outcome[post] = "deleted"
            except posts.Conflict:
                outcome[post] = "refused"
            except BaseException as exc:  # reported by the test, not swallowed
                errors.append(exc)

    thread = threading.Thread(target=body, daemon=True)
    return thread, outcome, errors


@pytest.mark.parametrize("round_", range(6))
def test_a_post_is_published_old_or_changed_never_both(
    worker: Worker, graph_world: GraphWorld, round_: int
) -> None:
    # Image containers stay IN_PROGRESS a while, so posts also wait unclaimed in
    # the `container` stage, where an update must throw the container away.
    graph_world.control("config", {"image_processing_seconds": 0.3})
    brand = make_brand(worker.engine, graph_world)
    chance = random.Random(round_)
    plan: list[tuple[UUID, str, float]] = []
    for number in range(POSTS_PER_ROUND):
        post = brand.image_post(width=320, height=400, caption=f"old {number}")
        action = "update" if number % 2 else "delete"
        plan.append((post, action, chance.uniform(0.0, 1.2)))

    thread, outcome, errors = interfere(worker, brand, plan)
    thread.start()
    worker.daemon.run_once(timeout=60)
    thread.join(timeout=60)

    assert not errors, errors
    published: dict[str, int] = {}
    for item in graph_world.publishes():
        published[item["caption"]] = published.get(item["caption"], 0) + 1
    for number, (post, _action, _at) in enumerate(plan):
        row = post_row(worker.engine, post)
        old = published.get(f"old {number}", 0)
        assert published.get(f"new {post}", 0) == 0
        if outcome[post] == "refused":
            assert old == 1, (number, row.stage)
            assert row.stage == Stage.PUBLISHED and row.caption == f"old {number}"
        elif outcome[post] == "changed":
            assert old == 0, (number, row.stage)
            assert row.caption == f"new {post}" and row.executed_at is None
        else:
            assert old == 0, (number, row.stage)
            assert row.deleted_at is not None and row.executed_at is None
    tally = _tally(outcome)
    print(f"round {round_}: {tally}")
    assert len(outcome) == POSTS_PER_ROUND


def _tally(outcome: dict[UUID, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in outcome.values():
        counts[value] = counts.get(value, 0) + 1
    return counts


def _while_held(
    worker: Worker, post: UUID, values: dict[str, Any], call: Callable[[], None]
) -> BaseException | None:
    """Run `call` while another transaction has written `values` to the post but
    not committed yet (as a worker inside `claim` or `mark_publish_sent`), then
    commit; returns what `call` raised."""
    raised: list[BaseException] = []

    def body() -> None:
        try:
            call()
        except BaseException as exc:  # handed to the test
            raised.append(exc)

    thread = threading.Thread(target=body, daemon=True)
    with worker.engine.begin() as conn:
        conn.execute(
            update(social_posts).where(social_posts.c.id == post).values(**values)
        )
        thread.start()
        # The call now waits on the row lock; a check made before the write
        # would have seen the post free.
        thread.join(timeout=0.5)
        assert thread.is_alive()
    thread.join(timeout=30)
    return raised[0] if raised else None


def test_an_update_waiting_on_a_claim_sees_the_claim(
    worker: Worker, graph_world: GraphWorld
) -> None:
    brand = make_brand(worker.engine, graph_world)
    post = brand.image_post(caption="old")
    body = {
        "facebook_page": str(brand.page),
        "template_instance": str(post_row(worker.engine, post).template_instance),
        "caption": "new",
    }
    lease = datetime.now(UTC) + timedelta(minutes=1)

    raised = _while_held(
        worker,
        post,
        {"claimed_by": "racing-worker", "claimed_until": lease},
        lambda: posts.update_post(worker.engine, brand.brand, post, body),
    )

    assert isinstance(raised, posts.Conflict)
    assert raised.problems[0].rule == "post_claimed"
    assert post_row(worker.engine, post).caption == "old"


def test_a_delete_waiting_on_publish_sent_is_refused(
    worker: Worker, graph_world: GraphWorld
) -> None:
    brand = make_brand(worker.engine, graph_world)
    post = brand.image_post(caption="old")

    raised = _while_held(
        worker,
        post,
        {"stage": Stage.PUBLISH_SENT.value, "publish_sent_at": datetime.now(UTC)},
        lambda: posts.delete_post(worker.engine, brand.brand, post),
    )

    assert isinstance(raised, posts.Conflict)
    assert raised.problems[0].rule == "publish_sent"
    assert post_row(worker.engine, post).deleted_at is None


def test_a_disconnect_waiting_on_publish_sent_keeps_that_post(
    worker: Worker, graph_world: GraphWorld
) -> None:
    brand = make_brand(worker.engine, graph_world)
    sent = brand.image_post(caption="going out")
    waiting = brand.image_post(caption="not yet")
    result: dict[str, Any] = {}

    raised = _while_held(
        worker,
        sent,
        {"stage": Stage.PUBLISH_SENT.value, "publish_sent_at": datetime.now(UTC)},
        lambda: result.update(
            posts.disconnect_page(worker.engine, brand.brand, brand.page)
        ),
    )

    assert raised is None
    assert result["kept_posts"] == [str(sent)]
    assert result["deleted_posts"] == 1
    assert post_row(worker.engine, sent).deleted_at is None
    assert post_row(worker.engine, waiting).deleted_at is not None
