"""The simulator's value types: accounts, containers, media, page posts, calls, config.

All of them are frozen; the state replaces a record rather than mutating it, so a
record handed out of the lock can never change under its reader.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

CONTAINER_LIFETIME_SECONDS = 24 * 3600
QUOTA_WINDOW_SECONDS = 24 * 3600

_SHORTCODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def meta_timestamp(epoch: float) -> str:
    """Meta's ISO 8601 form, with a colon-less offset: 2026-12-03T10:00:00+0000."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S%z")


class StatusCode(enum.StrEnum):
    EXPIRED = "EXPIRED"
    ERROR = "ERROR"
    FINISHED = "FINISHED"
    IN_PROGRESS = "IN_PROGRESS"
    PUBLISHED = "PUBLISHED"


@dataclass(frozen=True)
class Config:
    """Knobs that GRAPH_API.md leaves open or that tests need to turn."""

    video_processing_seconds: float = 10.0
    image_processing_seconds: float = 0.0
    quota_total: int = 100
    # Calls an account may make in an hour before usage headers appear; None: never.
    usage_threshold: int | None = None
    # The hourly call budget the usage percentages are measured against.
    usage_calls_per_hour: int = 200
    fetch_timeout: float = 10.0

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def updated(self, changes: Mapping[str, Any]) -> Config:
        """A copy with `changes` applied; ValueError names the first bad one."""
        checked: dict[str, Any] = {}
        for key, value in changes.items():
            if key not in _CONFIG_RULES:
                raise ValueError(f"unknown config field: {key}")
            kind, minimum = _CONFIG_RULES[key]
            if value is None and key == "usage_threshold":
                checked[key] = None
                continue
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            if not numeric or (kind is int and not isinstance(value, int)):
                raise ValueError(
                    f"{key} must be {'an integer' if kind is int else 'a number'}"
                )
            if value < minimum:
                raise ValueError(f"{key} must be at least {minimum}")
            checked[key] = kind(value)
        return replace(self, **checked)


# Each field's type and smallest value; usage_threshold may also be null (never).
_CONFIG_RULES: dict[str, tuple[type[int] | type[float], float]] = {
    "video_processing_seconds": (float, 0.0),
    "image_processing_seconds": (float, 0.0),
    "quota_total": (int, 0),
    "usage_threshold": (int, 0),
    "usage_calls_per_hour": (int, 1),
    "fetch_timeout": (float, 0.001),
}


@dataclass(frozen=True)
class Account:
    """A connected page, the Instagram user behind it (if any), and its token."""

    page_id: str
    ig_user_id: str | None
    access_token: str = field(repr=False)
    username: str
    quota_total: int | None = None

    def owns(self, node_id: str) -> bool:
        return node_id in (self.page_id, self.ig_user_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "page_id": self.page_id,
            "ig_user_id": self.ig_user_id,
            "username": self.username,
            "quota_total": self.quota_total,
        }


@dataclass(frozen=True)
class Container:
    """An Instagram media container; its status is derived from the clock."""

    id: str
    ig_user_id: str
    media_type: str
    product_type: str
    caption: str
    source_url: str
    created_at: float
    ready_at: float
    # A standalone VIDEO container is accepted but refused at publish.
    standalone_video: bool = False
    error_subcode: int | None = None
    media_id: str | None = None

    def status_code(self, now: float) -> StatusCode:
        if self.media_id is not None:
            return StatusCode.PUBLISHED
        if now >= self.created_at + CONTAINER_LIFETIME_SECONDS:
            return StatusCode.EXPIRED
        if now < self.ready_at:
            return StatusCode.IN_PROGRESS
        if self.error_subcode is not None:
            return StatusCode.ERROR
        return StatusCode.FINISHED

    def status_sentence(self, now: float) -> str:
        code = self.status_code(now)
        if code is StatusCode.ERROR:
            return (
                f"Error: Media upload has failed with error code {self.error_subcode}"
            )
        return _STATUS_SENTENCES[code]

    def to_json(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "ig_user_id": self.ig_user_id,
            "media_type": self.media_type,
            "media_product_type": self.product_type,
            "caption": self.caption,
            "source_url": self.source_url,
            "created_at": meta_timestamp(self.created_at),
            "status_code": self.status_code(now).value,
            "error_subcode": self.error_subcode,
            "media_id": self.media_id,
        }


