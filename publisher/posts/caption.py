"""Caption recommendations for a post (the spec's `POST .../social-posts/:id/caption`).

The post, its creative and the listing it is about are read in one short
transaction, scoped to the brand like every other call of this module; the model
is asked after the connection is given back. The post is never written: a
recommendation is only returned.

The listing is the one linked to the post's template instance; the `listing`
argument overrides it, or stands in when the post has none. Users' rows are never
read here, so nothing about them (an e-mail, a phone number) can reach a model.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

import structlog
from sqlalchemy import Connection, Engine, RowMapping, and_, func, select

from publisher.captions import (
    CreativeFacts,
    Grounding,
    ListingFacts,
    ModelFailed,
    Recommendation,
    recommend,
)
from publisher.captions.facts import scrub
from publisher.captions.images import spread_sample
from publisher.posts import query
from publisher.posts.errors import ModelUnavailable, NotFound, ValidationFailed
from publisher.settings import Settings, load_settings
from publisher.tables import (
    brand_assets,
    brands,
    files,
    listing_photos,
    listings,
    social_posts,
    template_instance_listings,
    template_instances,
    templates,
)

log = structlog.get_logger(__name__)

posts = social_posts.c
N = TypeVar("N", int, Decimal)
_creative_file = files.alias("creative_file")


def recommend_caption(
    engine: Engine,
    brand: UUID | str,
    post: UUID | str,
    listing: UUID | str | None = None,
    *,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """A recommended caption for the brand's post, in the platform's envelope.

    `settings` default to the configuration (`load_settings`); its `captions`
    section names the model, or none for the built-in writer.
    """
    brand_id = query.as_uuid(brand, "brand")
    post_id = query.as_uuid(post, "post")
    listing_id = None if listing is None else query.as_uuid(listing, "listing")
    settings = settings or load_settings()
    with engine.connect() as conn:
        grounding = _grounding(
            conn, brand_id, post_id, listing_id, settings.captions.max_photos
        )
    started = time.monotonic()
    try:
        result = recommend(grounding, settings.captions, settings.media)
    except ModelFailed as exc:
        log.warning(
            "caption_failed", brand=str(brand_id), post=str(post_id), rule=exc.rule
        )
        raise ModelUnavailable.one("model", exc.rule, exc.message) from None
    log.info(
        "caption_recommended",
        brand=str(brand_id),
        post=str(post_id),
        source=result.source,
        model=result.model,
        grounding=grounding.kind,
        images=result.images_sent,
        images_skipped=result.images_skipped,
        adjusted=len(result.adjustments),
        seconds=round(time.monotonic() - started, 3),
    )
    return {"code": "OK", "data": _json(post_id, grounding, result)}


def _json(post: UUID, grounding: Grounding, result: Recommendation) -> dict[str, Any]:
    return {
        "type": "social_post_caption",
        "social_post": str(post),
        "caption": result.caption,
        "source": result.source,
        "model": result.model,
        "grounding": grounding.kind,
        "listing": grounding.listing.id if grounding.listing else None,
        "images": result.images_sent,
        "images_skipped": result.images_skipped,
        "adjustments": result.adjustments,
    }


def _grounding(
    conn: Connection, brand: UUID, post: UUID, listing: UUID | None, photos: int
) -> Grounding:
    row = _post_row(conn, brand, post)
    creative = _creative(row)
    if listing is None and row["instance_id"] is not None:
        listing = _linked_listing(conn, brand, row["instance_id"])
        facts = None if listing is None else _listing(conn, brand, listing, photos)
    elif listing is not None:
        facts = _listing(conn, brand, listing, photos)
        if facts is None:
            raise ValidationFailed.one(
                "listing", "listing_exists", f"no listing {listing} in brand {brand}"
            )
    else:
        facts = None
    return Grounding(scrub(row["brand_name"], 200) or "", creative, facts)


def _post_row(conn: Connection, brand: UUID, post: UUID) -> RowMapping:
    asset_file = query.asset_file
    found = conn.execute(
        query.scoped(
            brand,
            brands.c.name.label("brand_name"),
            template_instances.c.id.label("instance_id"),
            templates.c.name.label("template_name"),
            templates.c.template_type,
            templates.c.medium.label("template_medium"),
            templates.c.video,
            _creative_file.c.url.label("instance_url"),
            _creative_file.c.mime.label("instance_mime"),
            _creative_file.c.preview_url.label("instance_preview"),
            brand_assets.c.label.label("asset_label"),
            brand_assets.c.template_type.label("asset_type"),
            brand_assets.c.medium.label("asset_medium"),
            asset_file.c.url.label("asset_url"),
            asset_file.c.mime.label("asset_mime"),
            asset_file.c.preview_url.label("asset_preview"),
            asset_file.c.deleted_at.label("asset_file_deleted"),
        )
        .join(brands, brands.c.id == posts.brand)
        .outerjoin(
            _creative_file,
            and_(
                _creative_file.c.id == template_instances.c.file,
                _creative_file.c.deleted_at.is_(None),
            ),
        )
        .where(posts.id == post)
    ).one_or_none()
    if found is None:
        raise NotFound.one("post", "post_exists", f"no post {post} in brand {brand}")
    return found._mapping


def _creative(row: RowMapping) -> CreativeFacts:
    if row["instance_id"] is not None:
        video = bool(row["video"])
        url, mime, preview = (
            row["instance_url"],
            row["instance_mime"],
            row["instance_preview"],
        )
        name, kind, medium = (
            row["template_name"],
            row["template_type"],
            row["template_medium"],
        )
    else:
        url, mime, preview = row["asset_url"], row["asset_mime"], row["asset_preview"]
        if row["asset_file_deleted"] is not None:
            # A deleted file is shown to no one (a deleted render is left out by
            # the join in _post_row).
            url = preview = None
        video = str(mime or "").startswith("video/")
        name, kind, medium = row["asset_label"], row["asset_type"], row["asset_medium"]
    # A video cannot be shown to the model; its preview image can (a "preview"
    # that is the video itself is not one, and would be downloaded whole).
    image = (preview if preview != url else None) if video else url
    return CreativeFacts(
        name=scrub(name, 200),
        template_type=scrub(kind, 100),
        medium=medium or "Social",
        video=video,
        image_url=image,
    )


def _linked_listing(conn: Connection, brand: UUID, instance: UUID) -> UUID | None:
    """The listing the template instance was made for (the oldest, if several)."""
    return conn.execute(
        select(listings.c.id)
        .join(
            template_instance_listings,
            template_instance_listings.c.listing == listings.c.id,
        )
        .where(
            template_instance_listings.c.template_instance == instance,
            listings.c.brand == brand,
            listings.c.deleted_at.is_(None),
        )
        .order_by(listings.c.created_at, listings.c.id)
        .limit(1)
    ).scalar_one_or_none()


def _listing(
    conn: Connection, brand: UUID, listing: UUID, photos: int
) -> ListingFacts | None:
    row = conn.execute(
        select(listings).where(
            listings.c.id == listing,
            listings.c.brand == brand,
            listings.c.deleted_at.is_(None),
        )
    ).one_or_none()
    if row is None:
        return None
    sample = _photo_sample(conn, listing, photos)
    return ListingFacts(
        id=str(row.id),
        address=scrub(row.address, 300) or "",
        city=scrub(row.city, 100),
        state=scrub(row.state, 50),
        postal_code=scrub(row.postal_code, 20),
        price=row.price,
        currency=row.currency,
        bedrooms=_count(row.bedrooms),
        bathrooms=_count(row.bathrooms),
        square_feet=_count(row.square_feet),
        status=scrub(row.status, 50),
        property_type=scrub(row.property_type, 100),
        description=scrub(row.description),
        photo_urls=sample,
    )


def _count(value: N | None) -> N | None:
    """A count as the listing row holds it; a negative one, or NUMERIC's NaN (a
    placeholder of some import), is no fact at all."""
    if value is None or (isinstance(value, Decimal) and value.is_nan()):
        return None
    return value if value >= 0 else None


def _photo_sample(conn: Connection, listing: UUID, count: int) -> list[str]:
    """`count` of the listing's live photos spread over the whole set by position
    (the first, the last, evenly between), however many it has."""
    numbered = (
        select(
            files.c.url,
            func.row_number()
            .over(order_by=(listing_photos.c.position, listing_photos.c.id))
            .label("n"),
        )
        .join(listing_photos, listing_photos.c.file == files.c.id)
        .where(
            listing_photos.c.listing == listing,
            listing_photos.c.deleted_at.is_(None),
            files.c.deleted_at.is_(None),
        )
        .subquery()
    )
    total = conn.execute(select(func.count()).select_from(numbered)).scalar_one()
    picked = spread_sample(range(1, total + 1), count)
    return list(
        conn.execute(
            select(numbered.c.url)
            .where(numbered.c.n.in_(picked))
            .order_by(numbered.c.n)
        ).scalars()
    )
