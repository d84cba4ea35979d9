"""The world of the caption tests: a brand on PostgreSQL (or SQLite for its own
path) whose creatives and listing photos are served over HTTP by a real
`MediaServer`, and the scriptable model server the caption writer is pointed at.

Listing photos are solid colours (`tests.captions_images`). Every recommendation
made through the world also checks that no post row changed: a recommendation
never writes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from PIL import Image
from sqlalchemy import Engine, Row, Table, create_engine, select, update

from publisher import sample
from publisher.captions.prompt import INSTRUCTIONS
from publisher.db import init_schema
from publisher.posts import ModelUnavailable, recommend_caption
from publisher.settings import Settings
from publisher.storage import MediaServer
from publisher.tables import files, listing_photos, social_posts
from tests.captions_images import COLOURS, decoded, solid
from tests.model_server import ModelServer

# Users' personal data, also typed into listing descriptions: none of it may ever
# reach the model.
USER_EMAIL = "jane.agent@harbor-realty.example"
USER_PHONE = "+1 207 555 0199"
DESCRIPTION_EMAIL = "call.me@agent-mail.example"
DESCRIPTION_PHONE = "(207) 555-0142"
# What an operator puts in PUBLISHER_CAPTIONS_API_KEY; it must never be printed.
KEY = "sk-live-0123456789abcdefSECRET"
# The model the settings name (the server answers as MODEL_NAME).
CONFIGURED_MODEL = "vision-small"


@dataclass
class CaptionWorld:
    engine: Engine
    url: str
    media: MediaServer
    media_dir: Path
    model: ModelServer
    make_settings: Callable[..., Settings]
    monkeypatch: pytest.MonkeyPatch
    brand: UUID
    user: UUID
    page: UUID

    # --- rows ---------------------------------------------------------------

    def file(
        self, data: bytes, *, name: str = "a.png", mime: str = "image/png"
    ) -> UUID:
        with self.engine.begin() as conn:
            return sample.insert_file(
                conn, self.media_dir, self.media.url, data, name=name, mime=mime
            )

    def file_url(self, file: UUID) -> str:
        with self.engine.connect() as conn:
            url = conn.execute(select(files.c.url).where(files.c.id == file)).one()
        return str(url[0])

    def preview(self, video: UUID, url: str | None) -> None:
        """Set the preview image URL of a video file (None: it has none)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(files).where(files.c.id == video).values(preview_url=url)
            )

    def photos(self, listing: UUID) -> Sequence[Row[Any, Any, Any]]:
        """The photo rows of `listing` (`id`, `file` and the file's `path`) in
        position order."""
        with self.engine.connect() as conn:
            found = conn.execute(
                select(listing_photos.c.id, listing_photos.c.file, files.c.path)
                .join(files, files.c.id == listing_photos.c.file)
                .where(listing_photos.c.listing == listing)
                .order_by(listing_photos.c.position)
            )
            return found.all()

    def other_brand(self, name: str = "Other Realty") -> UUID:
        with self.engine.begin() as conn:
            return sample.insert_brand(conn, name=name)

    def delete(self, table: Table, row: UUID) -> None:
        """Soft-delete `row` of `table`, as the app does."""
        with self.engine.begin() as conn:
            conn.execute(
                update(table)
                .where(table.c.id == row)
                .values(deleted_at=datetime.now(UTC))
            )

    def instance(
        self,
        creative: bytes | UUID | None = None,
        *,
        brand: UUID | None = None,
        name: str = "Harbor flyer",
        **template: Any,
    ) -> UUID:
        """A template instance of `template` kind rendered as `creative` (an
        image's bytes or a stored file; by default a 600 x 400 PNG flyer)."""
        if not isinstance(creative, UUID):
            creative = self.file(creative or sample.render_creative(600, 400, "Ad"))
        with self.engine.begin() as conn:
            kind = sample.insert_template(conn, name, **template)
            return sample.insert_instance(conn, brand or self.brand, kind, creative)

    def listing(
        self,
        instance: UUID | None = None,
        *,
        colours: Sequence[tuple[int, int, int]] = (),
        brand: UUID | None = None,
        **values: Any,
    ) -> UUID:
        """A listing with one photo per colour at positions 0, 1, ...; the photo
        rows are inserted last position first, so only `position` orders them."""
        with self.engine.begin() as conn:
            listing = sample.insert_listing(
                conn, brand or self.brand, instance, **values
            )
        for position in reversed(range(len(colours))):
            self.photo(listing, solid(colours[position]), position)
        return listing

    def photo(self, listing: UUID, data: bytes, position: int) -> UUID:
        """A photo of `listing` at `position`; returns its file."""
        file = self.file(data, name=f"p{position}.png")
        with self.engine.begin() as conn:
            sample.insert_listing_photo(conn, listing, file, position)
        return file

    def post(
        self, instance: UUID | None = None, *, brand: UUID | None = None, **values: Any
    ) -> UUID:
        with self.engine.begin() as conn:
            return sample.insert_post(
                conn,
                brand=brand or self.brand,
                user=self.user,
                page=self.page,
                due_at=None,
                caption="The caption the agent wrote",
                template_instance=instance,
                **values,
            )

    def asset_post(self, data: bytes, **asset: Any) -> UUID:
        file = self.file(data)
        with self.engine.begin() as conn:
            made = sample.insert_asset(conn, self.brand, file, **asset)
        return self.post(asset=made)

    def listing_post(self) -> UUID:
        """A just-listed post whose listing has two photos."""
        instance = self.instance(template_type="JustListed")
        self.listing(instance, colours=COLOURS[:2])
        return self.post(instance)

    def posts_rows(self) -> list[tuple[Any, ...]]:
        """Every column of every post, to show a recommendation wrote nothing."""
        with self.engine.connect() as conn:
            found = conn.execute(select(social_posts).order_by(social_posts.c.id))
            return [tuple(row) for row in found]

    # --- recommending -------------------------------------------------------

    def settings(self, *, model: bool = True, **overrides: object) -> Settings:
        """Settings with the model server configured (or none: the built-in writer),
        quick answers and no retries; `captions_...` overrides on top. Captions
        variables of an earlier call in the same test are cleared first."""
        for name in list(os.environ):
            if name.startswith("PUBLISHER_CAPTIONS_"):
                self.monkeypatch.delenv(name)
        values: dict[str, object] = {
            "database_url": self.url,
            "media_base_url": self.media.url,
            "media_directory": self.media_dir,
            "captions_timeout_seconds": 10,
            "captions_max_retries": 0,
            "captions_api_key": KEY,
        }
        if model:
            values["captions_base_url"] = self.model.base_url
            values["captions_model"] = CONFIGURED_MODEL
        values.update(overrides)
        return self.make_settings(**values)

    def recommend(
        self,
        post: UUID | str,
        listing: UUID | str | None = None,
        *,
        model: bool = True,
        **overrides: Any,
    ) -> dict[str, Any]:
        """The envelope of a recommendation, which changed no post row."""
        settings = self.settings(model=model, **overrides)
        before = self.posts_rows()
        got = recommend_caption(
            self.engine, self.brand, post, listing, settings=settings
        )
        assert self.posts_rows() == before
        return got

    def refused(
        self, post: UUID, rule: str, *also: str, **overrides: Any
    ) -> ModelUnavailable:
        """The recommendation fails as `model`/`rule` (or one of `also`), keeps
        the key out of the error and leaves every post row as it was."""
        before = self.posts_rows()
        with pytest.raises(ModelUnavailable) as caught:
            self.recommend(post, **overrides)
        error = caught.value
        assert error.status == 502
        assert error.to_json()["code"] == "ModelUnavailable"
        found = [(p.field, p.rule) for p in error.problems]
        assert found in [[("model", name)] for name in (rule, *also)], found
        assert KEY not in json.dumps(error.to_json())
        assert self.posts_rows() == before
        return error

    def sent(self) -> tuple[dict[str, Any], list[Image.Image]]:
        """The facts document and the images of the last request the model got."""
        request = self.model.requests[-1]
        assert [m["role"] for m in request.json["messages"]] == ["system", "user"]
        assert request.system == INSTRUCTIONS
        return request.facts, [decoded(url) for url in request.image_urls]

    def sent_text(self) -> str:
        """Every request body the model got, as one JSON text with its escapes
        undone, to search for what must never be sent."""
        bodies = [request.json for request in self.model.requests]
        return json.dumps(bodies, ensure_ascii=False)


@pytest.fixture
def world(pg_url: str, request: pytest.FixtureRequest) -> Iterator[CaptionWorld]:
    """The production path: PostgreSQL."""
    yield from _world(pg_url, request)


@pytest.fixture
def sqlite_world(
    sqlite_url: str, request: pytest.FixtureRequest
) -> Iterator[CaptionWorld]:
    """SQLite's own path: the sandbox and the demo run on it."""
    engine = create_engine(sqlite_url)
    try:
        init_schema(engine)
    finally:
        engine.dispose()
    yield from _world(sqlite_url, request)


def _world(url: str, request: pytest.FixtureRequest) -> Iterator[CaptionWorld]:
    """The world on the database at `url`, built from the test's own `tmp_path`,
    `make_settings` and `monkeypatch` (asked for once here rather than in the
    signature of each fixture)."""
    media_dir = request.getfixturevalue("tmp_path") / "media"
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
                engine,
                url,
                media,
                media_dir,
                model,
                request.getfixturevalue("make_settings"),
                request.getfixturevalue("monkeypatch"),
                brand,
                user,
                page,
            )
    finally:
        engine.dispose()
