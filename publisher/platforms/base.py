"""The one small protocol every publishing target implements, and its value types.

A target turns a prepared, publicly reachable media URL into a live post on one
connected page. Instagram goes through a media container (create, poll, publish);
a Facebook Page publishes its photo in one call, so it has no container.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


class MediaKind(enum.StrEnum):
    """What a creative becomes on Instagram."""

    FEED_IMAGE = "FEED_IMAGE"
    REELS = "REELS"
    STORY_IMAGE = "STORY_IMAGE"
    STORY_VIDEO = "STORY_VIDEO"

    @property
    def is_video(self) -> bool:
        return self in (MediaKind.REELS, MediaKind.STORY_VIDEO)

    @property
    def is_story(self) -> bool:
        return self in (MediaKind.STORY_IMAGE, MediaKind.STORY_VIDEO)


@dataclass(frozen=True)
class Account:
    """Where and as whom to publish: one connected page and its token."""

    page_id: str
    ig_user_id: str | None
    access_token: str = field(repr=False)


@dataclass(frozen=True)
class ContainerStatus:
    """A container's `status_code`, its sentence, and the subcode an ERROR names."""

    code: str
    status: str
    subcode: int | None = None


@dataclass(frozen=True)
class Quota:
    """The account's publishing quota over its rolling window."""

    usage: int
    total: int
    duration_seconds: int

    @property
    def remaining(self) -> int:
        return max(self.total - self.usage, 0)


@dataclass(frozen=True)
class MediaSummary:
    """One item of an account's recent media, as reconciliation reads it."""

    media_id: str
    caption: str | None
    timestamp: datetime | None


class PublishingTarget(Protocol):
    """A destination the pipeline publishes to; which one a page uses is its own."""

    name: str
    uses_containers: bool

    def create_container(
        self, account: Account, media_url: str, kind: MediaKind, caption: str
    ) -> str:
        """Create a media container and return its id."""
        ...

    def container_status(self, account: Account, container_id: str) -> ContainerStatus:
        """Read a container's status."""
        ...

    def publish(
        self,
        account: Account,
        *,
        container_id: str | None,
        media_url: str,
        caption: str,
    ) -> str:
        """Publish and return the new media's id. Never retried by the target."""
        ...

    def permalink(self, account: Account, media_id: str) -> str | None:
        """The public link of published media."""
        ...

    def publishing_quota(self, account: Account) -> Quota | None:
        """The account's publishing quota, or None where the target has none."""
        ...

    def recent_media(
        self, account: Account, limit: int = 25, *, stories: bool = False
    ) -> list[MediaSummary]:
        """The account's most recent media (or its live stories), newest first."""
        ...
