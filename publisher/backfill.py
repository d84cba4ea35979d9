"""Backfill: the operator's deliberate publishing of posts an outage left behind.

A plan is the posts due in a window that ended without being published: missed
ones (later than the lateness limit), and failed ones when asked. Posts that may
be live (published, publish-sent, unconfirmed, or with a media id) are never in
it. Carrying the plan out re-queues them with `lateness_waived_at` set, so no
daemon marks them missed again, and publishes them through the ordinary claim,
pipeline and leases, restricted to the plan's ids: the same per-page pacing and
throttling as any post, and a running daemon may take some of them (the claim
decides, so none is published twice). An interrupted backfill is run again with
the same window: the waived posts still unpublished are in its plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Engine, and_, func, or_, select, update
from sqlalchemy.sql import ColumnElement

from publisher.db import db_now
from publisher.lateness import duration_text
from publisher.tables import Stage, facebook_pages, social_posts

posts = social_posts.c
pages = facebook_pages.c


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime
    brand: UUID | None = None
    page: UUID | None = None
    include_failed: bool = False


@dataclass(frozen=True)
class PlannedPost:
    id: UUID
    brand: UUID
    page: str
    due_at: datetime
    stage: str
    failure: str | None
    resumed: bool


@dataclass(frozen=True)
class Plan:
    window: Window
    now: datetime
    posts: list[PlannedPost]
    # Unpublished posts of the window that the plan leaves alone, by reason.
    left_out: dict[str, int]

    @property
    def ids(self) -> list[UUID]:
        return [post.id for post in self.posts]

    def late_by(self, post: PlannedPost) -> str:
        return duration_text(self.now - post.due_at)


def _in_window(window: Window) -> list[ColumnElement[bool]]:
    found = [
        posts.deleted_at.is_(None),
        posts.due_at >= window.since,
        posts.due_at < window.until,
    ]
    if window.brand is not None:
        found.append(posts.brand == window.brand)
    if window.page is not None:
        found.append(posts.facebook_page == window.page)
    return found


def _revivable(include_failed: bool) -> ColumnElement[bool]:
    """Ended posts a backfill may publish: none that can have gone live."""
    stages = [Stage.MISSED.value]
    if include_failed:
        stages.append(Stage.FAILED.value)
    return and_(
        posts.executed_at.is_not(None),
        posts.stage.in_(stages),
        posts.published_media_id.is_(None),
        posts.publish_sent_at.is_(None),
        posts.claimed_by.is_(None),
    )


def _resumable() -> ColumnElement[bool]:
    """Posts an earlier, interrupted backfill re-queued and that are still open."""
    return and_(posts.executed_at.is_(None), posts.lateness_waived_at.is_not(None))


def make_plan(engine: Engine, window: Window) -> Plan:
    """What a backfill of the window would publish, changing nothing."""
    query = (
        select(
            posts.id,
            posts.brand,
            pages.name.label("page_name"),
            posts.due_at,
            posts.stage,
            posts.failure,
            posts.executed_at,
            posts.published_media_id,
            posts.lateness_waived_at,
        )
        .join(facebook_pages, pages.id == posts.facebook_page)
        .where(*_in_window(window))
        .order_by(posts.due_at, posts.id)
    )
    planned: list[PlannedPost] = []
    left_out: dict[str, int] = {}
    revivable = {Stage.MISSED.value} | (
        {Stage.FAILED.value} if window.include_failed else set()
    )
    with engine.connect() as conn:
        now = db_now(conn)
        rows = conn.execute(query).all()
    for row in rows:
        reason = _left_out_reason(row, revivable)
        if reason is None:
            resumed = row.executed_at is None
            planned.append(
                PlannedPost(
                    row.id,
                    row.brand,
                    row.page_name,
                    row.due_at,
                    row.stage,
                    row.failure,
                    resumed,
                )
            )
        elif reason != "published":
            left_out[reason] = left_out.get(reason, 0) + 1
    return Plan(window, now, planned, left_out)


def _left_out_reason(row: Any, revivable: set[str]) -> str | None:
    """None when the row belongs in the plan, else why it is not."""
    if row.executed_at is None:
        if row.lateness_waived_at is not None:
            return None
        return "still queued (the daemon's to publish or miss)"
    if row.stage == Stage.PUBLISHED.value:
        return "published"
    if row.stage == Stage.FAILED.value and Stage.FAILED.value not in revivable:
        return "failed (add --include-failed to retry them)"
    if row.stage in revivable and row.published_media_id is None:
        return None
    return f"{row.stage} (may be live: check the account, never re-sent)"


def requeue(engine: Engine, plan: Plan) -> int:
    """Queue the plan's ended posts again with the lateness waived; returns how
    many this call re-queued (the guard skips any that changed since the plan)."""
    ended = [post.id for post in plan.posts if not post.resumed]
    if not ended:
        return 0
    with engine.begin() as conn:
        now = db_now(conn)
        result = conn.execute(
            update(social_posts)
            .where(
                posts.id.in_(ended),
                _revivable(plan.window.include_failed),
                *_in_window(plan.window),
            )
            .values(
                stage=Stage.QUEUED.value,
                executed_at=None,
                failed_at=None,
                failure=None,
                last_error=None,
                attempts=0,
                next_attempt_at=None,
                prepared_media_url=None,
                prepared_media_kind=None,
                prepared_digest=None,
                # Never published (the guard says so): a fresh container is safe.
                media_container_id=None,
                container_created_at=None,
                lateness_waived_at=now,
            )
        )
    return result.rowcount


@dataclass(frozen=True)
class PostState:
    """How one planned post stands after the run."""

    id: UUID
    state: str
    reason: str | None


def states(engine: Engine, ids: list[UUID]) -> list[PostState]:
    """Each post's state: its ended stage, or `deferred` with why it waits."""
    if not ids:
        return []
    query = (
        select(
            posts.id,
            posts.stage,
            posts.executed_at,
            posts.failure,
            posts.last_error,
            posts.deleted_at,
            pages.needs_reauth_at,
        )
        .join(facebook_pages, pages.id == posts.facebook_page)
        .where(posts.id.in_(ids))
        .order_by(posts.due_at, posts.id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    found = []
    for row in rows:
        if row.deleted_at is not None:
            found.append(PostState(row.id, "deleted", "deleted during the backfill"))
        elif row.executed_at is not None:
            found.append(PostState(row.id, row.stage, row.failure))
        elif row.needs_reauth_at is not None:
            found.append(PostState(row.id, "held", row.last_error))
        else:
            found.append(PostState(row.id, "deferred", row.last_error or "not yet due"))
    return found


def unpublished(engine: Engine, window: Window) -> int:
    """Live posts of the window (within the brand and page asked) not published."""
    query = select(func.count()).where(
        *_in_window(window),
        or_(posts.executed_at.is_(None), posts.stage != Stage.PUBLISHED.value),
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())
