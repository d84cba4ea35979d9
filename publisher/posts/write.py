"""The write calls: create, update, delete, and disconnecting a page.

The worker may claim a post at any moment, so a write never checks and then
writes: the guard (brand, not deleted, not executed, no live lease, publish call
not sent) is the WHERE clause of the one UPDATE that makes the change. Row locks
order it against the worker's own guarded `mark_publish_sent`, so exactly one of
the two takes effect. Only when the guarded UPDATE matches no row is the post
read again, to say why (not found, or which state is in the way).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import structlog
from sqlalchemy import Connection, Engine, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import ColumnElement

from publisher.db import db_now
from publisher.posts import query
from publisher.posts.body import PostBody, parse_body
from publisher.posts.errors import Conflict, Forbidden, NotFound, ValidationFailed
from publisher.posts.read import read_one
from publisher.tables import (
    Stage,
    brand_assets,
    facebook_pages,
    files,
    social_posts,
    template_instances,
    users,
)

log = structlog.get_logger("publisher.posts")
posts = social_posts.c
pages = facebook_pages.c

# From these stages on, the publish call has gone to Meta (or has ended).
SENT = (Stage.PUBLISH_SENT.value, Stage.PUBLISHED.value, Stage.UNCONFIRMED.value)

# Everything one attempt of the worker left behind. Cleared on every update, so
# a container made from the old caption or creative is never published, and a
# worker whose lease had lapsed can no longer write (its fence names `claimed_by`).
_FRESH_ATTEMPT: dict[str, Any] = {
    "stage": Stage.QUEUED.value,
    "claimed_by": None,
    "claimed_until": None,
    "first_claimed_at": None,
    "attempts": 0,
    "next_attempt_at": None,
    "prepared_media_url": None,
    "prepared_media_kind": None,
    "prepared_digest": None,
    "media_container_id": None,
    "container_created_at": None,
    "last_error": None,
    "lateness_waived_at": None,
}


def create_post(
    engine: Engine,
    brand: UUID | str,
    user: UUID | str,
    body: object,
    *,
    associations: Iterable[str] = (),
    post_id: UUID | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A new post of the brand by `user`; returns it as `get` would.

    `now` stamps `created_at`/`updated_at` (default: the database clock);
    `post_id` lets an import keep the platform's id (default: a new one).
    """
    parsed = parse_body(body)
    brand_id = query.as_uuid(brand, "brand")
    user_id = query.as_uuid(user, "user")
    include = query.associations(associations)
    new_id = post_id or uuid4()

    try:
        with engine.begin() as conn:
            _check_member(conn, brand_id, user_id)
            _check_references(conn, brand_id, parsed)
            at = now or db_now(conn)
            conn.execute(
                insert(social_posts).values(
                    id=new_id,
                    brand=brand_id,
                    created_by=user_id,
                    created_at=at,
                    updated_at=at,
                    **_content(parsed),
                )
            )
            shaped = read_one(conn, brand_id, new_id, include, at)
    except IntegrityError:
        # Read after the failed insert, so two imports racing with one id get
        # the same answer; ids are global, so the brand holding it is not said.
        if post_id is not None and _id_taken(engine, post_id):
            raise Conflict.one(
                "post_id", "post_id_taken", f"a post with id {post_id} exists already"
            ) from None
        raise
    log.info("post_created", brand=str(brand_id), post=str(new_id))
    return {"code": "OK", "data": shaped}


def update_post(
    engine: Engine,
    brand: UUID | str,
    post: UUID | str,
    body: object,
    *,
    associations: Iterable[str] = (),
    now: datetime | None = None,
) -> dict[str, Any]:
    """Replace the post's page, creative, caption and time (PUT semantics).

    Refused while a worker holds a live lease on it, once its publish call was
    sent, and once executed. The worker's per-attempt state is reset.
    """
    parsed = parse_body(body)
    brand_id = query.as_uuid(brand, "brand")
    post_id = query.as_uuid(post, "post")
    include = query.associations(associations)

    with engine.begin() as conn:
        _check_references(conn, brand_id, parsed)
        clock = db_now(conn)
        at = now or clock
        result = conn.execute(
            update(social_posts)
            .where(
                _live_post(brand_id, post_id),
                posts.executed_at.is_(None),
                posts.stage.not_in(SENT),
                _no_live_lease(clock),
            )
            .values(updated_at=at, **_content(parsed), **_FRESH_ATTEMPT)
        )
        if result.rowcount != 1:
            raise _why_not(conn, brand_id, post_id, clock, "updated")
        shaped = read_one(conn, brand_id, post_id, include, at)
    log.info("post_updated", brand=str(brand_id), post=str(post_id))
    return {"code": "OK", "data": shaped}


def delete_post(
    engine: Engine, brand: UUID | str, post: UUID | str, *, now: datetime | None = None
) -> None:
    """Soft-delete the post (the spec's 204: nothing is returned).

    A post a worker is preparing may be deleted: the worker's publish-sent guard
    sees `deleted_at` and lets it go. Once the publish call was sent it is refused.
    """
    brand_id = query.as_uuid(brand, "brand")
    post_id = query.as_uuid(post, "post")

    with engine.begin() as conn:
        clock = db_now(conn)
        result = conn.execute(
            update(social_posts)
            .where(
                _live_post(brand_id, post_id),
                posts.stage.not_in(SENT),
            )
            .values(deleted_at=now or clock)
        )
        if result.rowcount != 1:
            raise _why_not(conn, brand_id, post_id, clock, "deleted")
    log.info("post_deleted", brand=str(brand_id), post=str(post_id))


