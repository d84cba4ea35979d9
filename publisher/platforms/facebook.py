"""Facebook Page publishing: one photo post per call, no container.

The media id this target returns is the Page post id (`{page_id}_{post_id}`), the
same id `/{page-id}/posts` lists, so reconciliation can match a publish against
`recent_media`. Usage headers are recorded under the account's `page_id`.
"""

from __future__ import annotations

from publisher.platforms.base import (
    Account,
    ContainerStatus,
    MediaKind,
    MediaSummary,
    Quota,
)
from publisher.platforms.graph import GraphTransport
from publisher.platforms.replies import (
    media_summaries,
    required_id,
)

_NO_CONTAINERS = (
    "Facebook Pages publish in one call and have no containers; "
    "check uses_containers before calling {}"
)


class FacebookPageTarget:
    """Publishes photos to a Facebook Page with the Page's access token."""

    name = "facebook"
    uses_containers = False

    def __init__(self, transport: GraphTransport) -> None:
        self._transport = transport

    def create_container(
        self, account: Account, media_url: str, kind: MediaKind, caption: str
    ) -> str:
        raise TypeError(_NO_CONTAINERS.format("create_container"))

    def container_status(self, account: Account, container_id: str) -> ContainerStatus:
        raise TypeError(_NO_CONTAINERS.format("container_status"))

    def publish(
        self,
        account: Account,
        *,
        container_id: str | None,
        media_url: str,
        caption: str,
    ) -> str:
        operation = "page_photos"
        body = self._transport.post(
            operation,
            f"{account.page_id}/photos",
            account.access_token,
            {"url": media_url, "caption": caption, "published": "true"},
            usage_key=account.page_id,
        )
        # `id` alone is the photo, which also has a permalink; `post_id` is the
        # post that /posts lists, so prefer it.
        return required_id(operation, body, "post_id", "id")

    def permalink(self, account: Account, media_id: str) -> str | None:
        body = self._transport.get(
            "page_permalink",
            media_id,
            account.access_token,
            {"fields": "permalink_url"},
            usage_key=account.page_id,
        )
        link = body.get("permalink_url")
        return link if isinstance(link, str) and link else None

    def publishing_quota(self, account: Account) -> Quota | None:
        # Pages have no publishing quota; their limits show up as usage headers.
        return None

    def recent_media(
        self, account: Account, limit: int = 25, *, stories: bool = False
    ) -> list[MediaSummary]:
        """The Page's latest posts from `/{page-id}/posts`, newest first.

        Pages get no stories from this publisher, so `stories` changes nothing.

        A photo post's caption reads back as the post's `message`.
        """
        operation = "page_posts"
        body = self._transport.get(
            operation,
            f"{account.page_id}/posts",
            account.access_token,
            {"fields": "id,message,created_time", "limit": str(limit)},
            usage_key=account.page_id,
        )
        return media_summaries(operation, body, caption="message", time="created_time")
