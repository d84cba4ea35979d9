"""All of the worker's SQL: claim, fenced step records, release, lease renewal.

A claim is a lease committed before any network call. Every later write names the
claim (`WHERE claimed_by = :worker`), so a worker whose lease was taken over can
never overwrite the newer owner's work: such a write raises `LostClaim`. Each
function runs its own short transaction; none is open across an HTTP call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
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
from publisher.outbox import record_page_event, record_post_event
from publisher.tables import (
    Stage,
    brand_assets,
    facebook_pages,
    files,
    social_posts,
    template_instances,
    templates,
    worker_heartbeats,
)

posts = social_posts.c
pages = facebook_pages.c


class LostClaim(Exception):
    """The post is no longer ours: its lease expired and another worker took it."""


class PageBusy(Exception):
    """Another post of the same page is being published under a live claim."""


@dataclass(frozen=True)
class ClaimedPost:
    """A post under this worker's claim, with everything an attempt needs."""

    id: UUID
    brand: UUID
    caption: str
    due_at: datetime | None
    stage: Stage
    attempts: int
    claimed_until: datetime
    page: UUID
    target: str
    facebook_page_id: str
    ig_user_id: str | None
    access_token: str = field(repr=False)
    creative_url: str = ""
    creative_mime: str = ""
    medium: str | None = None
    template_video: bool = False
    prepared_media_url: str | None = None
    prepared_media_kind: str | None = None
    media_container_id: str | None = None
    container_created_at: datetime | None = None
    publish_sent_at: datetime | None = None
    published_media_id: str | None = None
    template_instance: UUID | None = None
    asset: UUID | None = None
    deleted_at: datetime | None = None


def _claimable(now: datetime) -> ColumnElement[bool]:
    return and_(
        posts.executed_at.is_(None),
        posts.deleted_at.is_(None),
        posts.due_at.is_not(None),
        posts.due_at <= now,
        or_(posts.claimed_until.is_(None), posts.claimed_until < now),
        or_(posts.next_attempt_at.is_(None), posts.next_attempt_at <= now),
    )


def _page_usable() -> ColumnElement[bool]:
    return and_(
        pages.deleted_at.is_(None),
        pages.revoked.is_(False),
        pages.needs_reauth_at.is_(None),
    )


class Queue:
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
                    _page_usable(),
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
            rows = conn.execute(_context_query().where(posts.id.in_(claimed)))
            found = {row.id: _claimed(row) for row in rows}
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
                _context_query().where(
                    posts.id == post_id, posts.claimed_by == self.worker
                )
            ).one_or_none()
        if row is None:
            raise LostClaim(str(post_id))
        return _claimed(row)

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

    def hold_page(self, page: UUID, reason: str) -> bool:
        """Mark a page as needing re-authorization; True if this call marked it."""
        with self.engine.begin() as conn:
            now = db_now(conn)
            result = conn.execute(
                update(facebook_pages)
                .where(pages.id == page, pages.needs_reauth_at.is_(None))
                .values(needs_reauth_at=now, reauth_reason=reason)
            )
            _explain_waiting(conn, page, reason)
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
            _explain_waiting(conn, page, reason)
            conn.execute(
                update(facebook_pages)
                .where(
                    pages.id == page,
                    or_(pages.throttled_until.is_(None), pages.throttled_until < until),
                )
                .values(throttled_until=until)
            )
        return until

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
            select(posts.id, posts.due_at, posts.next_attempt_at, ~_page_usable())
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


def _explain_waiting(conn: Any, page: UUID, reason: str) -> None:
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


def _context_query() -> Any:
    ti_file = files.alias("ti_file")
    asset_file = files.alias("asset_file")
    return (
        select(
            posts.id,
            posts.brand,
            posts.caption,
            posts.due_at,
            posts.stage,
            posts.attempts,
            posts.claimed_until,
            posts.facebook_page.label("page"),
            pages.target,
            pages.facebook_page_id,
            pages.instagram_business_account_id.label("ig_user_id"),
            pages.access_token,
            posts.prepared_media_url,
            posts.prepared_media_kind,
            posts.media_container_id,
            posts.container_created_at,
            posts.publish_sent_at,
            posts.published_media_id,
            posts.template_instance,
            posts.asset,
            posts.deleted_at,
            ti_file.c.url.label("ti_url"),
            ti_file.c.mime.label("ti_mime"),
            templates.c.medium.label("ti_medium"),
            templates.c.video.label("ti_video"),
            asset_file.c.url.label("asset_url"),
            asset_file.c.mime.label("asset_mime"),
            brand_assets.c.medium.label("asset_medium"),
        )
        .select_from(social_posts)
        .join(facebook_pages, pages.id == posts.facebook_page)
        # A deleted creative (or file) joins as missing: the post has nothing
        # to publish, and the pipeline fails it saying so.
        .outerjoin(
            template_instances,
            and_(
                template_instances.c.id == posts.template_instance,
                template_instances.c.deleted_at.is_(None),
            ),
        )
        .outerjoin(templates, templates.c.id == template_instances.c.template)
        .outerjoin(
            ti_file,
            and_(
                ti_file.c.id == template_instances.c.file,
                ti_file.c.deleted_at.is_(None),
            ),
        )
        .outerjoin(
            brand_assets,
            and_(brand_assets.c.id == posts.asset, brand_assets.c.deleted_at.is_(None)),
        )
        .outerjoin(
            asset_file,
            and_(
                asset_file.c.id == brand_assets.c.file,
                asset_file.c.deleted_at.is_(None),
            ),
        )
    )


def _claimed(row: Any) -> ClaimedPost:
    from_template = row.ti_url is not None
    return ClaimedPost(
        id=row.id,
        brand=row.brand,
        caption=row.caption,
        due_at=row.due_at,
        stage=Stage(row.stage),
        attempts=row.attempts,
        claimed_until=row.claimed_until,
        page=row.page,
        target=row.target,
        facebook_page_id=row.facebook_page_id,
        ig_user_id=row.ig_user_id,
        access_token=row.access_token,
        creative_url=row.ti_url if from_template else (row.asset_url or ""),
        creative_mime=row.ti_mime if from_template else (row.asset_mime or ""),
        medium=row.ti_medium if from_template else row.asset_medium,
        template_video=bool(row.ti_video) if from_template else False,
        prepared_media_url=row.prepared_media_url,
        prepared_media_kind=row.prepared_media_kind,
        media_container_id=row.media_container_id,
        container_created_at=row.container_created_at,
        publish_sent_at=row.publish_sent_at,
        published_media_id=row.published_media_id,
        template_instance=row.template_instance,
        asset=row.asset,
        deleted_at=row.deleted_at,
    )
