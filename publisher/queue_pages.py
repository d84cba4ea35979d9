"""The queue's page-level operations: hold or defer a page, and page reads.

A page's posts share its token and its rate limits, so these act on every post of
the page at once. They are a mixin of `Queue` so callers keep one queue object.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Engine, func, or_, select, update

from publisher.db import db_now
from publisher.outbox import record_page_event
from publisher.queue_rows import pages, posts
from publisher.tables import Stage, facebook_pages, social_posts


class PageOperations:
    """Page-wide writes and reads; `Queue` provides the engine and events flag."""

    engine: Engine
    events: bool

    def hold_page(self, page: UUID, reason: str) -> bool:
        """Mark a page as needing re-authorization; True if this call marked it."""
        with self.engine.begin() as conn:
            now = db_now(conn)
            result = conn.execute(
                update(facebook_pages)
                .where(pages.id == page, pages.needs_reauth_at.is_(None))
                .values(needs_reauth_at=now, reauth_reason=reason)
            )
            explain_waiting(conn, page, reason)
            if self.events and result.rowcount == 1:
                # One event per page, however many of its posts hit the refusal.
                brand = conn.execute(select(pages.brand).where(pages.id == page))
                event = "page_needs_reauth"
                record_page_event(conn, event, page, brand.scalar_one(), reason, now)
        return result.rowcount == 1

    def defer_page(self, page: UUID, after: timedelta, reason: str) -> datetime:
        """Claim none of the page's posts for a while (it was throttled)."""
        with self.engine.begin() as conn:
            until = db_now(conn) + after
            explain_waiting(conn, page, reason)
            conn.execute(
                update(facebook_pages)
                .where(
                    pages.id == page,
                    or_(pages.throttled_until.is_(None), pages.throttled_until < until),
                )
                .values(throttled_until=until)
            )
        return until

    def first_publish_since(self, page: UUID, since: datetime) -> datetime | None:
        """When the page's earliest post published since `since` went out."""
        query = select(func.min(posts.publish_sent_at)).where(
            posts.facebook_page == page,
            posts.stage == Stage.PUBLISHED.value,
            posts.publish_sent_at >= since,
        )
        with self.engine.connect() as conn:
            value = conn.execute(query).scalar_one_or_none()
        return value if isinstance(value, datetime) else None

    def page_media_ids(self, page: UUID, *, besides: UUID, since: datetime) -> set[str]:
        """Media ids recorded for the page's other posts sent since `since`."""
        query = select(posts.published_media_id).where(
            posts.facebook_page == page,
            posts.published_media_id.is_not(None),
            posts.publish_sent_at >= since,
            posts.id != besides,
        )
        with self.engine.connect() as conn:
            return {str(media) for media in conn.execute(query).scalars()}


def explain_waiting(conn: Any, page: UUID, reason: str) -> None:
    """Say on each unclaimed, unended post of the page why it is not attempted."""
    conn.execute(
        update(social_posts)
        .where(
            posts.facebook_page == page,
            posts.executed_at.is_(None),
            posts.deleted_at.is_(None),
            posts.claimed_by.is_(None),
        )
        .values(last_error=reason)
    )
