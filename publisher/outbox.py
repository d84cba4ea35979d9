"""The webhook outbox's SQL: events written beside the outcome, then delivered.

An event row is inserted in the very transaction that records the outcome it
reports, so an outcome committed is an event that will be sent, crash or not.
Delivery leases a row by pushing `next_attempt_at` forward before the HTTP call,
so several daemons on one database share the sending; a sender killed mid-call
leaves the row to be sent again when the lease runs out (at least once: receivers
deduplicate on the event id).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Engine, func, insert, select, update

from publisher.db import db_now
from publisher.tables import social_posts, webhook_outbox

box = webhook_outbox.c


@dataclass(frozen=True)
class Event:
    id: UUID
    event: str
    post: UUID | None
    page: UUID
    brand: UUID
    detail: str | None
    occurred_at: datetime
    attempts: int


def record_post_event(conn: Connection, event: str, post: UUID, now: datetime) -> None:
    """Queue an event about a post, with the failure the same transaction wrote."""
    row = conn.execute(
        select(
            social_posts.c.facebook_page, social_posts.c.brand, social_posts.c.failure
        ).where(social_posts.c.id == post)
    ).one()
    _insert(conn, event, post, row.facebook_page, row.brand, row.failure, now)


def record_page_event(
    conn: Connection, event: str, page: UUID, brand: UUID, detail: str, now: datetime
) -> None:
    _insert(conn, event, None, page, brand, detail, now)


def _insert(
    conn: Connection,
    event: str,
    post: UUID | None,
    page: UUID,
    brand: UUID,
    detail: str | None,
    now: datetime,
) -> None:
    conn.execute(
        insert(webhook_outbox).values(
            id=uuid.uuid4(),
            event=event,
            post=post,
            page=page,
            brand=brand,
            detail=detail,
            occurred_at=now,
            next_attempt_at=now,
        )
    )


def lease_due(engine: Engine, limit: int, lease: timedelta) -> list[Event]:
    """Take up to `limit` undelivered events that are due, oldest first."""
    with engine.begin() as conn:
        now = db_now(conn)
        rows = list(
            conn.execute(
                select(webhook_outbox)
                .where(
                    box.delivered_at.is_(None),
                    box.given_up_at.is_(None),
                    box.next_attempt_at <= now,
                )
                .order_by(box.occurred_at, box.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        if rows:
            conn.execute(
                update(webhook_outbox)
                .where(box.id.in_([row.id for row in rows]))
                .values(next_attempt_at=now + lease)
            )
    return [
        Event(
            row.id,
            row.event,
            row.post,
            row.page,
            row.brand,
            row.detail,
            row.occurred_at,
            row.attempts,
        )
        for row in rows
    ]


def mark_delivered(engine: Engine, event: UUID) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(webhook_outbox)
            .where(box.id == event)
            .values(
                delivered_at=db_now(conn), attempts=box.attempts + 1, last_error=None
            )
        )


def mark_undelivered(
    engine: Engine, event: UUID, *, error: str, after: timedelta | None
) -> None:
    """Record a failed delivery; `after` None gives the event up for good."""
    values: dict[str, Any] = {"attempts": box.attempts + 1, "last_error": error}
    with engine.begin() as conn:
        now = db_now(conn)
        if after is None:
            values["given_up_at"] = now
        else:
            values["next_attempt_at"] = now + after
        conn.execute(update(webhook_outbox).where(box.id == event).values(**values))


def undelivered(engine: Engine) -> int:
    """How many events still wait to be delivered (given-up ones included)."""
    with engine.connect() as conn:
        query = select(func.count()).where(box.delivered_at.is_(None))
        return int(conn.execute(query).scalar_one())
