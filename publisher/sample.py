"""Sample rows and creatives: the demo's world, and the tests' factories.

Creatives are real images rendered with Pillow and written to the media directory,
so the simulator fetches them over HTTP exactly as Meta would fetch a brand's files.
"""

from __future__ import annotations

import io
import secrets
import struct
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import Connection, insert

from publisher.tables import (
    brand_assets,
    brands,
    facebook_pages,
    files,
    listing_photos,
    listings,
    social_posts,
    template_instance_listings,
    template_instances,
    templates,
    users,
)


def _now() -> datetime:
    return datetime.now(UTC)


def render_creative(
    width: int,
    height: int,
    title: str,
    subtitle: str = "",
    *,
    transparent: bool = False,
) -> bytes:
    """A PNG flyer: a coloured card with a title, as a template render would be."""
    mode = "RGBA" if transparent else "RGB"
    background = (0, 0, 0, 0) if transparent else (22, 63, 92)
    image = Image.new(mode, (width, height), background)
    draw = ImageDraw.Draw(image)
    margin = width // 12
    draw.rounded_rectangle(
        (margin, margin, width - margin, height - margin),
        radius=margin // 2,
        fill=(236, 178, 64, 255) if transparent else (245, 240, 230),
    )
    font = ImageFont.load_default(size=max(24, width // 14))
    small = ImageFont.load_default(size=max(16, width // 28))
    draw.text((margin * 2, height // 3), title, fill=(22, 63, 92), font=font)
    if subtitle:
        draw.text((margin * 2, height // 2), subtitle, fill=(90, 90, 90), font=small)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def stand_in_video() -> bytes:
    """A small ISO-BMFF (MP4) file: boxes only, no decodable frames.

    Publishing a video needs nothing from its frames here: the worker and the
    simulator check the container format, as far as they can without a codec.
    """
    ftyp = b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41"
    mdat = secrets.token_bytes(4096)
    return _box(b"ftyp", ftyp) + _box(b"free", b"") + _box(b"mdat", mdat)


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def insert_brand(conn: Connection, name: str = "Harbor Realty", **values: Any) -> UUID:
    row = {"id": uuid4(), "name": name, "created_at": _now(), **values}
    conn.execute(insert(brands).values(**row))
    return UUID(str(row["id"]))


def insert_user(conn: Connection, **values: Any) -> UUID:
    row = {
        "id": uuid4(),
        "first_name": "John",
        "last_name": "Doe",
        "email": "john.doe@example.com",
        "phone_number": "+15555550100",
        "timezone": "America/Chicago",
        "created_at": _now(),
        **values,
    }
    conn.execute(insert(users).values(**row))
    return UUID(str(row["id"]))


def insert_page(
    conn: Connection,
    brand: UUID,
    *,
    facebook_page_id: str | None = None,
    ig_user_id: str | None = None,
    access_token: str | None = None,
    target: str = "instagram",
    **values: Any,
) -> UUID:
    number = secrets.randbelow(10**9)
    row = {
        "id": uuid4(),
        "brand": brand,
        "name": "Harbor Realty",
        "facebook_page_id": facebook_page_id or f"10{number:09d}",
        "instagram_business_account_id": ig_user_id or f"1784140{number:09d}",
        "instagram_username": "harbor.realty",
        "access_token": access_token or f"sandbox-{secrets.token_urlsafe(24)}",
        "target": target,
        "created_at": _now(),
        **values,
    }
    conn.execute(insert(facebook_pages).values(**row))
    return UUID(str(row["id"]))


def insert_file(
    conn: Connection,
    media_dir: Path,
    base_url: str,
    data: bytes,
    *,
    name: str,
    mime: str,
    folder: str = "creatives",
) -> UUID:
    """Write `data` into the media directory and record it as a public file."""
    file_id = uuid4()
    path = f"{folder}/{file_id}/{name}"
    target = media_dir / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    url = f"{base_url.rstrip('/')}/{path}"
    conn.execute(
        insert(files).values(
            id=file_id,
            path=path,
            name=name,
            public=True,
            url=url,
            preview_url=url,
            mime=mime,
            created_at=_now(),
        )
    )
    return file_id


def insert_template(
    conn: Connection,
    name: str,
    *,
    medium: str = "Social",
    template_type: str = "JustListed",
    video: bool = False,
) -> UUID:
    template_id = uuid4()
    conn.execute(
        insert(templates).values(
            id=template_id,
            name=name,
            medium=medium,
            template_type=template_type,
            video=video,
            created_at=_now(),
        )
    )
    return template_id


def insert_instance(
    conn: Connection, brand: UUID, template: UUID, file: UUID, **values: Any
) -> UUID:
    instance_id = uuid4()
    conn.execute(
        insert(template_instances).values(
            id=instance_id,
            brand=brand,
            template=template,
            file=file,
            html="<div>rendered</div>",
            created_at=_now(),
            **values,
        )
    )
    return instance_id


def insert_asset(
    conn: Connection, brand: UUID, file: UUID, *, medium: str = "Social", **values: Any
) -> UUID:
    asset_id = uuid4()
    conn.execute(
        insert(brand_assets).values(
            id=asset_id,
            brand=brand,
            file=file,
            medium=medium,
            label=values.pop("label", "Brand asset"),
            created_at=_now(),
            **values,
        )
    )
    return asset_id


def insert_listing(
    conn: Connection, brand: UUID, instance: UUID | None = None, **values: Any
) -> UUID:
    listing_id = uuid4()
    row = {
        "id": listing_id,
        "brand": brand,
        "address": "12 Harbor View Road",
        "city": "Portland",
        "state": "ME",
        "postal_code": "04101",
        "price": 849000,
        "bedrooms": 4,
        "bathrooms": 2.5,
        "square_feet": 2380,
        "status": "Active",
        "property_type": "Single Family",
        "description": "Light-filled cape with harbor views and a deep garden.",
        "created_at": _now(),
        **values,
    }
    conn.execute(insert(listings).values(**row))
    if instance is not None:
        conn.execute(
            insert(template_instance_listings).values(
                template_instance=instance, listing=listing_id
            )
        )
    return listing_id


def insert_listing_photo(
    conn: Connection, listing: UUID, file: UUID, position: int = 0
) -> UUID:
    """One photo of a listing (a stored file), shown in `position` order."""
    photo_id = uuid4()
    conn.execute(
        insert(listing_photos).values(
            id=photo_id,
            listing=listing,
            file=file,
            position=position,
            created_at=_now(),
        )
    )
    return photo_id


def insert_post(
    conn: Connection,
    *,
    brand: UUID,
    user: UUID,
    page: UUID,
    due_at: datetime | None,
    caption: str = "",
    template_instance: UUID | None = None,
    asset: UUID | None = None,
    **values: Any,
) -> UUID:
    post_id = uuid4()
    conn.execute(
        insert(social_posts).values(
            id=post_id,
            brand=brand,
            created_by=user,
            facebook_page=page,
            template_instance=template_instance,
            asset=asset,
            caption=caption,
            due_at=due_at,
            created_at=_now(),
            updated_at=_now(),
            **values,
        )
    )
    return post_id
