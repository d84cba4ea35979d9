"""Parameters of the read calls, checked, and the SQL pieces they turn into.

Every query starts from `scoped()`: the brand's live posts joined to their
creative, where the creative's own brand must match too, so no id of another
brand's row can bring that row into an answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from sqlalchemy import Select, and_, false, func, not_, or_, select
from sqlalchemy.sql import ColumnElement

from publisher.posts.errors import ValidationFailed
from publisher.posts.shapes import ASSOCIATIONS
from publisher.tables import (
    MEDIUMS,
    brand_assets,
    files,
    social_posts,
    template_instances,
    templates,
)

posts = social_posts.c
STATUSES = ("executed", "scheduled", "draft", "any")
ORDER_FIELDS = ("created_at", "updated_at", "due_at", "executed_at")
DEFAULT_ORDER = "-created_at"

asset_file = files.alias("asset_file")


def as_uuid(raw: UUID | str, field: str) -> UUID:
    """An id parameter as a UUID, or a validation error naming the parameter."""
    if isinstance(raw, UUID):
        return raw
    try:
        return UUID(str(raw))
    except ValueError:
        raise ValidationFailed.one(field, "uuid", f"'{raw}' is not a UUID") from None


def listed(raw: Iterable[str] | str, field: str, allowed: tuple[str, ...]) -> list[str]:
    """A list parameter given repeated, comma-separated, or both; each value must
    be one of `allowed`. A lone string is one (comma-separated) value, not the
    characters it is made of."""
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, Iterable) or not all(isinstance(i, str) for i in items):
        raise ValidationFailed.one(
            field, f"{field}_type", f"must be strings, not {raw!r}"
        )
    values = [
        part.strip() for item in items for part in item.split(",") if part.strip()
    ]
    for item in values:
        if item not in allowed:
            raise ValidationFailed.one(
                field,
                f"{field}_value",
                f"'{item}' is not one of {', '.join(allowed)}",
            )
    return values


def associations(raw: Iterable[str] | str) -> frozenset[str]:
    return frozenset(listed(raw, "associations", ASSOCIATIONS))


def check_status(status: str) -> str:
    if status not in STATUSES:
        raise ValidationFailed.one(
            "status", "status_value", f"'{status}' is not one of {', '.join(STATUSES)}"
        )
    return status


def scoped(brand: UUID, *columns: Any) -> Select[Any]:
    """The brand's live posts with their creative's template and asset file."""
    return (
        select(*columns)
        .select_from(social_posts)
        .outerjoin(
            template_instances,
            and_(
                template_instances.c.id == posts.template_instance,
                template_instances.c.brand == brand,
            ),
        )
        .outerjoin(templates, templates.c.id == template_instances.c.template)
        .outerjoin(
            brand_assets,
            and_(brand_assets.c.id == posts.asset, brand_assets.c.brand == brand),
        )
        .outerjoin(asset_file, asset_file.c.id == brand_assets.c.file)
        .where(posts.brand == brand, posts.deleted_at.is_(None))
    )


def medium() -> ColumnElement[Any]:
    """The creative's medium: its template's, or the asset's."""
    return func.coalesce(templates.c.medium, brand_assets.c.medium)


def status_filter(status: str) -> ColumnElement[bool] | None:
    """Executed includes failed posts: the worker sets `executed_at` on both."""
    if status == "executed":
        return posts.executed_at.is_not(None)
    if status == "scheduled":
        return and_(posts.due_at.is_not(None), posts.executed_at.is_(None))
    if status == "draft":
        return and_(posts.due_at.is_(None), posts.executed_at.is_(None))
    return None


def filters(
    *,
    user: UUID | None,
    status: str,
    video: bool | None = None,
    mediums: Iterable[str] = (),
) -> list[ColumnElement[bool]]:
    """The WHERE terms of list and stats, beside the brand scope."""
    terms: list[ColumnElement[bool]] = []
    if user is not None:
        terms.append(posts.created_by == user)
    chosen = status_filter(check_status(status))
    if chosen is not None:
        terms.append(chosen)
    if video is not None and not isinstance(video, bool):
        raise ValidationFailed.one(
            "video", "video_type", f"must be true, false or absent, not {video!r}"
        )
    if video is not None:
        is_video = or_(
            func.coalesce(templates.c.video, false()),
            func.coalesce(asset_file.c.mime.like("video/%"), false()),
        )
        terms.append(is_video if video else not_(is_video))
    wanted = listed(mediums, "mediums", MEDIUMS)
    if wanted:
        terms.append(medium().in_(wanted))
    return terms


def ordering(order: str) -> list[Any]:
    """`field` or `-field` from ORDER_FIELDS; missing values last either way, then
    the id, so a page boundary is the same on every call and backend."""
    name = order.removeprefix("-") if isinstance(order, str) else None
    if name not in ORDER_FIELDS:
        raise ValidationFailed.one(
            "order",
            "order_value",
            f"'{order}' is not one of {', '.join(ORDER_FIELDS)}, "
            "optionally prefixed with '-'",
        )
    column = posts[name]
    direction = column.desc() if order.startswith("-") else column.asc()
    return [direction.nulls_last(), posts.id]


# OFFSET and LIMIT are signed 64-bit on PostgreSQL and SQLite; past that the
# driver raised (bigint out of range, OverflowError) instead of answering.
MAX_ROWS = 2**63 - 1


def paging(start: object, limit: object) -> tuple[int, int | None]:
    """`start` and `limit` as whole numbers the database takes, checked here since
    a service may pass anything (a float, a string, a boolean)."""
    return _count(start, "start", 0), (
        None if limit is None else _count(limit, "limit", 1)
    )


def _count(value: object, field: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed.one(
            field, f"{field}_type", f"must be a whole number, not {value!r}"
        )
    if value < least:
        raise ValidationFailed.one(
            field, f"{field}_min", f"must be {least} or more, not {value}"
        )
    if value > MAX_ROWS:
        raise ValidationFailed.one(
            field, f"{field}_max", f"must be at most {MAX_ROWS}, not {value}"
        )
    return value
