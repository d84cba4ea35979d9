"""All of the worker's SQL: claim, fenced step records, release, lease renewal.

A claim is a lease committed before any network call. Every later write names the
claim (`WHERE claimed_by = :worker`), so a worker whose lease was taken over can
never overwrite the newer owner's work: such a write raises `LostClaim`. Each
function runs its own short transaction; none is open across an HTTP call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Engine, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql import ColumnElement

from publisher.db import db_now
from publisher.lateness import on_time, sweep_missed
from publisher.observer import MissedPost
from publisher.outbox import record_post_event
from publisher.queue_pages import PageOperations
from publisher.queue_reports import QueueReports
from publisher.queue_rows import (
    ClaimedPost,
    claimed_post,
    context_query,
    page_usable,
    pages,
    posts,
)
from publisher.tables import (
    Stage,
    facebook_pages,
    social_posts,
    worker_heartbeats,
)


class LostClaim(Exception):
    """The post is no longer ours: its lease expired and another worker took it."""


class PageBusy(Exception):
    """Another post of the same page is being published under a live claim."""


def _claimable(now: datetime) -> ColumnElement[bool]:
    return and_(
        posts.executed_at.is_(None),
        posts.deleted_at.is_(None),
        posts.due_at.is_not(None),
        posts.due_at <= now,
        or_(posts.claimed_until.is_(None), posts.claimed_until < now),
        or_(posts.next_attempt_at.is_(None), posts.next_attempt_at <= now),
    )


class Queue(PageOperations, QueueReports):
    """The worker's view of `social_posts`, for one worker identity."""

    def __init__(
        self,
        engine: Engine,
        worker: str,
        lease: timedelta,
        *,
        max_lateness: timedelta | None = None,
        events: bool = False,
        only: frozenset[UUID] | None = None,
    ) -> None:
        self.engine = engine
        self.worker = worker
        self.lease = lease
        # None: every due post is published however late (tests of other parts).
        self.max_lateness = max_lateness
        # Whether outcomes also write webhook events (webhooks.url is set).
        self.events = events
        # A backfill's queue claims only the posts of its plan.
        self.only = only

    def claim(self, limit: int) -> list[ClaimedPost]:
        """Lease up to `limit` due posts, oldest `due_at` first."""
        with self.engine.begin() as conn:
            now = db_now(conn)
            ids = (
                select(posts.id)
                .join(facebook_pages, pages.id == posts.facebook_page)
                .where(
                    _claimable(now),
                    page_usable(),
                    or_(pages.throttled_until.is_(None), pages.throttled_until <= now),
                    *self._restrictions(now),
                )
                .order_by(posts.due_at, posts.id)
                .limit(limit)
                .with_for_update(skip_locked=True, of=social_posts)
            )
            claimed = list(conn.execute(ids).scalars())
            if not claimed:
                return []
            conn.execute(
                update(social_posts)
                .where(posts.id.in_(claimed))
                .values(
                    claimed_by=self.worker,
                    claimed_until=now + self.lease,
                    first_claimed_at=func.coalesce(posts.first_claimed_at, now),
                )
            )
            rows = conn.execute(context_query().where(posts.id.in_(claimed)))
            found = {row.id: claimed_post(row) for row in rows}
        return [found[post_id] for post_id in claimed if post_id in found]

    def renew(self, post_ids: Iterable[UUID]) -> int:
        """Push the leases of posts still held by this worker; returns how many."""
        wanted = list(post_ids)
        if not wanted:
            return 0
        with self.engine.begin() as conn:
            now = db_now(conn)
            result = conn.execute(
                update(social_posts)
                .where(posts.id.in_(wanted), posts.claimed_by == self.worker)
                .values(claimed_until=now + self.lease)
            )
        return result.rowcount

    def reread(self, post_id: UUID) -> ClaimedPost:
        """The post as it stands now, under this worker's claim."""
        with self.engine.begin() as conn:
            row = conn.execute(
                context_query().where(
                    posts.id == post_id, posts.claimed_by == self.worker
                )
            ).one_or_none()
        if row is None:
            raise LostClaim(str(post_id))
        return claimed_post(row)

    def now(self) -> datetime:
        with self.engine.connect() as conn:
            return db_now(conn)

    def record(self, post_id: UUID, **values: Any) -> None:
        """Write step results on a post we hold; commits at once."""
        with self.engine.begin() as conn:
            self._fenced(conn, post_id, values)

    def mark_publish_sent(self, post: ClaimedPost) -> datetime | None:
        """Record that the publish call is about to go, if the post is still what
        was prepared: not deleted, still due, same caption and creative. The check
        and the write are one statement, so a brand's change cannot slip between.
        Returns the time written, or None when the post changed; raises PageBusy
        when another post of the page is being published."""
        with self.engine.begin() as conn:
            now = db_now(conn)
            # The page row's lock makes the check below and the write one step
            # for every daemon on the database: at most one publish per page is in
            # flight. A dead worker's publish-sent post counts only while its lease
            # lives; after that, rescue reconciles it.
            conn.execute(
                select(pages.id).where(pages.id == post.page).with_for_update()
            )
            if _publish_in_flight(conn, post, now):
                raise PageBusy(str(post.page))
            result = conn.execute(
                update(social_posts)
                .where(
                    posts.id == post.id,
                    posts.claimed_by == self.worker,
                    posts.deleted_at.is_(None),
                    posts.due_at <= now,
                    posts.caption == post.caption,
                    posts.template_instance.is_not_distinct_from(
                        post.template_instance
                    ),
                    posts.asset.is_not_distinct_from(post.asset),
                )
                .values(stage=Stage.PUBLISH_SENT.value, publish_sent_at=now)
            )
        return now if result.rowcount == 1 else None

    def release(
        self,
        post_id: UUID,
        *,
        after: timedelta = timedelta(0),
        **values: Any,
    ) -> datetime:
        """Give the post back, claimable again `after` from now (database clock)."""
        with self.engine.begin() as conn:
            at = db_now(conn) + after
            self._fenced(
                conn,
                post_id,
                {
                    **values,
                    "claimed_by": None,
                    "claimed_until": None,
                    "next_attempt_at": at if after > timedelta(0) else None,
                },
            )
        return at

    def finish(self, post_id: UUID, stage: Stage, **values: Any) -> datetime:
        """End the post's pipeline (published, failed, unconfirmed) and let it go."""
        with self.engine.begin() as conn:
            now = db_now(conn)
            done: dict[str, Any] = {
                "stage": stage.value,
                "executed_at": now,
                "claimed_by": None,
                "claimed_until": None,
                "next_attempt_at": None,
            }
            if stage is not Stage.PUBLISHED:
                done["failed_at"] = now
            self._fenced(conn, post_id, {**values, **done})
            if self.events and stage is not Stage.PUBLISHED:
                record_post_event(conn, stage.value, post_id, now)
        return now

    def release_all(self, post_ids: Sequence[UUID]) -> int:
        """Give back posts this worker holds (shutdown), except those in
        publish-sent: their call may be in flight, so rescue reconciles them once
        the lease runs out."""
        if not post_ids:
            return 0
        with self.engine.begin() as conn:
            result = conn.execute(
                update(social_posts)
                .where(
                    posts.id.in_(post_ids),
                    posts.claimed_by == self.worker,
                    posts.stage != Stage.PUBLISH_SENT.value,
                )
                .values(claimed_by=None, claimed_until=None)
            )
        return result.rowcount

    def heartbeat(self, hostname: str, pid: int, started_at: datetime) -> None:
        """Record that this worker has just polled successfully."""
        with self.engine.begin() as conn:
            now = db_now(conn)
            insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
            statement = insert(worker_heartbeats).values(
                worker=self.worker,
                hostname=hostname,
                pid=pid,
                started_at=started_at,
                last_poll_at=now,
            )
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["worker"],
                    set_={"last_poll_at": now, "pid": pid, "hostname": hostname},
                )
            )

    def mark_missed(self) -> list[MissedPost]:
        """End the posts later than the lateness limit as missed (database clock)."""
        if self.max_lateness is None or self.only is not None:
            return []
        with self.engine.begin() as conn:
            return sweep_missed(
                conn, db_now(conn), self.max_lateness, events=self.events
            )

    def _restrictions(self, now: datetime) -> list[ColumnElement[bool]]:
        """What this queue's claim adds: the lateness limit, a backfill's plan."""
        found = []
        if self.max_lateness is not None:
            found.append(on_time(now, self.max_lateness))
        if self.only is not None:
            found.append(posts.id.in_(self.only))
        return found

    def _fenced(self, conn: Any, post_id: UUID, values: dict[str, Any]) -> None:
        result = conn.execute(
            update(social_posts)
            .where(posts.id == post_id, posts.claimed_by == self.worker)
            .values(**values)
        )
        if result.rowcount != 1:
            raise LostClaim(str(post_id))


def _publish_in_flight(conn: Any, post: ClaimedPost, now: datetime) -> bool:
    query = select(posts.id).where(
        posts.facebook_page == post.page,
        posts.id != post.id,
        posts.stage == Stage.PUBLISH_SENT.value,
        posts.executed_at.is_(None),
        posts.claimed_by.is_not(None),
        posts.claimed_until > now,
    )
    return conn.execute(query.limit(1)).first() is not None
