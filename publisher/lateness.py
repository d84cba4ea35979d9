"""The lateness policy: a post far past its due time is missed, not published.

A daemon that comes back after an outage must not publish a backlog of stale posts
(an account can be banned for a burst, and a brand's "Open house today" is wrong a
week later). Posts later than `worker.max_lateness_seconds` end as `missed`, with a
failure saying by how much; only a backfill, the operator's deliberate choice,
publishes them (it sets `lateness_waived_at`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlalchemy import Connection, and_, bindparam, or_, select, update
from sqlalchemy.sql import ColumnElement

from publisher.observer import MissedPost
from publisher.outbox import record_post_event
from publisher.tables import Stage, social_posts

logger = structlog.get_logger(__name__)

posts = social_posts.c

# Posts ended by one sweep at most; the next poll takes the rest.
SWEEP_BATCH = 500


def on_time(now: datetime, limit: timedelta) -> ColumnElement[bool]:
    """Posts the daemon may still take up: within the limit, waived by a backfill,
    or already sent (their outcome must be found, however late)."""
    return or_(
        posts.due_at >= now - limit,
        posts.lateness_waived_at.is_not(None),
        posts.stage == Stage.PUBLISH_SENT.value,
    )


def _missable(now: datetime, limit: timedelta) -> ColumnElement[bool]:
    # Never a post in publish_sent (it may be live), never one under a live lease
    # (an attempt is running), never one a backfill waived.
    return and_(
        posts.executed_at.is_(None),
        posts.deleted_at.is_(None),
        posts.due_at < now - limit,
        posts.lateness_waived_at.is_(None),
        posts.stage != Stage.PUBLISH_SENT.value,
        posts.published_media_id.is_(None),
        or_(posts.claimed_until.is_(None), posts.claimed_until < now),
    )


def sweep_missed(
    conn: Connection, now: datetime, limit: timedelta, *, events: bool
) -> list[MissedPost]:
    """End the too-late posts as missed, in the caller's transaction."""
    rows = conn.execute(
        select(posts.id, posts.facebook_page, posts.brand, posts.due_at)
        .where(_missable(now, limit))
        .order_by(posts.due_at, posts.id)
        .limit(SWEEP_BATCH)
        .with_for_update(skip_locked=True, of=social_posts)
    ).all()
    if not rows:
        return []
    missed = [
        MissedPost(row.id, row.facebook_page, row.brand, row.due_at, now - row.due_at)
        for row in rows
    ]
    # One statement for the batch. The rows are locked by the select above
    # (SQLite: the transaction holds the write lock), so the guard holds for
    # each of them; the update repeats only its cheapest part, since with a
    # range condition PostgreSQL's generic plan scans by due_at for every row.
    conn.execute(
        update(social_posts)
        .where(
            posts.id == bindparam("missed_id"),
            posts.executed_at.is_(None),
            posts.stage != Stage.PUBLISH_SENT.value,
        )
        .values(
            stage=Stage.MISSED.value,
            executed_at=now,
            failed_at=now,
            failure=bindparam("missed_failure"),
            last_error=bindparam("missed_failure"),
            claimed_by=None,
            claimed_until=None,
            next_attempt_at=None,
        ),
        [
            {
                "missed_id": post.id,
                "missed_failure": missed_failure(post.late_by, limit),
            }
            for post in missed
        ],
    )
    for post in missed:
        if events:
            record_post_event(conn, Stage.MISSED.value, post.id, now)
        logger.warning(
            "post_missed",
            post=str(post.id),
            page=str(post.page),
            due_at=post.due_at,
            late_s=round(post.late_by.total_seconds()),
        )
    return missed


def missed_failure(late: timedelta, limit: timedelta) -> str:
    """The brand's explanation of a missed post."""
    return (
        f"Not published: it was {duration_text(late)} late when publishing "
        f"resumed, more than the {duration_text(limit)} a post may be late. "
        "Schedule it again, or ask the operator to backfill it."
    )


def duration_text(span: timedelta) -> str:
    """A span as people say it: the two largest units, e.g. "3 days 2 hours"."""
    seconds = max(0, round(span.total_seconds()))
    units = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))
    parts = []
    for name, size in units:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {name}{'' if count == 1 else 's'}")
    return " ".join(parts[:2]) or "0 seconds"
