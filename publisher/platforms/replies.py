"""Reading fields out of successful Graph replies, shared by the targets.

A reply that lacks what the call promises becomes a `GraphError` through
`unexpected_reply`, so a publish that answered without an id is AMBIGUOUS rather
than a crash.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from publisher.platforms.base import MediaSummary
from publisher.platforms.errors import unexpected_reply

# Meta writes offsets without a colon ("+0000"), which %z reads.
_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


def required_id(operation: str, body: dict[str, Any], *keys: str) -> str:
    """The first of `keys` the reply carries as a non-empty id."""
    for key in keys:
        value = body.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and value != "":
            return str(value)
    raise unexpected_reply(operation, 200, f"reply has no {' or '.join(keys)}")


def data_list(operation: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects of a reply's `data` list."""
    items = body.get("data")
    if not isinstance(items, list):
        raise unexpected_reply(operation, 200, "reply has no data list")
    return [item for item in items if isinstance(item, dict)]


def optional_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def parse_timestamp(value: object) -> datetime | None:
    """An aware datetime from Meta's `2026-12-03T10:00:00+0000`, else None."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, _TIMESTAMP_FORMAT)
    except ValueError:
        return None


def media_summaries(
    operation: str, body: dict[str, Any], *, caption: str, time: str
) -> list[MediaSummary]:
    """A listing of media (or Page posts) read into summaries; `caption` and `time`
    name the fields that carry them on this edge."""
    return [
        MediaSummary(
            media_id=required_id(operation, item, "id"),
            caption=optional_str(item.get(caption)),
            timestamp=parse_timestamp(item.get(time)),
        )
        for item in data_list(operation, body)
    ]
