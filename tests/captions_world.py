"""The world of the caption tests: a brand on PostgreSQL whose creatives and listing
photos are served over HTTP by a real `MediaServer`, and a local model server.

Photos are solid colours, so a test tells which ones a model was shown by decoding
the data URLs of a recorded request and reading their colour.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from PIL import Image
from sqlalchemy import Engine, create_engine, insert, select

from publisher import sample
from publisher.db import init_schema
from publisher.posts import recommend_caption
from publisher.settings import Settings
from publisher.storage import MediaServer
from publisher.tables import listing_photos, social_posts
from tests.model_server import ModelServer

# Ten colours far apart from each other, one per photo position.
COLOURS = (
    (230, 25, 25),
    (25, 200, 25),
    (25, 25, 230),
    (240, 230, 20),
    (230, 20, 230),
    (20, 220, 230),
    (120, 10, 10),
    (10, 110, 10),
    (10, 10, 120),
    (128, 128, 128),
)
# Users' personal data, also typed into listing descriptions: none of it may ever
# reach the model.
USER_EMAIL = "jane.agent@harbor-realty.example"
USER_PHONE = "+1 207 555 0199"
DESCRIPTION_EMAIL = "call.me@agent-mail.example"
DESCRIPTION_PHONE = "(207) 555-0142"


def solid(colour: tuple[int, int, int], width: int = 300, height: int = 200) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


def decoded(data_url: str) -> Image.Image:
    """The image inside a `data:image/jpeg;base64,...` URL."""
    head, _, payload = data_url.partition(",")
    assert head == "data:image/jpeg;base64", head
    image = Image.open(io.BytesIO(base64.b64decode(payload)))
    assert image.format == "JPEG"
    return image.convert("RGB")


def colour_index(data_url: str) -> int:
    """Which of COLOURS the image is (JPEG shifts a solid colour only a little)."""
    image = decoded(data_url)
    pixel = image.getpixel((image.width // 2, image.height // 2))
    assert isinstance(pixel, tuple)

    def distance(colour: tuple[int, int, int]) -> int:
        return sum((a - b) ** 2 for a, b in zip(colour, pixel, strict=True))

    best = min(range(len(COLOURS)), key=lambda n: distance(COLOURS[n]))
    assert distance(COLOURS[best]) < 30**2, (pixel, COLOURS[best])
    return best


@dataclass
class CaptionWorld:
    engine: Engine
    url: str
    media: MediaServer
    media_dir: Path
    model: ModelServer
    make_settings: Callable[..., Settings]
    brand: UUID
    user: UUID
    page: UUID

    def settings(self, *, model: bool = True, **overrides: object) -> Settings:
        """Settings with the model server configured (or none: the built-in writer)
        and quick answers; `captions_...` overrides on top."""
        values: dict[str, object] = {
            "database_url": self.url,
            "media_base_url": self.media.url,
            "media_directory": self.media_dir,
            "captions_timeout_seconds": 10,
            "captions_max_retries": 0,
        }
        if model:
            values["captions_base_url"] = self.model.base_url
            values["captions_model"] = "vision-small"
        values.update(overrides)
        return self.make_settings(**values)

    def file(
        self, data: bytes, *, name: str = "a.png", mime: str = "image/png"
    ) -> UUID:
        with self.engine.begin() as conn:
            return sample.insert_file(
                conn, self.media_dir, self.media.url, data, name=name, mime=mime
            )

    def instance(
        self, data: bytes | None = None, *, brand: UUID | None = None, **template: Any
    ) -> UUID:
        """A rendered template instance (a PNG creative) of `template` kind."""
        file = self.file(data or sample.render_creative(400, 500, "Creative"))
        with self.engine.begin() as conn:
            kind = sample.insert_template(
                conn, template.pop("name", "Harbor flyer"), **template
            )
            return sample.insert_instance(conn, brand or self.brand, kind, file)

    def listing(
        self,
        instance: UUID | None = None,
        *,
        colours: Sequence[tuple[int, int, int]] = COLOURS[:3],
        brand: UUID | None = None,
        **values: Any,
    ) -> UUID:
        """A listing with one photo per colour at positions 0, 1, ...; the photo
        rows are inserted last position first, so only `position` orders them."""
        files = [self.file(solid(colour)) for colour in colours]
        with self.engine.begin() as conn:
            listing = sample.insert_listing(
                conn, brand or self.brand, instance, **values
            )
            for position in reversed(range(len(files))):
                conn.execute(
                    insert(listing_photos).values(
                        id=uuid4(),
                        listing=listing,
                        file=files[position],
                        position=position,
                        created_at=datetime.now(UTC),
                    )
                )
        return listing

    def post(self, **creative: UUID) -> UUID:
        with self.engine.begin() as conn:
            return sample.insert_post(
                conn,
                brand=self.brand,
                user=self.user,
                page=self.page,
                due_at=None,
                caption="The caption the agent wrote",
                **creative,
            )

    def asset_post(self, data: bytes, **asset: Any) -> UUID:
        file = self.file(data)
        with self.engine.begin() as conn:
            made = sample.insert_asset(conn, self.brand, file, **asset)
        return self.post(asset=made)

    def recommend(
        self,
        post: UUID,
        listing: UUID | str | None = None,
        *,
        model: bool = True,
        **overrides: object,
    ) -> dict[str, Any]:
        settings = self.settings(model=model, **overrides)
        return recommend_caption(
            self.engine, self.brand, post, listing, settings=settings
        )

    def row(self, post: UUID) -> dict[str, Any]:
        with self.engine.connect() as conn:
            found = conn.execute(
                select(social_posts).where(social_posts.c.id == post)
            ).one()
        return dict(found._mapping)


@pytest.fixture
def world(
    pg_url: str, tmp_path: Path, make_settings: Callable[..., Settings]
) -> Iterator[CaptionWorld]:
    """The production path: PostgreSQL."""
    yield from _world(pg_url, tmp_path, make_settings)


@pytest.fixture
def sqlite_world(
    sqlite_url: str, tmp_path: Path, make_settings: Callable[..., Settings]
) -> Iterator[CaptionWorld]:
    """SQLite's own path: the sandbox and the demo run on it."""
    engine = create_engine(sqlite_url)
    try:
        init_schema(engine)
    finally:
        engine.dispose()
    yield from _world(sqlite_url, tmp_path, make_settings)


def _world(
    url: str, tmp_path: Path, make_settings: Callable[..., Settings]
) -> Iterator[CaptionWorld]:
    media_dir = tmp_path / "media"
    media_dir.mkdir()
    engine = create_engine(url)
    try:
        with MediaServer(media_dir) as media, ModelServer() as model:
            with engine.begin() as conn:
                brand = sample.insert_brand(conn)
                user = sample.insert_user(
                    conn, email=USER_EMAIL, phone_number=USER_PHONE
                )
                page = sample.insert_page(conn, brand)
            yield CaptionWorld(
                engine, url, media, media_dir, model, make_settings, brand, user, page
            )
    finally:
        engine.dispose()