# Meta's EXPIRED and PUBLISHED sentences are unverified; these are the simulator's own.
_STATUS_SENTENCES = {
    StatusCode.EXPIRED: "Expired: Media was not published within 24 hours.",
    StatusCode.FINISHED: (
        "Finished: Media has been uploaded and it is ready to be published."
    ),
    StatusCode.IN_PROGRESS: "In Progress: Media is still being processed.",
    StatusCode.PUBLISHED: "Published: Media has been published.",
}


@dataclass(frozen=True)
class Media:
    """A published Instagram media object."""

    id: str
    container_id: str
    ig_user_id: str
    page_id: str
    username: str
    caption: str
    media_type: str
    product_type: str
    source_url: str
    published_at: float

    @property
    def shortcode(self) -> str:
        # Instagram shortcodes are the media number written in a URL-safe base 64.
        number = int(self.id)
        digits = ""
        while number:
            number, rest = divmod(number, 64)
            digits = _SHORTCODE_ALPHABET[rest] + digits
        return digits or _SHORTCODE_ALPHABET[0]

    @property
    def permalink(self) -> str:
        if self.product_type == "REELS":
            return f"https://www.instagram.com/reel/{self.shortcode}/"
        if self.product_type == "STORY":
            return f"https://www.instagram.com/stories/{self.username}/{self.id}/"
        return f"https://www.instagram.com/p/{self.shortcode}/"

    def fields(self) -> dict[str, Any]:
        """Every readable field; a GET picks the ones it asked for."""
        values: dict[str, Any] = {
            "id": self.id,
            "media_type": self.media_type,
            "media_product_type": self.product_type,
            "media_url": self.source_url,
            "permalink": self.permalink,
            "shortcode": self.shortcode,
            "timestamp": meta_timestamp(self.published_at),
            "username": self.username,
        }
        # Meta leaves the caption out of media published without one.
        if self.caption:
            values["caption"] = self.caption
        return values

    def publish_record(self) -> dict[str, Any]:
        return {
            "platform": "instagram",
            "media_id": self.id,
            "container_id": self.container_id,
            "ig_user_id": self.ig_user_id,
            "page_id": self.page_id,
            "caption": self.caption,
            "media_type": self.media_type,
            "media_product_type": self.product_type,
            "source_url": self.source_url,
            "published_at": meta_timestamp(self.published_at),
        }


@dataclass(frozen=True)
class PagePost:
    """A photo published on a Facebook Page, and the feed post it made."""

    post_id: str
    photo_id: str
    page_id: str
    ig_user_id: str | None
    caption: str
    source_url: str
    published_at: float

    @property
    def permalink_url(self) -> str:
        page_id, _, number = self.post_id.partition("_")
        return f"https://www.facebook.com/{page_id}/posts/{number}"

    def fields(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "id": self.post_id,
            "permalink_url": self.permalink_url,
            "created_time": meta_timestamp(self.published_at),
        }
        if self.caption:
            values["message"] = self.caption
        return values

    def publish_record(self) -> dict[str, Any]:
        return {
            "platform": "facebook",
            "media_id": self.post_id,
            "container_id": None,
            "ig_user_id": self.ig_user_id,
            "page_id": self.page_id,
            "caption": self.caption,
            "media_type": "IMAGE",
            "media_product_type": "FEED",
            "source_url": self.source_url,
            "published_at": meta_timestamp(self.published_at),
        }


@dataclass(frozen=True)
class Call:
    """One Graph call as the call log keeps it: never the token, never the query."""

    method: str
    path: str
    operation: str | None
    account: str | None
    # None when a fault dropped the connection before any reply.
    status: int | None
    at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "operation": self.operation,
            "account": self.account,
            "status": self.status,
            "at": meta_timestamp(self.at),
        }