def disconnect_page(
    engine: Engine, brand: UUID | str, page: UUID | str, *, now: datetime | None = None
) -> dict[str, Any]:
    """Soft-delete the page and every post of it not yet executed.

    A post whose publish call was sent is kept: it may already be on Instagram,
    and deleting it would hide that. Its ids are returned as `kept_posts`.
    """
    brand_id = query.as_uuid(brand, "brand")
    page_id = query.as_uuid(page, "page")

    with engine.begin() as conn:
        at = now or db_now(conn)
        result = conn.execute(
            update(facebook_pages)
            .where(
                pages.id == page_id, pages.brand == brand_id, pages.deleted_at.is_(None)
            )
            .values(deleted_at=at, updated_at=at)
        )
        if result.rowcount != 1:
            raise NotFound.one(
                "page", "page_exists", f"no page {page_id} in brand {brand_id}"
            )
        of_page = and_(
            posts.facebook_page == page_id,
            posts.brand == brand_id,
            posts.deleted_at.is_(None),
            posts.executed_at.is_(None),
        )
        deleted = conn.execute(
            update(social_posts)
            .where(of_page, posts.stage.not_in(SENT))
            .values(deleted_at=at)
        ).rowcount
        kept = [str(i) for i in conn.execute(select(posts.id).where(of_page)).scalars()]
    log.info(
        "page_disconnected",
        brand=str(brand_id),
        page=str(page_id),
        deleted_posts=deleted,
        kept_posts=len(kept),
    )
    return {"page": str(page_id), "deleted_posts": deleted, "kept_posts": kept}


def _id_taken(engine: Engine, post: UUID) -> bool:
    with engine.connect() as conn:
        found = conn.execute(select(posts.id).where(posts.id == post)).first()
    return found is not None


def _content(body: PostBody) -> dict[str, Any]:
    return {
        "facebook_page": body.facebook_page,
        "template_instance": body.template_instance,
        "asset": body.asset,
        "caption": body.caption,
        "due_at": body.due_at,
    }


def _no_live_lease(clock: datetime) -> ColumnElement[bool]:
    return or_(posts.claimed_until.is_(None), posts.claimed_until < clock)


def _check_member(conn: Connection, brand: UUID, user: UUID) -> None:
    """The acting user must be a live user of the brand (its own or active one)."""
    found = conn.execute(
        select(users.c.id).where(
            users.c.id == user,
            users.c.deleted_at.is_(None),
            or_(users.c.brand == brand, users.c.active_brand == brand),
        )
    ).one_or_none()
    if found is None:
        raise Forbidden.one(
            "user", "brand_member", f"user {user} may not act for brand {brand}"
        )


def _check_references(conn: Connection, brand: UUID, body: PostBody) -> None:
    """The page, template instance and asset must be live rows of this brand.

    Rows of another brand get the same answer as ids that exist nowhere, so the
    answer tells nothing about other brands. The page row is locked until the
    write commits, so a disconnect cannot slip in between.
    """
    page = conn.execute(
        select(pages.id)
        .where(
            pages.id == body.facebook_page,
            pages.brand == brand,
            pages.deleted_at.is_(None),
            pages.revoked.is_(False),
        )
        .with_for_update()
    ).one_or_none()
    if page is None:
        raise ValidationFailed.one(
            "facebook_page",
            "page_connected",
            f"no connected page {body.facebook_page} in brand {brand}",
        )
    for field, table, wanted in (
        ("template_instance", template_instances, body.template_instance),
        ("asset", brand_assets, body.asset),
    ):
        if wanted is None:
            continue
        found = conn.execute(
            select(files.c.deleted_at)
            .select_from(table)
            .outerjoin(files, files.c.id == table.c.file)
            .where(
                table.c.id == wanted,
                table.c.brand == brand,
                table.c.deleted_at.is_(None),
            )
        ).one_or_none()
        if found is None:
            raise ValidationFailed.one(
                field, f"{field}_exists", f"no {field} {wanted} in brand {brand}"
            )
        # The worker joins a deleted file as missing and fails the post then.
        if found.deleted_at is not None:
            raise ValidationFailed.one(
                field,
                f"{field}_file",
                f"the file of {field} {wanted} was deleted; there is nothing to post",
            )


def _live_post(brand: UUID, post: UUID) -> ColumnElement[bool]:
    """The brand's post, not deleted: what every change and its explanation name."""
    return and_(posts.id == post, posts.brand == brand, posts.deleted_at.is_(None))


def _why_not(
    conn: Connection, brand: UUID, post: UUID, clock: datetime, verb: str
) -> Exception:
    """Why the guarded UPDATE matched nothing, read after the fact."""
    row = conn.execute(
        select(social_posts).where(_live_post(brand, post))
    ).one_or_none()
    if row is None:
        return NotFound.one("post", "post_exists", f"no post {post} in brand {brand}")
    if row.stage in SENT:
        undo = {
            "deleted": "be deleted and taken back out of Instagram",
            "updated": "be changed on Instagram",
        }[verb]
        return Conflict.one(
            "post",
            "publish_sent",
            f"the post's publish call was sent to Instagram ({row.stage}); it cannot "
            f"{undo} from here",
        )
    if row.executed_at is not None:
        return Conflict.one(
            "post", "post_executed", f"the post was executed; it cannot be {verb}"
        )
    if row.claimed_until is not None and row.claimed_until >= clock:
        return Conflict.one(
            "post",
            "post_claimed",
            f"a worker is publishing the post (lease until "
            f"{row.claimed_until.isoformat()}); it cannot be {verb} now, try later",
        )
    return Conflict.one(
        "post", "post_changed", f"the post changed meanwhile; it was not {verb}"
    )
