"""A brand with listings, photos and posts on PostgreSQL, images served by a real
`MediaServer`, and settings pointing the caption writer at a hostile model server;
shared by the `test_captions_attacks*` files."""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from PIL import Image
from sqlalchemy import Engine, insert, select

from publisher import posts, sample
from publisher.captions.prompt import INSTRUCTIONS
from publisher.db import init_schema, make_engine
from publisher.posts.errors import ModelUnavailable
from publisher.settings import DatabaseSettings, Settings
from publisher.storage import MediaServer
from publisher.tables import files, listing_photos, social_posts
from tests.attack_model_server import AttackModelServer
from tests.builders import image, run_cli

# What an operator puts in PUBLISHER_CAPTIONS_API_KEY; it must never be printed.
KEY = "sk-attack-0123456789abcdefSECRET"


@dataclass
class World:
    engine: Engine
    url: str
    media: MediaServer
    media_dir: Path
    brand: UUID
    user: UUID
    page: UUID

    def file(
        self, data: bytes, *, name: str = "photo.png", mime: str = "image/png"
    ) -> UUID:
        with self.engine.begin() as conn:
            return sample.insert_file(
                conn, self.media_dir, self.media.url, data, name=name, mime=mime
            )

    def file_url(self, file: UUID) -> str:
        with self.engine.connect() as conn:
            return str(
                conn.execute(select(files.c.url).where(files.c.id == file)).scalar_one()
            )

    def instance(
        self,
        file: UUID | None = None,
        *,
        brand: UUID | None = None,
        name: str = "Just listed card",
        **template: Any,
    ) -> UUID:
        file = file or self.file(image(600, 400))
        with self.engine.begin() as conn:
            kind = sample.insert_template(conn, name, **template)
            return sample.insert_instance(conn, brand or self.brand, kind, file)

    def listing(
        self, instance: UUID | None = None, photos: int = 0, **values: Any
    ) -> UUID:
        with self.engine.begin() as conn:
            listing = sample.insert_listing(
                conn, values.pop("brand", self.brand), instance, **values
            )
        for position in range(photos):
            self.photo(listing, image(64 + position % 7, 48), position)
        return listing

    def photo(self, listing: UUID, data: bytes, position: int, **kw: Any) -> UUID:
        file = self.file(data, name=f"p{position}.png", **kw)
        with self.engine.begin() as conn:
            conn.execute(
                insert(listing_photos).values(
                    id=uuid4(),
                    listing=listing,
                    file=file,
                    position=position,
                    created_at=datetime.now(UTC),
                )
            )
        return file

    def post(self, instance: UUID | None = None, **values: Any) -> UUID:
        with self.engine.begin() as conn:
            return sample.insert_post(
                conn,
                brand=values.pop("brand", self.brand),
                user=self.user,
                page=self.page,
                due_at=None,
                caption="the caption as the agent wrote it",
                template_instance=instance,
                **values,
            )

    def posts_rows(self) -> list[tuple[Any, ...]]:
        """Every column of every post, to show a recommendation wrote nothing."""
        with self.engine.connect() as conn:
            return [
                tuple(row)
                for row in conn.execute(
                    select(social_posts).order_by(social_posts.c.id)
                )
            ]


@pytest.fixture
def world(pg_url: str, tmp_path: Path) -> Iterator[World]:
    engine = make_engine(
        DatabaseSettings(url=pg_url, pool_size=5, connect_timeout_seconds=5)
    )
    init_schema(engine)
    media_dir = tmp_path / "media"
    media_dir.mkdir()
    with MediaServer(media_dir) as media:
        with engine.begin() as conn:
            brand = sample.insert_brand(conn)
            user = sample.insert_user(conn)
            page = sample.insert_page(conn, brand)
        yield World(engine, pg_url, media, media_dir, brand, user, page)
    engine.dispose()


@pytest.fixture
def model_settings(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Settings]:
    """Settings asking the model at `base_url` (no retries unless asked), or
    the built-in writer when it is None."""

    def build(base_url: str | None, **overrides: object) -> Settings:
        monkeypatch.delenv("PUBLISHER_CAPTIONS_BASE_URL", raising=False)
        monkeypatch.delenv("PUBLISHER_CAPTIONS_MODEL", raising=False)
        values: dict[str, object] = {
            "captions_max_retries": 0,
            "captions_timeout_seconds": 5,
            "captions_api_key": KEY,
            "media_fetch_timeout_seconds": 2,
        }
        if base_url is not None:
            values["captions_base_url"] = base_url
            values["captions_model"] = "attack-model"
        values.update(overrides)
        return make_settings(**values)

    return build


def caption_cli(world: World, tmp_path: Path, *args: str, **env_extra: str) -> Any:
    """`publisher posts caption ...` as an operator runs it, debug JSON logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    env.update(
        {
            "PUBLISHER_DATABASE_URL": world.url,
            "PUBLISHER_MEDIA_DIRECTORY": str(tmp_path / "media"),
            "PUBLISHER_LOG_FORMAT": "json",
            "PUBLISHER_LOG_LEVEL": "debug",
            "PUBLISHER_CAPTIONS_MAX_RETRIES": "0",
            "PUBLISHER_CAPTIONS_TIMEOUT_SECONDS": "5",
            "PUBLISHER_CAPTIONS_API_KEY": KEY,
            **env_extra,
        }
    )
    return run_cli(tmp_path, "posts", "caption", *args, env=env, timeout=90)


def listing_post(world: World) -> Any:
    instance = world.instance()
    world.listing(instance, photos=2)
    return world.post(instance)


def refused(world: World, settings: Settings, post: Any, rule: str, *also: str) -> str:
    """The recommendation must fail as `model`/`rule` (or one of `also`), keep
    the key out of the message and leave every post row as it was; returns the
    message."""
    before = world.posts_rows()
    with pytest.raises(ModelUnavailable) as caught:
        posts.recommend_caption(world.engine, world.brand, post, settings=settings)
    found = [(p.field, p.rule) for p in caught.value.problems]
    assert found in [[("model", name)] for name in (rule, *also)], found
    message = json.dumps(caught.value.to_json())
    assert KEY not in message
    assert world.posts_rows() == before
    return message


def ask(world: World, settings: Settings, post: UUID, **kw: Any) -> dict[str, Any]:
    before = world.posts_rows()
    result = posts.recommend_caption(
        world.engine, world.brand, post, settings=settings, **kw
    )
    assert world.posts_rows() == before
    data = result["data"]
    assert isinstance(data, dict)
    return data


def sent(server: AttackModelServer) -> tuple[dict[str, Any], list[Image.Image]]:
    """The facts document and the images of the last request the model got."""
    body = server.requests[-1].body
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["messages"][0]["content"] == INSTRUCTIONS
    parts = body["messages"][1]["content"]
    text = parts[0]["text"]
    inside = text.split("<facts>\n", 1)[1].rsplit("\n</facts>", 1)[0]
    shown = [
        Image.open(io.BytesIO(base64.b64decode(p["image_url"]["url"].split(",", 1)[1])))
        for p in parts[1:]
    ]
    return json.loads(inside), shown


def raw_requests(server: AttackModelServer) -> str:
    return json.dumps([r.body for r in server.requests], ensure_ascii=False)
