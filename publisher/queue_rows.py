"""What a claim reads: the post with its page and creative, and the page test.

Kept apart from the queue's writes so that the page operations and the reports,
which read the same rows, can share these without importing the queue itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, select
from sqlalchemy.sql import ColumnElement

from publisher.tables import (
    Stage,
    brand_assets,
    facebook_pages,
    files,
    social_posts,
    template_instances,
    templates,
)

posts = social_posts.c
pages = facebook_pages.c


@dataclass(frozen=True)
class ClaimedPost:
    """A post under this worker's claim, with everything an attempt needs."""

    id: UUID
    brand: UUID
    caption: str
    due_at: datetime | None
    stage: Stage
    attempts: int
    claimed_until: datetime
    page: UUID
    target: str
    facebook_page_id: str
    ig_user_id: str | None
    access_token: str = field(repr=False)
    creative_url: str = ""
    creative_mime: str = ""
    medium: str | None = None
    template_video: bool = False
    prepared_media_url: str | None = None
    prepared_media_kind: str | None = None
    media_container_id: str | None = None
    container_created_at: datetime | None = None
    publish_sent_at: datetime | None = None
    published_media_id: str | None = None
    template_instance: UUID | None = None
    asset: UUID | None = None
    deleted_at: datetime | None = None


def page_usable() -> ColumnElement[bool]:
    """A page whose posts may be attempted: live, authorized, not held."""
    return and_(
        pages.deleted_at.is_(None),
        pages.revoked.is_(False),
        pages.needs_reauth_at.is_(None),
    )


def context_query() -> Any:
    """The post row with its page and its creative's file, for `claimed_post`."""
    ti_file = files.alias("ti_file")
    asset_file = files.alias("asset_file")
    return (
        select(
            posts.id,
            posts.brand,
            posts.caption,
            posts.due_at,
            posts.stage,
            posts.attempts,
            posts.claimed_until,
            posts.facebook_page.label("page"),
            pages.target,
            pages.facebook_page_id,
            pages.instagram_business_account_id.label("ig_user_id"),
            pages.access_token,
            posts.prepared_media_url,
            posts.prepared_media_kind,
            posts.media_container_id,
            posts.container_created_at,
            posts.publish_sent_at,
            posts.published_media_id,
            posts.template_instance,
            posts.asset,
            posts.deleted_at,
            ti_file.c.url.label("ti_url"),
            ti_file.c.mime.label("ti_mime"),
            templates.c.medium.label("ti_medium"),
            templates.c.video.label("ti_video"),
            asset_file.c.url.label("asset_url"),
            asset_file.c.mime.label("asset_mime"),
            brand_assets.c.medium.label("asset_medium"),
        )
        .select_from(social_posts)
        .join(facebook_pages, pages.id == posts.facebook_page)
        # A deleted creative (or file) joins as missing: the post has nothing
        # to publish, and the pipeline fails it saying so.
        .outerjoin(
            template_instances,
            and_(
                template_instances.c.id == posts.template_instance,
                template_instances.c.deleted_at.is_(None),
            ),
        )
        .outerjoin(templates, templates.c.id == template_instances.c.template)
        .outerjoin(
            ti_file,
            and_(
                ti_file.c.id == template_instances.c.file,
                ti_file.c.deleted_at.is_(None),
            ),
        )
        .outerjoin(
            brand_assets,
            and_(brand_assets.c.id == posts.asset, brand_assets.c.deleted_at.is_(None)),
        )
        .outerjoin(
            asset_file,
            and_(
                asset_file.c.id == brand_assets.c.file,
                asset_file.c.deleted_at.is_(None),
            ),
        )
    )


def claimed_post(row: Any) -> ClaimedPost:
    """The creative comes from the template instance if there is one."""
    from_template = row.ti_url is not None
    return ClaimedPost(
        id=row.id,
        brand=row.brand,
        caption=row.caption,
        due_at=row.due_at,
        stage=Stage(row.stage),
        attempts=row.attempts,
        claimed_until=row.claimed_until,
        page=row.page,
        target=row.target,
        facebook_page_id=row.facebook_page_id,
        ig_user_id=row.ig_user_id,
        access_token=row.access_token,
        creative_url=row.ti_url if from_template else (row.asset_url or ""),
        creative_mime=row.ti_mime if from_template else (row.asset_mime or ""),
        medium=row.ti_medium if from_template else row.asset_medium,
        template_video=bool(row.ti_video) if from_template else False,
        prepared_media_url=row.prepared_media_url,
        prepared_media_kind=row.prepared_media_kind,
        media_container_id=row.media_container_id,
        container_created_at=row.container_created_at,
        publish_sent_at=row.publish_sent_at,
        published_media_id=row.published_media_id,
        template_instance=row.template_instance,
        asset=row.asset,
        deleted_at=row.deleted_at,
    )
