"""Test builders: a brand with a page known to the simulator, and its posts."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from PIL import Image
from sqlalchemy import Connection, Engine, Row, select

from publisher import sample
from publisher.runtime import Worker, build_worker
from publisher.settings import Settings
from publisher.tables import facebook_pages, social_posts
from tests.conftest import GraphWorld


@dataclass(frozen=True)
class Owner:
    """A brand with a user, a page and one image asset on its file."""

    brand: UUID
    user: UUID
    page: UUID
    file: UUID
    asset: UUID


def insert_owner(conn: Connection, tmp_path: Path) -> Owner:
    """The rows a post needs to exist, for tests of the tables rather than of
    publishing: the file's URL is never fetched."""
    brand = sample.insert_brand(conn)
    user = sample.insert_user(conn)
    page = sample.insert_page(conn, brand)
    file = sample.insert_file(
        conn, tmp_path, "http://127.0.0.1", b"x", name="a.png", mime="image/png"
    )
    asset = sample.insert_asset(conn, brand, file)
    return Owner(brand, user, page, file, asset)


@dataclass
class Brand:
    engine: Engine
    world: GraphWorld
    brand: UUID
    user: UUID
    page: UUID
    facebook_page_id: str
    ig_user_id: str
    token: str

    def creative(self, data: bytes, *, mime: str, **template: Any) -> UUID:
        name = "video.mp4" if mime == "video/mp4" else "image.bin"
        with self.engine.begin() as conn:
            file = sample.insert_file(
                conn,
                self.world.media_dir,
                self.world.media.url,
                data,
                name=name,
                mime=mime,
            )
            kind = sample.insert_template(conn, "test template", **template)
            return sample.insert_instance(conn, self.brand, kind, file)

    def post(
        self,
        instance: UUID,
        *,
        due_at: datetime | str | None = "now",
        caption: str = "A caption #home",
        **values: Any,
    ) -> UUID:
        when = datetime.now(UTC) - timedelta(seconds=1) if due_at == "now" else due_at
        assert when is None or isinstance(when, datetime)
        with self.engine.begin() as conn:
            return sample.insert_post(
                conn,
                brand=self.brand,
                user=self.user,
                page=self.page,
                due_at=when,
                caption=caption,
                template_instance=instance,
                **values,
            )

    def image_post(
        self, width: int = 1080, height: int = 1350, fmt: str = "PNG", **kwargs: Any
    ) -> UUID:
        mime = "image/png" if fmt == "PNG" else "image/jpeg"
        return self.post(self.creative(image(width, height, fmt), mime=mime), **kwargs)

    def video_post(self, **kwargs: Any) -> UUID:
        instance = self.creative(sample.stand_in_video(), mime="video/mp4", video=True)
        return self.post(instance, **kwargs)


def make_brand(engine: Engine, world: GraphWorld, target: str = "instagram") -> Brand:
    with engine.begin() as conn:
        brand = sample.insert_brand(conn)
        user = sample.insert_user(conn)
        page = sample.insert_page(conn, brand, target=target)
        row = conn.execute(
            select(facebook_pages).where(facebook_pages.c.id == page)
        ).one()
    world.control(
        "accounts",
        {
            "page_id": row.facebook_page_id,
            "ig_user_id": row.instagram_business_account_id,
            "username": "harbor.realty",
            "access_token": row.access_token,
        },
    )
    return Brand(
        engine,
        world,
        brand,
        user,
        page,
        row.facebook_page_id,
        row.instagram_business_account_id,
        row.access_token,
    )


def image(width: int, height: int, fmt: str = "PNG") -> bytes:
    mode = "RGBA" if fmt == "PNG" else "RGB"
    out = io.BytesIO()
    Image.new(mode, (width, height), (200, 120, 40, 128)[: len(mode)]).save(
        out, format=fmt
    )
    return out.getvalue()


def post_row(engine: Engine, post_id: UUID) -> Row[Any]:
    with engine.connect() as conn:
        return conn.execute(
            select(social_posts).where(social_posts.c.id == post_id)
        ).one()


# The console script of this environment, as an operator would run it.
PUBLISHER = str(Path(sys.executable).with_name("publisher"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_cli(
    tmp_path: Path,
    *args: str,
    env: dict[str, str],
    timeout: float = 120,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PUBLISHER, *args],
        cwd=tmp_path,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextmanager
def worker_builder(
    url: str, world_settings: Callable[..., Settings], base: dict[str, object]
) -> Iterator[Callable[..., Worker]]:
    """Builds workers on `url` with a test file's `base` overrides and the test's
    own; every worker built is closed when the block ends, even on failure."""
    built: list[Worker] = []

    def build(**overrides: object) -> Worker:
        worker = build_worker(world_settings(url, **{**base, **overrides}))
        built.append(worker)
        return worker

    try:
        yield build
    finally:
        for worker in built:
            worker.close()
