"""The photos and creatives a caption request carries: a spread sample of a
listing's photos, the unreadable ones left out, odd formats shrunk to JPEG."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from PIL import Image
from sqlalchemy import update

from publisher import sample
from publisher.settings import Settings
from publisher.tables import files, listing_photos
from tests.attack_model_server import AttackModelServer, Reply
from tests.builders import image
from tests.captions_attack_world import (
    World,
    ask,
    model_settings,
    sent,
    world,
)

__all__ = ["model_settings", "world"]

Build = Callable[..., Settings]


# --- photos -------------------------------------------------------------------


def test_500_photos_are_sampled_over_the_whole_set(
    world: World, model_settings: Build
) -> None:
    """Each photo is as wide as 64 + its position, so the widths sent say which
    photos were chosen: the first, the last and two evenly between."""
    instance = world.instance()
    listing = world.listing(instance)
    for position in range(500):
        world.photo(listing, image(64 + position, 40), position)
    with AttackModelServer() as server:
        ask(world, model_settings(f"{server.url}/v1"), world.post(instance))
        _, shown = sent(server)
    assert [im.width - 64 for im in shown] == [0, 166, 333, 499]


def test_deleted_and_missing_photos_are_not_sent(
    world: World, model_settings: Build
) -> None:
    instance = world.instance()
    listing = world.listing(instance)
    kept = [world.photo(listing, image(100 + n, 40), n) for n in range(4)]
    with world.engine.begin() as conn:
        conn.execute(
            update(files)
            .where(files.c.id == kept[1])
            .values(deleted_at=datetime.now(UTC))
        )
        conn.execute(
            update(listing_photos)
            .where(listing_photos.c.file == kept[2])
            .values(deleted_at=datetime.now(UTC))
        )
    # The file of the last photo is gone from storage: its URL answers 404.
    url = world.file_url(kept[3])
    (world.media_dir / url.split(world.media.url + "/", 1)[1]).unlink()
    with AttackModelServer() as server:
        data = ask(world, model_settings(f"{server.url}/v1"), world.post(instance))
        _, shown = sent(server)
    assert [im.width for im in shown] == [100]
    assert data["images"] == 1


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` x `height` (a decompression bomb
    as far as a decoder is concerned)."""
    data = bytearray(image(8, 8))
    ihdr = data[12:29]
    patched = b"IHDR" + struct.pack(">II", width, height) + bytes(ihdr[12:17])
    data[12:29] = patched
    data[29:33] = struct.pack(">I", zlib.crc32(patched))
    return bytes(data)


def _encoded(mode: str, size: tuple[int, int], fmt: str, **save: Any) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, format=fmt, **save)
    return out.getvalue()


UNREADABLE = {
    "text": b"<html>not found</html>",
    "empty": b"",
    "truncated_png": image(400, 400)[:60],
    "bomb_header": _png_claiming(60_000, 60_000),
}
READABLE = {
    "huge_8000": lambda: _encoded("RGB", (8000, 8000), "JPEG"),
    "cmyk_jpeg": lambda: _encoded("CMYK", (300, 200), "JPEG"),
    "gray_16bit_png": lambda: _encoded("I;16", (300, 200), "PNG"),
    "transparent_png": lambda: _encoded("RGBA", (300, 200), "PNG"),
    "palette_gif": lambda: _encoded("P", (300, 200), "GIF"),
    "webp": lambda: _encoded("RGB", (300, 200), "WEBP"),
}


def _listing_with(world: World, odd: bytes) -> UUID:
    instance = world.instance()
    listing = world.listing(instance)
    world.photo(listing, image(200, 100), 0)
    world.photo(listing, odd, 1)
    world.photo(listing, image(200, 100), 2)
    return world.post(instance)


