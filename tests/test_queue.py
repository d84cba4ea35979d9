"""The worker's SQL: claims are leases, writes are fenced, claims never overlap."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
from sqlalchemy import Engine, update

from publisher import sample
from publisher.db import init_schema, make_engine
from publisher.queue import LostClaim, Queue
from publisher.settings import DatabaseSettings
from publisher.tables import Stage, facebook_pages, social_posts
from tests.builders import insert_owner, post_row


@pytest.fixture
def engine(any_url: str) -> Iterator[Engine]:
    settings = DatabaseSettings(url=any_url, pool_size=20, connect_timeout_seconds=5)
    built = make_engine(settings)
    init_schema(built)
    yield built
    built.dispose()


def due_posts(
    engine: Engine, tmp_path: Path, count: int, **values: object
) -> list[UUID]:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        owner = insert_owner(conn, tmp_path)
        return [
            sample.insert_post(
                conn,
                brand=owner.brand,
                user=owner.user,
                page=owner.page,
                asset=owner.asset,
                due_at=now - timedelta(minutes=count - n),
                **values,
            )
            for n in range(count)
        ]


def test_claim_takes_oldest_first_and_leases(engine: Engine, tmp_path: Path) -> None:
    posts = due_posts(engine, tmp_path, 3)
    queue = Queue(engine, "worker-a", timedelta(seconds=30))

    claimed = queue.claim(2)

    assert [post.id for post in claimed] == posts[:2]
    row = post_row(engine, posts[0])
    assert row.claimed_by == "worker-a"
    assert row.claimed_until > datetime.now(UTC) + timedelta(seconds=20)
    assert [post.id for post in queue.claim(5)] == posts[2:]
    assert queue.claim(5) == []


def test_writes_are_fenced_on_the_claim(engine: Engine, tmp_path: Path) -> None:
    [post] = due_posts(engine, tmp_path, 1)
    old = Queue(engine, "worker-old", timedelta(seconds=30))
    new = Queue(engine, "worker-new", timedelta(seconds=30))
    old.claim(1)
    # The old lease runs out and a second worker takes the post over.
    with engine.begin() as conn:
        conn.execute(
            update(social_posts).values(
                claimed_until=datetime.now(UTC) - timedelta(seconds=1)
            )
        )
    [taken] = new.claim(1)

    with pytest.raises(LostClaim):
        old.record(post, stage=Stage.PREPARED.value)
    with pytest.raises(LostClaim):
        old.finish(post, Stage.FAILED, failure="late writer")

    assert taken.id == post
    row = post_row(engine, post)
    assert (row.claimed_by, row.stage, row.failure) == ("worker-new", "queued", None)


def test_released_posts_are_claimable_again_when_due(
    engine: Engine, tmp_path: Path
) -> None:
    [post] = due_posts(engine, tmp_path, 1)
    queue = Queue(engine, "w", timedelta(seconds=30))
    queue.claim(1)

    queue.release(post, after=timedelta(hours=1))
    assert queue.claim(1) == []

    with engine.begin() as conn:
        conn.execute(update(social_posts).values(next_attempt_at=None))
    assert [p.id for p in queue.claim(1)] == [post]


def test_held_pages_are_not_claimed(engine: Engine, tmp_path: Path) -> None:
    due_posts(engine, tmp_path, 2)
    queue = Queue(engine, "w", timedelta(seconds=30))
    with engine.begin() as conn:
        conn.execute(update(facebook_pages).values(needs_reauth_at=datetime.now(UTC)))

    assert queue.claim(5) == []


def test_renew_extends_only_own_leases(engine: Engine, tmp_path: Path) -> None:
    posts = due_posts(engine, tmp_path, 2)
    mine = Queue(engine, "mine", timedelta(seconds=30))
    theirs = Queue(engine, "theirs", timedelta(seconds=30))
    mine.claim(1)
    theirs.claim(1)

    assert mine.renew(posts) == 1


@pytest.mark.postgres
def test_concurrent_claims_never_overlap(pg_url: str, tmp_path: Path) -> None:
    settings = DatabaseSettings(url=pg_url, pool_size=20, connect_timeout_seconds=5)
    engine = make_engine(settings)
    posts = due_posts(engine, tmp_path, 200)
    claims: dict[str, list[UUID]] = {}
    start = threading.Barrier(8)

    def claim_all(name: str) -> None:
        queue = Queue(engine, name, timedelta(seconds=60))
        start.wait()
        taken: list[UUID] = []
        while batch := queue.claim(7):
            taken.extend(post.id for post in batch)
        claims[name] = taken

    threads = [threading.Thread(target=claim_all, args=(f"w{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.dispose()

    every = [post for taken in claims.values() for post in taken]
    assert sorted(every) == sorted(posts)
    assert len(set(every)) == len(every)
