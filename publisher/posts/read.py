"""The read calls: list, get and stats of one brand's posts, in the spec's shapes.

Each call reads in one short transaction. Associations are loaded in one query per
kind for the whole page, each scoped to the brand like the posts themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Engine, func, select

from publisher.db import db_now
from publisher.posts import query
from publisher.posts.errors import NotFound
from publisher.posts.shapes import (
    asset_json,
    instance_json,
    post_json,
    stats_json,
    user_json,
)
from publisher.tables import (
    brand_assets,
    files,
    social_posts,
    template_instances,
    users,
)

posts = social_posts.c


def list_posts(
    engine: Engine,
    brand: UUID | str,
    *,
    user: UUID | str | None = None,
    status: str = "any",
    start: int = 0,
    limit: int | None = None,
    video: bool | None = None,
    mediums: Iterable[str] = (),
    order: str = query.DEFAULT_ORDER,
    associations: Iterable[str] = (),
    now: datetime | None = None,
) -> dict[str, Any]:
    """A page of the brand's posts and how many match in all.

    `now` is only the owner's `current_time`; it defaults to the database clock.
    """
    brand_id = query.as_uuid(brand, "brand")
    user_id = None if user is None else query.as_uuid(user, "user")
    terms = query.filters(user=user_id, status=status, video=video, mediums=mediums)
    order_by = query.ordering(order)
    start, limit = query.paging(start, limit)
    include = query.associations(associations)

    page = (
        query.scoped(brand_id, social_posts)
        .where(*terms)
        .order_by(*order_by)
        .offset(start)
        .limit(limit)
    )
    counted = query.scoped(brand_id, func.count()).where(*terms)
    with _snapshot(engine) as conn:
        rows = [row._mapping for row in conn.execute(page)]
        total = conn.execute(counted).scalar_one()
        data = shape_posts(conn, brand_id, rows, include, now)
    return {"code": "OK", "data": data, "info": {"count": len(data), "total": total}}


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection whose statements all see one snapshot, so a page and its total
    agree even while posts are written. (SQLite's transactions already do.)"""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        yield conn


def get_post(
    engine: Engine,
    brand: UUID | str,
    post: UUID | str,
    *,
    associations: Iterable[str] = (),
    now: datetime | None = None,
) -> dict[str, Any]:
    """One live post of the brand; another brand's post is not found."""
    brand_id = query.as_uuid(brand, "brand")
    post_id = query.as_uuid(post, "post")
    include = query.associations(associations)
    with engine.connect() as conn:
        return {"code": "OK", "data": read_one(conn, brand_id, post_id, include, now)}


def read_one(
    conn: Connection,
    brand: UUID,
    post: UUID,
    include: frozenset[str],
    now: datetime | None,
) -> dict[str, Any]:
    row = conn.execute(
        query.scoped(brand, social_posts).where(posts.id == post)
    ).one_or_none()
    if row is None:
        raise NotFound.one("post", "post_exists", f"no post {post} in brand {brand}")
    [shaped] = shape_posts(conn, brand, [row._mapping], include, now)
    return shaped


def post_stats(
    engine: Engine,
    brand: UUID | str,
    *,
    user: UUID | str | None = None,
    status: str = "any",
) -> dict[str, str]:
    """How many of the brand's posts there are per medium of their creative."""
    brand_id = query.as_uuid(brand, "brand")
    user_id = None if user is None else query.as_uuid(user, "user")
    terms = query.filters(user=user_id, status=status)
    medium = query.medium()
    counts = query.scoped(brand_id, medium, func.count()).where(*terms).group_by(medium)
    with engine.connect() as conn:
        found = {str(name): int(n) for name, n in conn.execute(counts) if name}
    return stats_json(found)


def shape_posts(
    conn: Connection,
    brand: UUID,
    rows: Sequence[Mapping[Any, Any]],
    include: frozenset[str],
    now: datetime | None,
) -> list[dict[str, Any]]:
    """The rows as JSON, with the associations asked for nested."""
    instances: dict[UUID, Any] = {}
    assets: dict[UUID, Any] = {}
    owners: dict[UUID, Any] = {}
    if "social_post.template_instance" in include:
        ids = {row["template_instance"] for row in rows} - {None}
        instances = _creatives(conn, template_instances, brand, ids, instance_json)
    if "social_post.asset" in include:
        ids = {row["asset"] for row in rows} - {None}
        assets = _creatives(conn, brand_assets, brand, ids, asset_json)
    if "social_post.owner" in include:
        at = now or db_now(conn)
        ids = {row["created_by"] for row in rows}
        found = conn.execute(select(users).where(users.c.id.in_(ids)))
        owners = {user.id: user_json(user._mapping, at) for user in found}
    return [
        post_json(
            row,
            include,
            {
                "template_instance": instances.get(row["template_instance"]),
                "asset": assets.get(row["asset"]),
                "owner": owners.get(row["created_by"]),
            },
        )
        for row in rows
    ]


def _creatives(
    conn: Connection, table: Any, brand: UUID, ids: set[UUID], shape: Any
) -> dict[UUID, Any]:
    """Template instances or assets of the brand by id, each with its file."""
    if not ids:
        return {}
    rows = list(
        conn.execute(select(table).where(table.c.id.in_(ids), table.c.brand == brand))
    )
    file_ids = {row.file for row in rows}
    found = conn.execute(select(files).where(files.c.id.in_(file_ids)))
    by_id = {file.id: file._mapping for file in found}
    return {row.id: shape(row._mapping, by_id.get(row.file)) for row in rows}
