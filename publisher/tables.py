"""The schema, as SQLAlchemy Core tables: the single source of `schema.sql`.

Column names follow the JSON fields of the platform's Social Post API. The worker's
own bookkeeping on `social_posts` (claim, lease, stage, attempts, ...) sits after the
platform's fields. Run `publisher db schema` to print the PostgreSQL DDL.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.types import DateTime, TypeDecorator


class Timestamp(TypeDecorator[datetime]):
    """`timestamptz` on PostgreSQL; on SQLite, UTC text read back as aware UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; use aware UTC")
        value = value.astimezone(UTC)
        # SQLite stores text; one fixed offset keeps its string comparisons right.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: datetime | None, dialect: Dialect
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Stage(enum.StrEnum):
    """How far the pipeline has taken a post; each stage is committed on reaching it."""

    QUEUED = "queued"
    PREPARED = "prepared"
    CONTAINER = "container"
    PUBLISH_SENT = "publish_sent"
    PUBLISHED = "published"
    FAILED = "failed"
    # The publish call was sent, but whether it took could not be established.
    UNCONFIRMED = "unconfirmed"
    # Later than worker.max_lateness_seconds: not published; only a backfill revives it.
    MISSED = "missed"


MEDIUMS = (
    "Email",
    "Social",
    "CrmOpenHouse",
    "FacebookCover",
    "InstagramStory",
    "LinkedInCover",
    "Letter",
    "Website",
    "RealtorCover",
    "YouTubeCover",
    "TwitterCover",
)

TARGETS = ("instagram", "facebook")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _id() -> Column[Any]:
    return Column("id", Uuid, primary_key=True)


def _ref(name: str, target: str, *, nullable: bool = False) -> Column[Any]:
    return Column(name, Uuid, ForeignKey(f"{target}.id"), nullable=nullable)


def _stamps() -> list[Column[Any]]:
    return [
        Column("created_at", Timestamp, nullable=False),
        Column("updated_at", Timestamp),
        Column("deleted_at", Timestamp),
    ]


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


brands = Table(
    "brands",
    metadata,
    _id(),
    Column("name", Text, nullable=False),
    *_stamps(),
)

users = Table(
    "users",
    metadata,
    _id(),
    Column("username", Text),
    Column("first_name", Text),
    Column("last_name", Text),
    Column("email", Text),
    Column("phone_number", Text),
    Column("address_id", Uuid),
    Column("cover_image_url", Text),
    Column("profile_image_url", Text),
    Column("profile_image_thumbnail_url", Text),
    Column("cover_image_thumbnail_url", Text),
    Column("user_status", Text, nullable=False, server_default="Active"),
    Column("email_confirmed", Boolean, nullable=False, server_default=text("false")),
    Column("phone_confirmed", Boolean, nullable=False, server_default=text("false")),
    Column("timezone", Text, nullable=False, server_default="UTC"),
    Column("user_type", Text, nullable=False, server_default="Agent"),
    Column("is_shadow", Boolean),
    Column("personal_room", Uuid),
    Column("brand", Uuid, ForeignKey("brands.id")),
    Column("active_brand", Uuid, ForeignKey("brands.id")),
    Column("fake_email", Boolean),
    Column("features", JSON),
    Column("last_seen_at", Timestamp),
    Column("last_seen_type", Text),
    Column("email_signature", Text),
    Column("daily_enabled", Boolean, nullable=False, server_default=text("false")),
    Column("email_quota", Integer),
    Column("website", Text),
    Column("instagram", Text),
    Column("twitter", Text),
    Column("linkedin", Text),
    Column("youtube", Text),
    Column("facebook", Text),
    Column("tiktok", Text),
    Column("designation", Text),
    Column("mfa_enabled", Boolean, nullable=False, server_default=text("false")),
    Column("xpressdocs_user_id", Text),
    Column("bio", Text),
    Column("push_allowed", Boolean, nullable=False, server_default=text("true")),
    Column("agents", JSON),
    Column("has_password", Boolean, nullable=False, server_default=text("false")),
    *_stamps(),
)

