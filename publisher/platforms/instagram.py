"""Instagram publishing through media containers: create, poll, publish.

Every call records its usage headers under the account's `page_id`, so callers read
`transport.last_usage(account.page_id)` whichever id a path names.
"""

from __future__ import annotations

import re

from publisher.platforms.base import (
    Account,
    ContainerStatus,
    MediaKind,
    MediaSummary,
    Quota,
)
from publisher.platforms.errors import MissingInstagramAccountError, unexpected_reply
from publisher.platforms.graph import GraphTransport
from publisher.platforms.replies import (
    data_list,
    media_summaries,
    required_id,
)

# Failed containers name their subcode in the sentence: "...error code 2207082".
_SUBCODE_IN_STATUS = re.compile(r"error code (\d+)", re.IGNORECASE)


class InstagramTarget:
    """Publishes to an Instagram business account through the Graph API."""

    name = "instagram"
    uses_containers = True

    def __init__(self, transport: GraphTransport) -> None:
        self._transport = transport

    def create_container(
        self, account: Account, media_url: str, kind: MediaKind, caption: str
    ) -> str:
        operation = "create_container"
        form = {"video_url" if kind.is_video else "image_url": media_url}
        if kind.is_story:
            # Meta does not accept a caption on a Story.
            form["media_type"] = "STORIES"
        else:
            form["caption"] = caption
            if kind is MediaKind.REELS:
                form["media_type"] = "REELS"
        body = self._transport.post(
            operation,
            f"{_ig_user(account, operation)}/media",
            account.access_token,
            form,
            usage_key=account.page_id,
        )
        return required_id(operation, body, "id")

    def container_status(self, account: Account, container_id: str) -> ContainerStatus:
        body = self._transport.get(
            "container_status",
            container_id,
            account.access_token,
            {"fields": "status_code,status"},
            usage_key=account.page_id,
        )
        sentence = body.get("status")
        status = sentence if isinstance(sentence, str) else ""
        match = _SUBCODE_IN_STATUS.search(status)
        return ContainerStatus(
            code=_status_code(body.get("status_code"), status),
            status=status,
            subcode=int(match.group(1)) if match else None,
        )

    def publish(
        self,
        account: Account,
        *,
        container_id: str | None,
        media_url: str,
        caption: str,
    ) -> str:
        operation = "media_publish"
        if container_id is None:
            raise ValueError("Instagram publishes a container; container_id is None")
        body = self._transport.post(
            operation,
            f"{_ig_user(account, operation)}/media_publish",
            account.access_token,
            {"creation_id": container_id},
            usage_key=account.page_id,
        )
        return required_id(operation, body, "id")

    def permalink(self, account: Account, media_id: str) -> str | None:
        body = self._transport.get(
            "permalink",
            media_id,
            account.access_token,
            {"fields": "permalink"},
            usage_key=account.page_id,
        )
        link = body.get("permalink")
        return link if isinstance(link, str) and link else None

    def publishing_quota(self, account: Account) -> Quota | None:
        operation = "publishing_limit"
        body = self._transport.get(
            operation,
            f"{_ig_user(account, operation)}/content_publishing_limit",
            account.access_token,
            {"fields": "quota_usage,config"},
            usage_key=account.page_id,
        )
        entries = data_list(operation, body)
        entry = entries[0] if entries else {}
        config = entry.get("config")
        config = config if isinstance(config, dict) else {}
        usage = entry.get("quota_usage")
        total = config.get("quota_total")
        duration = config.get("quota_duration")
        if not (
            isinstance(usage, int)
            and isinstance(total, int)
            and isinstance(duration, int)
        ):
            raise unexpected_reply(operation, 200, "reply has no quota and config")
        return Quota(usage=usage, total=total, duration_seconds=duration)

    def recent_media(
        self, account: Account, limit: int = 25, *, stories: bool = False
    ) -> list[MediaSummary]:
        # Meta lists live stories under their own edge, never under /media.
        operation = "recent_stories" if stories else "recent_media"
        edge = "stories" if stories else "media"
        body = self._transport.get(
            operation,
            f"{_ig_user(account, operation)}/{edge}",
            account.access_token,
            {"fields": "id,caption,timestamp", "limit": str(limit)},
            usage_key=account.page_id,
        )
        return media_summaries(operation, body, caption="caption", time="timestamp")


def _status_code(raw: object, sentence: str) -> str:
    code = raw.strip().upper() if isinstance(raw, str) else ""
    if code:
        return code
    # One real failure came back with an empty status_code and an "Error: ..."
    # sentence. Anything else unlabelled is treated as still processing, so the
    # caller keeps polling instead of giving up on a container that may finish.
    return "ERROR" if sentence.lower().startswith("error") else "IN_PROGRESS"


def _ig_user(account: Account, operation: str) -> str:
    if account.ig_user_id is None:
        raise MissingInstagramAccountError(
            operation, message=f"page {account.page_id} has no ig_user_id"
        )
    return account.ig_user_id
