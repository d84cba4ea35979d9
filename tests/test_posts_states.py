"""update, delete and disconnect against the post's state: executed, claimed,
sent to Instagram, deleted, another brand's. A refusal changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import Engine, select, update
from structlog.testing import capture_logs

from publisher import posts, sample
from publisher.tables import Stage, facebook_pages, social_posts
from tests.builders import post_row
from tests.posts_world import (
    ASSET_POST,
    BRAND,
    EXAMPLES,
    FAILED_POST,
    OTHER_PAGE,
    PAGE,
    TEMPLATE_POST,
    UPDATED_POST,
    USER,
    engine,
    insert_spec_world,
    snapshot,
)

__all__ = ["engine"]

BODY = EXAMPLES["update_request"]


@dataclass
class Other:
    """A second brand, and an update body valid for it."""

    brand: UUID
    body: dict[str, Any]


@pytest.fixture
def other(engine: Engine, tmp_path: Path) -> Other:
    with engine.begin() as conn:
        insert_spec_world(conn)
        brand = sample.insert_brand(conn, "Other")
        page = sample.insert_page(conn, brand)
        file = sample.insert_file(
            conn, tmp_path, "https://cdn.example", b"x", name="a.png", mime="image/png"
        )
        asset = sample.insert_asset(conn, brand, file)
    body = {"facebook_page": str(page), "asset": str(asset), "caption": "mine"}
    return Other(brand, body)


def set_post(engine: Engine, post: UUID, **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(social_posts).where(social_posts.c.id == post).values(**values)
        )


def soon(minutes: int) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


def in_(minutes: int) -> timedelta:
    """A time relative to when the test runs, not to when the module was read."""
    return timedelta(minutes=minutes)


STATES: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "live claim",
        {"claimed_by": "w1", "claimed_until": in_(5)},
        "post_claimed",
        "ok",
    ),
    (
        "publish sent",
        {
            "stage": Stage.PUBLISH_SENT.value,
            "claimed_by": "w1",
            "claimed_until": in_(5),
            "publish_sent_at": in_(0),
        },
        "publish_sent",
        "publish_sent",
    ),
    (
        "unconfirmed",
        {"stage": Stage.UNCONFIRMED.value, "executed_at": in_(0)},
        "publish_sent",
        "publish_sent",
    ),
    (
        "published",
        {"stage": Stage.PUBLISHED.value, "executed_at": in_(0)},
        "publish_sent",
        "publish_sent",
    ),
    (
        "failed",
        {"stage": Stage.FAILED.value, "executed_at": in_(0), "failed_at": in_(0)},
        "post_executed",
        "ok",
    ),
]


@pytest.mark.parametrize(
    ("name", "state", "update_rule", "delete_rule"),
    STATES,
    ids=[case[0] for case in STATES],
)
def test_update_and_delete_respect_the_state(
    engine: Engine,
    other: Other,
    name: str,
    state: dict[str, Any],
    update_rule: str,
    delete_rule: str,
) -> None:
    now = datetime.now(UTC)
    set_post(
        engine,
        UPDATED_POST,
        **{k: now + v if isinstance(v, timedelta) else v for k, v in state.items()},
    )
    before = snapshot(engine)

    with pytest.raises(posts.Conflict) as caught:
        posts.update_post(engine, BRAND, UPDATED_POST, BODY)
    assert caught.value.status == 409
    assert caught.value.problems[0].rule == update_rule
    assert snapshot(engine) == before

    if delete_rule == "ok":
        # Deleting a claimed, unsent post is safe: the worker's publish-sent
        # guard sees `deleted_at`. A failed post is only a record.
        posts.delete_post(engine, BRAND, UPDATED_POST)
        assert post_row(engine, UPDATED_POST).deleted_at is not None
        return
    with pytest.raises(posts.Conflict) as refused:
        posts.delete_post(engine, BRAND, UPDATED_POST)
    assert refused.value.problems[0].rule == delete_rule
    assert "taken back out of Instagram" in refused.value.problems[0].message
    assert snapshot(engine) == before


def test_update_after_a_lapsed_lease_resets_the_attempt(
    engine: Engine, other: Other
) -> None:
    set_post(
        engine,
        UPDATED_POST,
        stage=Stage.CONTAINER.value,
        claimed_by="gone-worker",
        claimed_until=datetime.now(UTC) - timedelta(seconds=1),
        first_claimed_at=soon(-10),
        attempts=2,
        next_attempt_at=soon(1),
        prepared_media_url="https://media/old.jpg",
        prepared_media_kind="image",
        prepared_digest="abc",
        media_container_id="old-container",
        container_created_at=soon(-1),
        last_error="slow",
        lateness_waived_at=soon(-5),
    )

    posts.update_post(engine, BRAND, UPDATED_POST, BODY)

    row = post_row(engine, UPDATED_POST)
    assert row.caption == "test" and row.facebook_page == OTHER_PAGE
    assert row.stage == Stage.QUEUED
    for column in (
        "claimed_by",
        "claimed_until",
        "first_claimed_at",
        "next_attempt_at",
        "prepared_media_url",
        "prepared_media_kind",
        "prepared_digest",
        "media_container_id",
        "container_created_at",
        "last_error",
        # A backfill's waiver was for the old post; the brand's new one is judged
        # by the lateness limit like any other.
        "lateness_waived_at",
    ):
        assert getattr(row, column) is None, column
    assert row.attempts == 0


@pytest.mark.parametrize("call", ["update", "delete", "get"])
@pytest.mark.parametrize("post", ["unknown", "deleted", "other brand"])
def test_missing_posts_are_not_found(
    engine: Engine, other: Other, call: str, post: str
) -> None:
    brand, body = (other.brand, other.body) if post == "other brand" else (BRAND, BODY)
    target = uuid4() if post == "unknown" else UPDATED_POST
    if post == "deleted":
        posts.delete_post(engine, BRAND, UPDATED_POST)
    calls: dict[str, Callable[[], Any]] = {
        "update": lambda: posts.update_post(engine, brand, target, body),
        "delete": lambda: posts.delete_post(engine, brand, target),
        "get": lambda: posts.get_post(engine, brand, target),
    }
    before = snapshot(engine)

    with pytest.raises(posts.NotFound) as caught:
        calls[call]()

    assert caught.value.status == 404
    assert snapshot(engine) == before


def test_another_brand_cannot_touch_any_post(engine: Engine, other: Other) -> None:
    before = snapshot(engine)
    for post in (TEMPLATE_POST, ASSET_POST, FAILED_POST, UPDATED_POST):
        with pytest.raises(posts.NotFound):
            posts.update_post(engine, other.brand, post, other.body)
        with pytest.raises(posts.NotFound):
            posts.delete_post(engine, other.brand, post)
    with pytest.raises(posts.NotFound):
        posts.disconnect_page(engine, other.brand, PAGE)
    assert snapshot(engine) == before


def test_disconnect_deletes_the_page_and_its_unexecuted_posts(
    engine: Engine, other: Other
) -> None:
    with engine.begin() as conn:
        user = sample.insert_user(conn, active_brand=BRAND)
        sent = sample.insert_post(
            conn,
            brand=BRAND,
            user=user,
            page=PAGE,
            due_at=soon(-1),
            caption="sent",
            asset=UUID("c7356f09-bb6c-4fd8-8e79-c55ff3814524"),
            stage=Stage.PUBLISH_SENT.value,
            publish_sent_at=soon(0),
        )
        draft = sample.insert_post(
            conn,
            brand=BRAND,
            user=user,
            page=PAGE,
            due_at=None,
            caption="draft",
            asset=UUID("c7356f09-bb6c-4fd8-8e79-c55ff3814524"),
        )

    answer = posts.disconnect_page(engine, BRAND, PAGE)

    assert answer == {"page": str(PAGE), "deleted_posts": 2, "kept_posts": [str(sent)]}
    for gone in (UPDATED_POST, draft):
        assert post_row(engine, gone).deleted_at is not None
    for kept in (TEMPLATE_POST, ASSET_POST, sent, FAILED_POST):
        assert post_row(engine, kept).deleted_at is None
    with engine.connect() as conn:
        page = conn.execute(
            select(facebook_pages).where(facebook_pages.c.id == PAGE)
        ).one()
    assert page.deleted_at is not None
    listed = posts.list_posts(engine, BRAND, status="scheduled")
    assert [item["id"] for item in listed["data"]] == [str(sent)]

    before = snapshot(engine)
    with pytest.raises(posts.NotFound):
        posts.disconnect_page(engine, BRAND, PAGE)
    with pytest.raises(posts.ValidationFailed) as caught:
        posts.create_post(engine, BRAND, user, {**BODY, "facebook_page": str(PAGE)})
    assert caught.value.problems[0].rule == "page_connected"
    assert snapshot(engine) == before


def test_deleting_twice_is_not_found(engine: Engine, other: Other) -> None:
    posts.delete_post(engine, BRAND, UPDATED_POST)
    with pytest.raises(posts.NotFound):
        posts.delete_post(engine, BRAND, UPDATED_POST)
    assert UPDATED_POST not in [
        UUID(item["id"]) for item in posts.list_posts(engine, BRAND)["data"]
    ]


def test_each_write_logs_its_event(engine: Engine, other: Other) -> None:
    with capture_logs() as events:
        posts.create_post(engine, BRAND, USER, EXAMPLES["create_asset_request"])
        posts.update_post(engine, BRAND, UPDATED_POST, BODY)
        posts.delete_post(engine, BRAND, UPDATED_POST)
        posts.disconnect_page(engine, BRAND, OTHER_PAGE)

    assert [event["event"] for event in events] == [
        "post_created",
        "post_updated",
        "post_deleted",
        "page_disconnected",
    ]
    assert events[1]["post"] == str(UPDATED_POST)
    assert events[3]["deleted_posts"] == 0
    assert not any("token" in str(event) for event in events)