files = Table(
    "files",
    metadata,
    _id(),
    _ref("created_by", "users", nullable=True),
    Column("path", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("public", Boolean, nullable=False, server_default=text("true")),
    Column("url", Text, nullable=False),
    Column("preview_url", Text),
    Column("mime", Text, nullable=False),
    *_stamps(),
)

templates = Table(
    "templates",
    metadata,
    _id(),
    Column("name", Text, nullable=False),
    Column("medium", Text, nullable=False),
    Column("template_type", Text, nullable=False),
    Column("video", Boolean, nullable=False, server_default=text("false")),
    *_stamps(),
    CheckConstraint(_in("medium", MEDIUMS), name="medium"),
)

template_instances = Table(
    "template_instances",
    metadata,
    _id(),
    _ref("template", "templates"),
    _ref("brand", "brands"),
    _ref("created_by", "users", nullable=True),
    _ref("file", "files"),
    Column("html", Text),
    Column("branch", Text),
    *_stamps(),
)

listings = Table(
    "listings",
    metadata,
    _id(),
    _ref("brand", "brands"),
    Column("address", Text, nullable=False),
    Column("city", Text),
    Column("state", Text),
    Column("postal_code", Text),
    Column("price", Numeric(14, 2)),
    Column("currency", Text, nullable=False, server_default="USD"),
    Column("bedrooms", Integer),
    Column("bathrooms", Numeric(4, 1)),
    Column("square_feet", Integer),
    Column("status", Text),
    Column("property_type", Text),
    Column("description", Text),
    *_stamps(),
)

template_instance_listings = Table(
    "template_instance_listings",
    metadata,
    Column(
        "template_instance", Uuid, ForeignKey("template_instances.id"), primary_key=True
    ),
    Column("listing", Uuid, ForeignKey("listings.id"), primary_key=True),
)

listing_photos = Table(
    "listing_photos",
    metadata,
    _id(),
    _ref("listing", "listings"),
    _ref("file", "files"),
    Column("position", Integer, nullable=False, server_default=text("0")),
    *_stamps(),
)

brand_assets = Table(
    "brand_assets",
    metadata,
    _id(),
    _ref("brand", "brands"),
    _ref("created_by", "users", nullable=True),
    _ref("file", "files"),
    Column("label", Text),
    Column("template_type", Text),
    Column("medium", Text, nullable=False),
    Column("branch", Text),
    *_stamps(),
    CheckConstraint(_in("medium", MEDIUMS), name="medium"),
)

facebook_pages = Table(
    "facebook_pages",
    metadata,
    _id(),
    _ref("brand", "brands"),
    Column("name", Text, nullable=False),
    Column("facebook_page_id", Text, nullable=False),
    Column("instagram_business_account_id", Text),
    Column("instagram_username", Text),
    Column("access_token", Text, nullable=False),
    Column("revoked", Boolean, nullable=False, server_default=text("false")),
    # Which publishing target this page's posts go to.
    Column("target", Text, nullable=False, server_default="instagram"),
    # Set when Meta refused the token: the page's posts are held until reconnected.
    Column("needs_reauth_at", Timestamp),
    Column("reauth_reason", Text),
    # Set when Meta throttled the page: none of its posts is claimed before then.
    Column("throttled_until", Timestamp),
    *_stamps(),
    CheckConstraint(_in("target", TARGETS), name="target"),
    CheckConstraint(
        "target <> 'instagram' OR instagram_business_account_id IS NOT NULL",
        name="instagram_account",
    ),
)

social_posts = Table(
    "social_posts",
    metadata,
    _id(),
    _ref("brand", "brands"),
    _ref("created_by", "users"),
    Column("caption", Text, nullable=False, server_default=""),
    _ref("facebook_page", "facebook_pages"),
    _ref("template_instance", "template_instances", nullable=True),
    _ref("asset", "brand_assets", nullable=True),
    Column("post_link", Text),
    Column("failed_at", Timestamp),
    Column("failure", Text),
    Column("media_container_id", Text),
    Column("due_at", Timestamp),
    Column("executed_at", Timestamp),
    *_stamps(),
    # The worker's own columns.
    Column("stage", Text, nullable=False, server_default=Stage.QUEUED.value),
    Column("claimed_by", Text),
    Column("claimed_until", Timestamp),
    # When a worker first took the post up: its lateness is this minus `due_at`.
    Column("first_claimed_at", Timestamp),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", Timestamp),
    Column("prepared_media_url", Text),
    Column("prepared_media_kind", Text),
    Column("prepared_digest", Text),
    Column("container_created_at", Timestamp),
    Column("publish_sent_at", Timestamp),
    Column("published_media_id", Text),
    Column("last_error", Text),
    # Set by a backfill: the operator chose to publish this post however late it is.
    Column("lateness_waived_at", Timestamp),
    CheckConstraint(
        "(template_instance IS NULL) <> (asset IS NULL)", name="one_creative"
    ),
    CheckConstraint(_in("stage", tuple(Stage)), name="stage"),
    CheckConstraint("attempts >= 0", name="attempts"),
)

# Serves the claim: only live, unexecuted, scheduled posts are in it.
_CLAIMABLE = "executed_at IS NULL AND deleted_at IS NULL AND due_at IS NOT NULL"
Index(
    "ix_social_posts_claimable",
    social_posts.c.due_at,
    postgresql_where=text(_CLAIMABLE),
    sqlite_where=text(_CLAIMABLE),
)
Index(
    "ix_social_posts_brand_created_at", social_posts.c.brand, social_posts.c.created_at
)

worker_heartbeats = Table(
    "worker_heartbeats",
    metadata,
    Column("worker", Text, primary_key=True),
    Column("hostname", Text, nullable=False),
    Column("pid", BigInteger, nullable=False),
    Column("started_at", Timestamp, nullable=False),
    Column("last_poll_at", Timestamp, nullable=False),
)

# Failure events for the webhook, written in the transaction of the outcome they
# report (so a crash loses none) and delivered, at least once, by `webhooks.py`.
webhook_outbox = Table(
    "webhook_outbox",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("event", Text, nullable=False),
    Column("post", Uuid),
    Column("page", Uuid, nullable=False),
    Column("brand", Uuid, nullable=False),
    Column("detail", Text),
    Column("occurred_at", Timestamp, nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    # Also the delivery lease: a sender pushes it forward before it posts.
    Column("next_attempt_at", Timestamp, nullable=False),
    Column("delivered_at", Timestamp),
    # Set when webhooks.max_attempts ran out: kept for the operator, never resent.
    Column("given_up_at", Timestamp),
    Column("last_error", Text),
)
Index(
    "ix_webhook_outbox_next_attempt_at",
    webhook_outbox.c.next_attempt_at,
    postgresql_where=text("delivered_at IS NULL AND given_up_at IS NULL"),
    sqlite_where=text("delivered_at IS NULL AND given_up_at IS NULL"),
)