@pytest.mark.parametrize("data", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_an_unreadable_photo_is_left_out(
    world: World, model_settings: Build, data: bytes
) -> None:
    post = _listing_with(world, data)
    with AttackModelServer() as server:
        result = ask(world, model_settings(f"{server.url}/v1"), post)
        _, shown = sent(server)
    assert result["images"] == 2 and len(shown) == 2


@pytest.mark.parametrize("make", READABLE.values(), ids=READABLE.keys())
def test_an_odd_but_real_photo_is_shown_shrunk_as_jpeg(
    world: World, model_settings: Build, make: Callable[[], bytes]
) -> None:
    post = _listing_with(world, make())
    with AttackModelServer() as server:
        settings = model_settings(f"{server.url}/v1", captions_max_image_side=512)
        result = ask(world, settings, post)
        _, shown = sent(server)
    assert result["images"] == 3
    assert all(im.format == "JPEG" and max(im.size) <= 512 for im in shown)


def test_a_photo_server_that_hangs_costs_only_that_photo(
    world: World, model_settings: Build
) -> None:

    instance = world.instance()
    listing = world.listing(instance)
    world.photo(listing, image(200, 100), 0)
    with AttackModelServer(Reply(delay=8, body=b"")) as hanging:
        with world.engine.begin() as conn:
            file = sample.insert_file(
                conn, world.media_dir, hanging.url, b"x", name="h.png", mime="image/png"
            )
            conn.execute(
                listing_photos.insert().values(
                    id=uuid4(),
                    listing=listing,
                    file=file,
                    position=1,
                    created_at=datetime.now(UTC),
                )
            )
        with AttackModelServer() as server:
            result = ask(
                world, model_settings(f"{server.url}/v1"), world.post(instance)
            )
    assert result["images"] == 1


# --- creatives ----------------------------------------------------------------


def test_a_video_template_sends_its_preview_or_nothing(
    world: World, model_settings: Build
) -> None:
    video = world.file(sample.stand_in_video(), name="v.mp4", mime="video/mp4")
    with world.engine.begin() as conn:
        conn.execute(update(files).where(files.c.id == video).values(preview_url=None))
    bare = world.post(world.instance(video, video=True))
    shot = world.file(image(320, 180), name="preview.png")
    video2 = world.file(sample.stand_in_video(), name="v2.mp4", mime="video/mp4")
    with world.engine.begin() as conn:
        conn.execute(
            update(files)
            .where(files.c.id == video2)
            .values(preview_url=world.file_url(shot))
        )
    previewed = world.post(world.instance(video2, video=True))
    with AttackModelServer() as server:
        settings = model_settings(f"{server.url}/v1")
        assert ask(world, settings, bare)["images"] == 0
        assert ask(world, settings, previewed)["images"] == 1
        facts, shown = sent(server)
    assert facts["template"]["video"] is True and shown[0].size == (320, 180)


def test_a_deleted_asset_file_is_not_sent(world: World, model_settings: Build) -> None:
    """The template instance's creative is skipped once its file is deleted; an
    asset's file deserves the same."""
    file = world.file(image(300, 300), name="asset.png")
    with world.engine.begin() as conn:
        asset = sample.insert_asset(conn, world.brand, file, template_type="Christmas")
        conn.execute(
            update(files).where(files.c.id == file).values(deleted_at=datetime.now(UTC))
        )
    post = world.post(asset=asset)
    with AttackModelServer() as server:
        assert ask(world, model_settings(f"{server.url}/v1"), post)["images"] == 0


@pytest.mark.parametrize(
    "url", ["http://[::1/p.png", "file:///etc/passwd", "ftp://127.0.0.1/p.png", "p.png"]
)
def test_a_photo_with_a_malformed_url_is_left_out(
    world: World, model_settings: Build, url: str
) -> None:
    """A files row with a broken URL (a bad import, a hand edit) costs only that
    photo, not the whole recommendation."""
    instance = world.instance()
    listing = world.listing(instance)
    world.photo(listing, image(200, 100), 0)
    odd = world.photo(listing, image(200, 100), 1)
    with world.engine.begin() as conn:
        conn.execute(update(files).where(files.c.id == odd).values(url=url))
    with AttackModelServer() as server:
        result = ask(world, model_settings(f"{server.url}/v1"), world.post(instance))
    assert result["images"] == 1


@pytest.mark.parametrize(("photos", "widths"), [(0, [600]), (1, [64]), (2, [64, 65])])
def test_a_listing_with_few_photos_sends_them_or_the_creative(
    world: World, model_settings: Build, photos: int, widths: list[int]
) -> None:
    """The creative (600 px wide) stands in for a listing without photos."""
    instance = world.instance()
    listing = world.listing(instance)
    for position in range(photos):
        world.photo(listing, image(64 + position, 40), position)
    with AttackModelServer() as server:
        ask(world, model_settings(f"{server.url}/v1"), world.post(instance))
        _, shown = sent(server)
    assert [im.width for im in shown] == widths
