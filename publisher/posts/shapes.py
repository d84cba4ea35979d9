"""Rows to the platform's JSON shapes: field names, `type` tags, epoch seconds.

Pure functions over rows already read, so the shapes are the same on SQLite and
PostgreSQL and can be checked against the spec's example bodies field by field.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from publisher.tables import MEDIUMS

ASSOCIATIONS = (
    "social_post.template_instance",
    "social_post.asset",
    "social_post.owner",
)

# A user seen this recently is shown online, as the platform's presence does.
ONLINE_WINDOW = timedelta(minutes=5)

_FILE_FIELDS = (
    "id",
    "created_at",
    "updated_at",
    "deleted_at",
    "created_by",
    "path",
    "name",
    "public",
    "type",
    "url",
    "preview_url",
    "mime",
)
_INSTANCE_FIELDS = (
    "id",
    "created_at",
    "html",
    "file",
    "created_by",
    "branch",
    "updated_at",
    "deleted_at",
    "type",
)
_ASSET_FIELDS = (
    "id",
    "created_at",
    "updated_at",
    "deleted_at",
    "created_by",
    "brand",
    "file",
    "label",
    "template_type",
    "medium",
    "branch",
    "type",
)
# In the order the spec's example shows them; the last four are derived.
_USER_FIELDS = (
    "type",
    "username",
    "first_name",
    "last_name",
    "email",
    "phone_number",
    "created_at",
    "id",
    "address_id",
    "cover_image_url",
    "profile_image_url",
    "updated_at",
    "user_status",
    "profile_image_thumbnail_url",
    "cover_image_thumbnail_url",
    "email_confirmed",
    "timezone",
    "user_type",
    "deleted_at",
    "phone_confirmed",
    "is_shadow",
    "personal_room",
    "brand",
    "fake_email",
    "features",
    "last_seen_at",
    "email_signature",
    "daily_enabled",
    "email_quota",
    "website",
    "instagram",
    "twitter",
    "linkedin",
    "youtube",
    "facebook",
    "designation",
    "tiktok",
    "mfa_enabled",
    "xpressdocs_user_id",
    "bio",
    "current_time",
    "push_allowed",
    "agents",
    "last_seen_type",
    "active_brand",
    "display_name",
    "abbreviated_display_name",
    "online_state",
    "has_password",
)


def value(raw: Any) -> Any:
    """One column value as JSON: epoch seconds with fractions, ids as text."""
    if isinstance(raw, datetime):
        return raw.timestamp()
    if isinstance(raw, UUID):
        return str(raw)
    return raw


def _pick(
    row: Mapping[Any, Any], fields: tuple[str, ...], **extra: Any
) -> dict[str, Any]:
    """The named fields of the row as JSON values; `extra` overrides or adds."""
    return {
        name: extra[name] if name in extra else value(row.get(name)) for name in fields
    }


def file_json(row: Mapping[Any, Any] | None) -> dict[str, Any] | None:
    return None if row is None else _pick(row, _FILE_FIELDS, type="file")


def instance_json(
    row: Mapping[Any, Any], file: Mapping[Any, Any] | None
) -> dict[str, Any]:
    return _pick(row, _INSTANCE_FIELDS, file=file_json(file), type="template_instance")


def asset_json(
    row: Mapping[Any, Any], file: Mapping[Any, Any] | None
) -> dict[str, Any]:
    return _pick(row, _ASSET_FIELDS, file=file_json(file), type="brand_asset")


def display_name(row: Mapping[Any, Any]) -> str | None:
    """First and last name; else the e-mail address; else the username."""
    names = " ".join(n for n in (row.get("first_name"), row.get("last_name")) if n)
    return names or row.get("email") or row.get("username")


def abbreviated_display_name(row: Mapping[Any, Any]) -> str | None:
    """The first name alone, as the spec's example shortens "John Doe" to "John"."""
    first = row.get("first_name")
    return str(first) if first else display_name(row)


def user_json(row: Mapping[Any, Any], now: datetime) -> dict[str, Any]:
    """The owner: the user row, with the names and the local time derived.

    `current_time` is `now` on the user's own clock (their `timezone`), written the
    way the spec's example writes it; `online_state` follows `last_seen_at`.
    """
    try:
        zone = ZoneInfo(str(row.get("timezone") or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    seen = row.get("last_seen_at")
    online = seen is not None and now - seen <= ONLINE_WINDOW
    shaped: dict[str, Any] = _pick(
        row,
        _USER_FIELDS,
        type="user",
        current_time=now.astimezone(zone).strftime("%I:%M %p - %A %b %d, %Y"),
        display_name=display_name(row),
        abbreviated_display_name=abbreviated_display_name(row),
        online_state="Online" if online else "Offline",
    )
    return shaped


def post_json(
    row: Mapping[Any, Any],
    include: frozenset[str],
    related: Mapping[Any, Any],
) -> dict[str, Any]:
    """One post; each association asked for in `include` is nested from `related`
    (already shaped, or None), and one not asked for is left out."""
    shaped: dict[str, Any] = {
        "id": value(row["id"]),
        "brand": value(row["brand"]),
        "created_by": value(row["created_by"]),
        "caption": row["caption"],
        "facebook_page": value(row["facebook_page"]),
    }
    if "social_post.template_instance" in include:
        shaped["template_instance"] = related.get("template_instance")
    if "social_post.asset" in include:
        shaped["asset"] = related.get("asset")
    for name in ("post_link", "failed_at", "failure", "media_container_id"):
        shaped[name] = value(row[name])
    shaped["type"] = "social_post"
    for name in ("created_at", "updated_at", "deleted_at", "due_at", "executed_at"):
        shaped[name] = value(row[name])
    if "social_post.owner" in include:
        shaped["owner"] = related.get("owner")
    return shaped


def stats_json(counts: Mapping[str, int]) -> dict[str, str]:
    """Counts per medium as strings, one key per medium present, in the spec's
    order of mediums."""
    shaped = {"type": "social_post_stats"}
    for medium in MEDIUMS:
        if counts.get(medium):
            shaped[medium] = str(counts[medium])
    return shaped
