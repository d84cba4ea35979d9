"""The schema as the first release (`issue 2`) created it with `db init`.

Frozen here rather than taken from `publisher.tables`, which moves on: this is what
a database made by that release holds, and what `db init` recognises in one that has
no `alembic_version` table yet.

Revision ID: 0001
Revises: none
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_MEDIUMS = (
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
_STAGES = (
    "queued",
    "prepared",
    "container",
    "publish_sent",
    "published",
    "failed",
    "unconfirmed",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


_MEDIUM_CHECK = _in("medium", _MEDIUMS)
_STAGE_CHECK = _in("stage", _STAGES)


def _stamps() -> list[sa.Column[datetime]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
    ]


_CLAIMABLE = "executed_at IS NULL AND deleted_at IS NULL AND due_at IS NOT NULL"


def upgrade() -> None:
    op.create_table(
        "brands",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_brands")),
    )
    op.create_table(
        "templates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("medium", sa.Text(), nullable=False),
        sa.Column("template_type", sa.Text(), nullable=False),
        sa.Column(
            "video", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        *_stamps(),
        sa.CheckConstraint(_MEDIUM_CHECK, name=op.f("ck_templates_medium")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_templates")),
    )
    op.create_table(
        "worker_heartbeats",
        sa.Column("worker", sa.Text(), nullable=False),
        sa.Column("hostname", sa.Text(), nullable=False),
        sa.Column("pid", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_poll_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("worker", name=op.f("pk_worker_heartbeats")),
    )
    op.create_table(
        "facebook_pages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("brand", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("facebook_page_id", sa.Text(), nullable=False),
        sa.Column("instagram_business_account_id", sa.Text()),
        sa.Column("instagram_username", sa.Text()),
        sa.Column("access_token", sa.Text(), nullable=False),
        sa.Column(
            "revoked", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("target", sa.Text(), server_default="instagram", nullable=False),
        sa.Column("needs_reauth_at", sa.DateTime(timezone=True)),
        sa.Column("reauth_reason", sa.Text()),
        sa.Column("throttled_until", sa.DateTime(timezone=True)),
        *_stamps(),
        sa.CheckConstraint(
            "target <> 'instagram' OR instagram_business_account_id IS NOT NULL",
            name=op.f("ck_facebook_pages_instagram_account"),
        ),
        sa.CheckConstraint(
            "target IN ('instagram', 'facebook')", name=op.f("ck_facebook_pages_target")
        ),
        sa.ForeignKeyConstraint(
            ["brand"], ["brands.id"], name=op.f("fk_facebook_pages_brand")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facebook_pages")),
    )
    op.create_table(
        "listings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("brand", sa.Uuid(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("city", sa.Text()),
        sa.Column("state", sa.Text()),
        sa.Column("postal_code", sa.Text()),
        sa.Column("price", sa.Numeric(precision=14, scale=2)),
        sa.Column("currency", sa.Text(), server_default="USD", nullable=False),
        sa.Column("bedrooms", sa.Integer()),
        sa.Column("bathrooms", sa.Numeric(precision=4, scale=1)),
        sa.Column("square_feet", sa.Integer()),
        sa.Column("status", sa.Text()),
        sa.Column("property_type", sa.Text()),
        sa.Column("description", sa.Text()),
        *_stamps(),
        sa.ForeignKeyConstraint(
            ["brand"], ["brands.id"], name=op.f("fk_listings_brand")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listings")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.Text()),
        sa.Column("first_name", sa.Text()),
        sa.Column("last_name", sa.Text()),
        sa.Column("email", sa.Text()),
        sa.Column("phone_number", sa.Text()),
        sa.Column("address_id", sa.Uuid()),
        sa.Column("cover_image_url", sa.Text()),
        sa.Column("profile_image_url", sa.Text()),
        sa.Column("profile_image_thumbnail_url", sa.Text()),
        sa.Column("cover_image_thumbnail_url", sa.Text()),
        sa.Column("user_status", sa.Text(), server_default="Active", nullable=False),
        sa.Column(
            "email_confirmed",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
        ),
        sa.Column(
            "phone_confirmed",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
        ),
        sa.Column("timezone", sa.Text(), server_default="UTC", nullable=False),
        sa.Column("user_type", sa.Text(), server_default="Agent", nullable=False),
        sa.Column("is_shadow", sa.Boolean()),
        sa.Column("personal_room", sa.Uuid()),
        sa.Column("brand", sa.Uuid()),
        sa.Column("active_brand", sa.Uuid()),
        sa.Column("fake_email", sa.Boolean()),
        sa.Column("features", sa.JSON()),
        sa.Column("last_seen_at", sa.DateTime(timezone=True)),
        sa.Column("last_seen_type", sa.Text()),
        sa.Column("email_signature", sa.Text()),
        sa.Column(
            "daily_enabled",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
        ),
        sa.Column("email_quota", sa.Integer()),
        sa.Column("website", sa.Text()),
        sa.Column("instagram", sa.Text()),
        sa.Column("twitter", sa.Text()),
        sa.Column("linkedin", sa.Text()),
        sa.Column("youtube", sa.Text()),
        sa.Column("facebook", sa.Text()),
        sa.Column("tiktok", sa.Text()),
        sa.Column("designation", sa.Text()),
        sa.Column(
            "mfa_enabled", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("xpressdocs_user_id", sa.Text()),
        sa.Column("bio", sa.Text()),
        sa.Column(
            "push_allowed", sa.Boolean(), server_default=sa.text("true"), nullable=False
        ),
        sa.Column("agents", sa.JSON()),
        sa.Column(
            "has_password",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
        ),
        *_stamps(),
        sa.ForeignKeyConstraint(
            ["active_brand"], ["brands.id"], name=op.f("fk_users_active_brand")
        ),
        sa.ForeignKeyConstraint(["brand"], ["brands.id"], name=op.f("fk_users_brand")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_table(
        "files",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.Uuid()),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "public", sa.Boolean(), server_default=sa.text("true"), nullable=False
        ),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("preview_url", sa.Text()),
        sa.Column("mime", sa.Text(), nullable=False),
        *_stamps(),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_files_created_by")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_files")),
    )
    op.create_table(
        "brand_assets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("brand", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.Uuid()),
        sa.Column("file", sa.Uuid(), nullable=False),
        sa.Column("label", sa.Text()),
        sa.Column("template_type", sa.Text()),
        sa.Column("medium", sa.Text(), nullable=False),
        sa.Column("branch", sa.Text()),
        *_stamps(),
        sa.CheckConstraint(_MEDIUM_CHECK, name=op.f("ck_brand_assets_medium")),
        sa.ForeignKeyConstraint(
            ["brand"], ["brands.id"], name=op.f("fk_brand_assets_brand")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_brand_assets_created_by")
        ),
        sa.ForeignKeyConstraint(
            ["file"], ["files.id"], name=op.f("fk_brand_assets_file")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_brand_assets")),
    )
    op.create_table(
        "listing_photos",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("listing", sa.Uuid(), nullable=False),
        sa.Column("file", sa.Uuid(), nullable=False),
        sa.Column(
            "position", sa.Integer(), server_default=sa.text("0"), nullable=False
        ),
        *_stamps(),
        sa.ForeignKeyConstraint(
            ["file"], ["files.id"], name=op.f("fk_listing_photos_file")
        ),
        sa.ForeignKeyConstraint(
            ["listing"], ["listings.id"], name=op.f("fk_listing_photos_listing")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listing_photos")),
    )
    op.create_table(
        "template_instances",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("template", sa.Uuid(), nullable=False),
        sa.Column("brand", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.Uuid()),
        sa.Column("file", sa.Uuid(), nullable=False),
        sa.Column("html", sa.Text()),
        sa.Column("branch", sa.Text()),
        *_stamps(),
        sa.ForeignKeyConstraint(
            ["brand"], ["brands.id"], name=op.f("fk_template_instances_brand")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_template_instances_created_by")
        ),
        sa.ForeignKeyConstraint(
            ["file"], ["files.id"], name=op.f("fk_template_instances_file")
        ),
        sa.ForeignKeyConstraint(
            ["template"], ["templates.id"], name=op.f("fk_template_instances_template")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_template_instances")),
    )
    op.create_table(
        "social_posts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("brand", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("caption", sa.Text(), server_default="", nullable=False),
        sa.Column("facebook_page", sa.Uuid(), nullable=False),
        sa.Column("template_instance", sa.Uuid()),
        sa.Column("asset", sa.Uuid()),
        sa.Column("post_link", sa.Text()),
        sa.Column("failed_at", sa.DateTime(timezone=True)),
        sa.Column("failure", sa.Text()),
        sa.Column("media_container_id", sa.Text()),
        sa.Column("due_at", sa.DateTime(timezone=True)),
        sa.Column("executed_at", sa.DateTime(timezone=True)),
        *_stamps(),
        sa.Column("stage", sa.Text(), server_default="queued", nullable=False),
        sa.Column("claimed_by", sa.Text()),
        sa.Column("claimed_until", sa.DateTime(timezone=True)),
        sa.Column("first_claimed_at", sa.DateTime(timezone=True)),
        sa.Column(
            "attempts", sa.Integer(), server_default=sa.text("0"), nullable=False
        ),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("prepared_media_url", sa.Text()),
        sa.Column("prepared_media_kind", sa.Text()),
        sa.Column("prepared_digest", sa.Text()),
        sa.Column("container_created_at", sa.DateTime(timezone=True)),
        sa.Column("publish_sent_at", sa.DateTime(timezone=True)),
        sa.Column("published_media_id", sa.Text()),
        sa.Column("last_error", sa.Text()),
        sa.CheckConstraint(_STAGE_CHECK, name=op.f("ck_social_posts_stage")),
        sa.CheckConstraint(
            "(template_instance IS NULL) <> (asset IS NULL)",
            name=op.f("ck_social_posts_one_creative"),
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_social_posts_attempts")),
        sa.ForeignKeyConstraint(
            ["asset"], ["brand_assets.id"], name=op.f("fk_social_posts_asset")
        ),
        sa.ForeignKeyConstraint(
            ["brand"], ["brands.id"], name=op.f("fk_social_posts_brand")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_social_posts_created_by")
        ),
        sa.ForeignKeyConstraint(
            ["facebook_page"],
            ["facebook_pages.id"],
            name=op.f("fk_social_posts_facebook_page"),
        ),
        sa.ForeignKeyConstraint(
            ["template_instance"],
            ["template_instances.id"],
            name=op.f("fk_social_posts_template_instance"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_social_posts")),
    )
    op.create_index(
        "ix_social_posts_brand_created_at",
        "social_posts",
        ["brand", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_social_posts_claimable",
        "social_posts",
        ["due_at"],
        unique=False,
        postgresql_where=sa.text(_CLAIMABLE),
        sqlite_where=sa.text(_CLAIMABLE),
    )
    op.create_table(
        "template_instance_listings",
        sa.Column("template_instance", sa.Uuid(), nullable=False),
        sa.Column("listing", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["listing"],
            ["listings.id"],
            name=op.f("fk_template_instance_listings_listing"),
        ),
        sa.ForeignKeyConstraint(
            ["template_instance"],
            ["template_instances.id"],
            name=op.f("fk_template_instance_listings_template_instance"),
        ),
        sa.PrimaryKeyConstraint(
            "template_instance", "listing", name=op.f("pk_template_instance_listings")
        ),
    )


def downgrade() -> None:
    for table in (
        "template_instance_listings",
        "social_posts",
        "template_instances",
        "listing_photos",
        "brand_assets",
        "files",
        "users",
        "listings",
        "facebook_pages",
        "worker_heartbeats",
        "templates",
        "brands",
    ):
        op.drop_table(table)
