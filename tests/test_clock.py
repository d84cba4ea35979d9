"""SQLite's path decides on this machine's clock, so freezegun moves it in tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine

from publisher import sample
from publisher.db import init_schema, make_engine
from publisher.queue import Queue
from publisher.settings import DatabaseSettings

T0 = datetime(2026, 12, 24, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    built = make_engine(
        DatabaseSettings(url=sqlite_url, pool_size=5, connect_timeout_seconds=5)
    )
    init_schema(built)
    yield built
    built.dispose()


def scheduled(engine: Engine, tmp_path: Path, due_at: datetime) -> None:
    with engine.begin() as conn:
        brand = sample.insert_brand(conn)
        page = sample.insert_page(conn, brand)
        file = sample.insert_file(
            conn, tmp_path, "http://127.0.0.1", b"x", name="a.png", mime="image/png"
        )
        sample.insert_post(
            conn,
            brand=brand,
            user=sample.insert_user(conn),
            page=page,
            asset=sample.insert_asset(conn, brand, file),
            due_at=due_at,
        )


def test_a_post_is_claimed_only_once_due(engine: Engine, tmp_path: Path) -> None:
    queue = Queue(engine, "w", timedelta(seconds=60))
    with freeze_time(T0) as clock:
        scheduled(engine, tmp_path, T0 + timedelta(minutes=10))

        assert queue.claim(5) == []
        clock.tick(timedelta(minutes=9, seconds=59))
        assert queue.claim(5) == []
        clock.tick(timedelta(seconds=1))
        assert len(queue.claim(5)) == 1


def test_an_expired_lease_is_taken_over(engine: Engine, tmp_path: Path) -> None:
    first = Queue(engine, "first", timedelta(seconds=60))
    rescuer = Queue(engine, "rescuer", timedelta(seconds=60))
    with freeze_time(T0) as clock:
        scheduled(engine, tmp_path, T0)
        [post] = first.claim(5)

        clock.tick(timedelta(seconds=59))
        assert rescuer.claim(5) == []
        clock.tick(timedelta(seconds=2))
        [taken] = rescuer.claim(5)

    assert taken.id == post.id
    assert taken.claimed_until == T0 + timedelta(seconds=121)
