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
from publisher.tables import files, listing_photos
from tests.builders import image
from tests.captions_world import CaptionWorld, world
from tests.model_server import ModelServer, Reply

__all__ = ["world"]

pytestmark = pytest.mark.postgres


def _sent_for(
    world: CaptionWorld, post: UUID, **overrides: Any
) -> tuple[int, list[Image.Image]]:
    """How many images a recommendation for `post` counts, and those the model
    was shown (decoded, so each is known to be a JPEG)."""
    images = world.recommend(post, **overrides)["data"]["images"]
    _, shown = world.sent()
    return images, shown


def _photos(world: CaptionWorld, instance: UUID, *photos: bytes) -> UUID:
    """A listing of `instance` with `photos` at positions 0, 1, ..."""
    listing = world.listing(instance)
    for position, data in enumerate(photos):
        world.photo(listing, data, position)
    return listing


# --- photos -------------------------------------------------------------------


def test_500_photos_are_sampled_over_the_whole_set(world: CaptionWorld) -> None:
    """Each photo is as wide as 64 + its position, so the widths sent say which
    photos were chosen: the first, the last and two evenly between."""
    instance = world.instance()
    _photos(world, instance, *[image(64 + position, 40) for position in range(500)])
    _, shown = _sent_for(world, world.post(instance))
    assert [im.width - 64 for im in shown] == [0, 166, 333, 499]


def test_deleted_and_missing_photos_are_not_sent(world: CaptionWorld) -> None:
    instance = world.instance()
    listing = world.listing(instance)
    kept = [world.photo(listing, image(100 + n, 40), n) for n in range(4)]
    world.delete(files, kept[1])
    with world.engine.begin() as conn:
        conn.execute(
            update(listing_photos)
            .where(listing_photos.c.file == kept[2])
            .values(deleted_at=datetime.now(UTC))
        )
    # The file of the last photo is gone from storage: its URL answers 404.
    url = world.file_url(kept[3])
    (world.media_dir / url.split(world.media.url + "/", 1)[1]).unlink()
    images, shown = _sent_for(world, world.post(instance))
    assert [im.width for im in shown] == [100]
    assert images == 1


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


def _listing_with(world: CaptionWorld, odd: bytes) -> UUID:
    instance = world.instance()
    _photos(world, instance, image(200, 100), odd, image(200, 100))
    return world.post(instance)


@pytest.mark.parametrize("data", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_an_unreadable_photo_is_left_out(world: CaptionWorld, data: bytes) -> None:
    images, shown = _sent_for(world, _listing_with(world, data))
    assert images == 2 and len(shown) == 2


@pytest.mark.parametrize("make", READABLE.values(), ids=READABLE.keys())
def test_an_odd_but_real_photo_is_shown_shrunk_as_jpeg(
    world: CaptionWorld, make: Callable[[], bytes]
) -> None:
    post = _listing_with(world, make())
    images, shown = _sent_for(world, post, captions_max_image_side=512)
    assert images == 3
    assert all(max(im.size) <= 512 for im in shown)


def test_a_photo_server_that_hangs_costs_only_that_photo(world: CaptionWorld) -> None:
    instance = world.instance()
    listing = _photos(world, instance, image(200, 100))
    with ModelServer(Reply(delay=8, body=b""), route=None) as hanging:
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
        post = world.post(instance)
        images, _ = _sent_for(world, post, media_fetch_timeout_seconds=2)
    assert images == 1


# --- creatives ----------------------------------------------------------------


def test_a_video_template_sends_its_preview_or_nothing(world: CaptionWorld) -> None:
    video = world.file(sample.stand_in_video(), name="v.mp4", mime="video/mp4")
    world.preview(video, None)
    bare = world.post(world.instance(video, video=True))
    shot = world.file(image(320, 180), name="preview.png")
    video2 = world.file(sample.stand_in_video(), name="v2.mp4", mime="video/mp4")
    world.preview(video2, world.file_url(shot))
    previewed = world.post(world.instance(video2, video=True))
    assert world.recommend(bare)["data"]["images"] == 0
    assert world.recommend(previewed)["data"]["images"] == 1
    facts, shown = world.sent()
    assert facts["template"]["video"] is True and shown[0].size == (320, 180)


def test_a_deleted_asset_file_is_not_sent(world: CaptionWorld) -> None:
    """The template instance's creative is skipped once its file is deleted; an
    asset's file deserves the same."""
    file = world.file(image(300, 300), name="asset.png")
    with world.engine.begin() as conn:
        asset = sample.insert_asset(conn, world.brand, file, template_type="Christmas")
    world.delete(files, file)
    assert world.recommend(world.post(asset=asset))["data"]["images"] == 0


@pytest.mark.parametrize(
    "url", ["http://[::1/p.png", "file:///etc/passwd", "ftp://127.0.0.1/p.png", "p.png"]
)
def test_a_photo_with_a_malformed_url_is_left_out(
    world: CaptionWorld, url: str
) -> None:
    """A files row with a broken URL (a bad import, a hand edit) costs only that
    photo, not the whole recommendation."""
    instance = world.instance()
    listing = _photos(world, instance, image(200, 100))
    odd = world.photo(listing, image(200, 100), 1)
    with world.engine.begin() as conn:
        conn.execute(update(files).where(files.c.id == odd).values(url=url))
    images, _ = _sent_for(world, world.post(instance))
    assert images == 1


@pytest.mark.parametrize(("photos", "widths"), [(0, [600]), (1, [64]), (2, [64, 65])])
def test_a_listing_with_few_photos_sends_them_or_the_creative(
    world: CaptionWorld, photos: int, widths: list[int]
) -> None:
    """The creative (600 px wide) stands in for a listing without photos."""
    instance = world.instance()
    _photos(world, instance, *[image(64 + position, 40) for position in range(photos)])
    _, shown = _sent_for(world, world.post(instance))
    assert [im.width for im in shown] == widths
