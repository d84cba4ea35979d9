"""The queue's reporting reads: which posts are due, pending, and how they ended.

`run --once` and `backfill` use these to know when their set of posts is done and
what to print; the daemon's loop does not need them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import Engine, select

from publisher.db import db_now
from publisher.queue_rows import page_usable, pages, posts
from publisher.tables import facebook_pages


class QueueReports:
    """Read-only counts over `social_posts`; `Queue` provides the engine."""

    engine: Engine

    def due_now(self) -> list[UUID]:
        """The posts due at this moment and not yet executed, claimed or not."""
        with self.engine.connect() as conn:
            now = db_now(conn)
            query = select(posts.id).where(
                posts.executed_at.is_(None),
                posts.deleted_at.is_(None),
                posts.due_at <= now,
            )
            return list(conn.execute(query.order_by(posts.due_at)).scalars())

    def pending(self, post_ids: Sequence[UUID]) -> list[tuple[UUID, datetime, bool]]:
        """Of these posts, the unexecuted ones: id, when it can next be attempted,
        and whether its page is held."""
        if not post_ids:
            return []
        query = (
            select(posts.id, posts.due_at, posts.next_attempt_at, ~page_usable())
            .join(facebook_pages, pages.id == posts.facebook_page)
            .where(
                posts.id.in_(post_ids),
                posts.executed_at.is_(None),
                posts.deleted_at.is_(None),
                posts.due_at.is_not(None),
            )
        )
        with self.engine.connect() as conn:
            return [
                (row.id, max(filter(None, (row.due_at, row.next_attempt_at))), row[3])
                for row in conn.execute(query)
            ]

    def summarize(self, post_ids: Sequence[UUID]) -> dict[str, int]:
        """How these posts stand: a count per ended stage, and `pending`."""
        counts: dict[str, int] = {}
        if not post_ids:
            return counts
        query = select(posts.stage, posts.executed_at.is_not(None)).where(
            posts.id.in_(post_ids), posts.deleted_at.is_(None)
        )
        with self.engine.connect() as conn:
            for stage, executed in conn.execute(query):
                key = stage if executed else "pending"
                counts[key] = counts.get(key, 0) + 1
        return counts
