"""What has been made: containers, Instagram media and Page posts, with Meta's rules.

`Content` is not locked and reads no clock: SimulatorState calls it under its lock and
passes `now`, so each rule here is a plain function of the records and the time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from publisher.simulator import errors
from publisher.simulator.records import (
    QUOTA_WINDOW_SECONDS,
    Account,
    Container,
    Media,
    PagePost,
    StatusCode,
)

CONTAINERS_PER_DAY = 400

# Distinct bases keep every kind of id numeric, Meta-like and never equal to another.
_CONTAINER_ID_BASE = 17_840_000_000_000_000
_MEDIA_ID_BASE = 17_890_000_000_000_000
_PHOTO_ID_BASE = 122_000_000_000_000
_POST_NUMBER_BASE = 123_000_000_000_000


class Content:
    def __init__(self, next_number: Callable[[], int]) -> None:
        self._next_number = next_number
        self._containers: dict[str, Container] = {}
        self._media: dict[str, Media] = {}
        self._page_posts: dict[str, PagePost] = {}
        # Media and page posts in the order they went live: the publish log.
        self.published: list[Media | PagePost] = []

    def _new_id(self, base: int) -> str:
        return str(base + self._next_number())

    # Instagram.

    def create_container(
        self,
        account: Account,
        *,
        now: float,
        processing_seconds: float,
        media_type: str,
        product_type: str,
        caption: str,
        source_url: str,
        standalone_video: bool,
        error_subcode: int | None,
    ) -> Container:
        assert account.ig_user_id is not None
        day_ago = now - QUOTA_WINDOW_SECONDS
        made_today = sum(
            1
            for c in self._containers.values()
            if c.ig_user_id == account.ig_user_id and c.created_at > day_ago
        )
        if made_today >= CONTAINERS_PER_DAY:
            raise errors.container_cap_reached()

        container = Container(
            id=self._new_id(_CONTAINER_ID_BASE),
            ig_user_id=account.ig_user_id,
            media_type=media_type,
            product_type=product_type,
            caption=caption,
            source_url=source_url,
            created_at=now,
            ready_at=now + processing_seconds,
            standalone_video=standalone_video,
            error_subcode=error_subcode,
        )
        self._containers[container.id] = container
        return container

    def container(self, container_id: str) -> Container | None:
        return self._containers.get(container_id)

    def containers(self) -> list[Container]:
        return list(self._containers.values())

    def publish_container(
        self, account: Account, creation_id: str, *, now: float, quota_total: int
    ) -> Media:
        """Turn a FINISHED container into media, or raise the error Meta would."""
        container = self._containers.get(creation_id)
        if container is None or container.ig_user_id != account.ig_user_id:
            raise errors.creation_id_unknown()
        status = container.status_code(now)
        if status is StatusCode.PUBLISHED:
            raise errors.container_already_published()
        if status is StatusCode.EXPIRED:
            raise errors.container_expired()
        if status is not StatusCode.FINISHED:
            raise errors.container_not_ready()
        if container.standalone_video:
            raise errors.video_only_in_carousel()
        used = self.quota_usage(container.ig_user_id, since=now - QUOTA_WINDOW_SECONDS)
        if used >= quota_total:
            raise errors.publishing_quota_reached()

        media = Media(
            id=self._new_id(_MEDIA_ID_BASE),
            container_id=container.id,
            ig_user_id=container.ig_user_id,
            page_id=account.page_id,
            username=account.username,
            caption=container.caption,
            media_type=container.media_type,
            product_type=container.product_type,
            source_url=container.source_url,
            published_at=now,
        )
        self._containers[container.id] = replace(container, media_id=media.id)
        self._media[media.id] = media
        self.published.append(media)
        return media

    def media(self, media_id: str) -> Media | None:
        return self._media.get(media_id)

    def recent_media(
        self, ig_user_id: str | None, limit: int, stories: bool
    ) -> list[Media]:
        """The user's media (or, with `stories`, only its stories), newest first."""
        mine = [
            m
            for m in self._media.values()
            if m.ig_user_id == ig_user_id and (m.product_type == "STORY") == stories
        ]
        return mine[::-1][:limit]

    def quota_usage(self, ig_user_id: str | None, *, since: float) -> int:
        return sum(
            1
            for m in self._media.values()
            if m.ig_user_id == ig_user_id and m.published_at > since
        )

    # Facebook Pages.

    def publish_photo(
        self, account: Account, *, url: str, caption: str, now: float
    ) -> PagePost:
        previous = next(
            (
                p
                for p in reversed(self.published)
                if isinstance(p, PagePost) and p.page_id == account.page_id
            ),
            None,
        )
        if previous and (previous.caption, previous.source_url) == (caption, url):
            raise errors.duplicate_page_post()

        number = self._new_id(_POST_NUMBER_BASE)
        post = PagePost(
            post_id=f"{account.page_id}_{number}",
            photo_id=self.new_photo_id(),
            page_id=account.page_id,
            ig_user_id=account.ig_user_id,
            caption=caption,
            source_url=url,
            published_at=now,
        )
        self._page_posts[post.post_id] = post
        self.published.append(post)
        return post

    def new_photo_id(self) -> str:
        return self._new_id(_PHOTO_ID_BASE)

    def page_post(self, post_id: str) -> PagePost | None:
        return self._page_posts.get(post_id)

    def page_posts(self, page_id: str, limit: int) -> list[PagePost]:
        """The page's posts, newest first."""
        mine = [p for p in self._page_posts.values() if p.page_id == page_id]
        return mine[::-1][:limit]
