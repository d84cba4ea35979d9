"""The edges of grounding a caption, against the real media and model servers:
videos, deleted rows, other brands' rows, images that cannot be fetched, photos
stored sideways."""

from __future__ import annotations

import io
import json
import warnings

import pytest
from PIL import Image, ImageOps
from sqlalchemy import insert, select
from structlog.testing import capture_logs

from publisher import sample
from publisher.posts import NotFound
from publisher.tables import (
    brand_assets,
    files,
    listing_photos,
    listings,
    social_posts,
    template_instance_listings,
)
from tests.captions_images import COLOURS, colour_index, decoded, solid
from tests.captions_world import (
    CaptionWorld,
    world,
)

__all__ = ["world"]

pytestmark = pytest.mark.postgres


def test_a_video_post_shows_its_preview_image_and_says_video(
    world: CaptionWorld,
) -> None:
    video = world.file(sample.stand_in_video(), name="tour.mp4", mime="video/mp4")
    preview = world.file(solid(COLOURS[6]))
    world.preview(video, world.file_url(preview))
    with world.engine.begin() as conn:
        kind = sample.insert_template(
            conn, "Home tour", template_type="OpenHouse", video=True
        )
        instance = sample.insert_instance(conn, world.brand, kind, video)
    post = world.post(instance)

    world.recommend(post)

    (request,) = world.model.requests
    assert request.facts["template"]["video"] is True
    assert [colour_index(url) for url in request.image_urls] == [6]


def test_a_video_whose_preview_is_the_video_itself_sends_no_image(
    world: CaptionWorld,
) -> None:
    """Such a "preview" would be downloaded whole (up to a Reel's 300 MB) only to
    fail to decode; the template's metadata still goes."""
    video = world.file(sample.stand_in_video(), name="tour.mp4", mime="video/mp4")
    world.preview(video, world.file_url(video))
    with world.engine.begin() as conn:
        kind = sample.insert_template(conn, "Home tour", video=True)
        instance = sample.insert_instance(conn, world.brand, kind, video)
    post = world.post(instance)

    got = world.recommend(post)

    (request,) = world.model.requests
    assert request.image_urls == []
    assert request.facts["template"]["video"] is True
    # Not even tried: a download that failed to decode would count as skipped.
    assert (got["data"]["images"], got["data"]["images_skipped"]) == (0, 0)


def test_a_deleted_linked_listing_leaves_the_creative_as_grounding(
    world: CaptionWorld,
) -> None:
    instance = world.instance(solid(COLOURS[3]), template_type="JustListed")
    linked = world.listing(instance, colours=COLOURS[:2])
    world.delete(listings, linked)
    post = world.post(instance)

    got = world.recommend(post)

    (request,) = world.model.requests
    assert request.facts["post_about"] == "creative"
    assert [colour_index(url) for url in request.image_urls] == [3]
    assert got["data"]["listing"] is None


def test_another_brands_listing_linked_to_the_instance_is_not_used(
    world: CaptionWorld,
) -> None:
    instance = world.instance()
    theirs = world.listing(brand=world.other_brand(), address="7 Their Street")
    with world.engine.begin() as conn:
        conn.execute(
            insert(template_instance_listings).values(
                template_instance=instance, listing=theirs
            )
        )
    post = world.post(instance)

    world.recommend(post)

    (request,) = world.model.requests
    assert request.facts["post_about"] == "creative"
    assert b"Their Street" not in request.body


def test_the_sample_of_a_very_large_photo_set_still_reaches_its_last_photo(
    world: CaptionWorld,
) -> None:
    grey = COLOURS[9]
    colours = [COLOURS[0], *([grey] * 199), COLOURS[1]]
    instance = world.instance()
    world.listing(instance, colours=colours)
    post = world.post(instance)

    world.recommend(post, captions_max_photos=4)

    (request,) = world.model.requests
    assert [colour_index(url) for url in request.image_urls] == [0, 9, 9, 1]


def test_deleted_photos_and_files_are_left_out_of_the_sample(
    world: CaptionWorld,
) -> None:
    instance = world.instance()
    listing = world.listing(instance, colours=COLOURS[:4])
    photos = world.photos(listing)
    world.delete(listing_photos, photos[1].id)
    world.delete(files, photos[2].file)
    post = world.post(instance)

    world.recommend(post)

    (request,) = world.model.requests
    assert [colour_index(url) for url in request.image_urls] == [0, 3]


def test_a_deleted_asset_file_is_not_shown(world: CaptionWorld) -> None:
    post = world.asset_post(solid(COLOURS[2]), label="Team photo")
    with world.engine.connect() as conn:
        file = conn.execute(
            select(brand_assets.c.file)
            .join(social_posts, social_posts.c.asset == brand_assets.c.id)
            .where(social_posts.c.id == post)
        ).scalar_one()
    world.delete(files, file)

    got = world.recommend(post)

    (request,) = world.model.requests
    assert request.image_urls == []
    assert request.facts["images"] == "none available"
    assert got["data"]["images"] == 0


def test_an_image_that_cannot_be_fetched_or_read_is_skipped(
    world: CaptionWorld,
) -> None:
    instance = world.instance()
    listing = world.listing(instance, colours=COLOURS[:3])
    first, second, _ = world.photos(listing)
    (world.media_dir / first.path).unlink()
    (world.media_dir / second.path).write_bytes(b"not an image at all")
    post = world.post(instance)

    with capture_logs() as logs:
        got = world.recommend(post)

    (request,) = world.model.requests
    assert [colour_index(url) for url in request.image_urls] == [2]
    assert (got["data"]["images"], got["data"]["images_skipped"]) == (1, 2)
    skipped = [e for e in logs if e["event"] == "caption_image_skipped"]
    # The photos are fetched side by side, so the events come in either order.
    assert sorted(str(e["status"]) for e in skipped) == ["404", "None"]


def test_a_photo_stored_sideways_is_sent_upright(world: CaptionWorld) -> None:
    sideways = Image.new("RGB", (300, 100), COLOURS[0])
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to view
    out = io.BytesIO()
    sideways.save(out, format="JPEG", exif=exif.tobytes())
    post = world.asset_post(out.getvalue())

    world.recommend(post, captions_max_image_side=96)

    (request,) = world.model.requests
    (image,) = request.image_urls
    assert decoded(image).size == (32, 96)


def _damaged_exif_jpeg() -> bytes:
    """A JPEG whose EXIF block Pillow reads but cannot apply: one byte of a
    sideways photo's EXIF changed, found by trying (the first that breaks)."""
    sideways = Image.new("RGB", (300, 100), COLOURS[0])
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Camera maker"
    out = io.BytesIO()
    sideways.save(out, format="JPEG", exif=exif.tobytes())
    good = out.getvalue()
    start = good.index(b"Exif")
    for at in range(start, start + 120):
        for value in (0x00, 0xFF, 0x7F):
            data = bytes(good[:at]) + bytes([value]) + bytes(good[at + 1 :])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    with Image.open(io.BytesIO(data)) as opened:
                        opened.load()
                        ImageOps.exif_transpose(opened)
                except (OSError, SyntaxError):
                    continue  # not even readable: not the case wanted
                except Exception:
                    return data
    raise AssertionError("no one-byte change breaks Pillow's EXIF handling")


def test_a_photo_with_a_damaged_exif_block_is_still_shown(
    world: CaptionWorld,
) -> None:
    """Pillow raises TypeError or struct.error on some damaged EXIF blocks; that
    costs the photo its turn, not the whole recommendation."""
    post = world.asset_post(_damaged_exif_jpeg())

    got = world.recommend(post, captions_max_image_side=96)

    (request,) = world.model.requests
    (image,) = request.image_urls
    assert decoded(image).size == (96, 32)
    assert (got["data"]["images"], got["data"]["images_skipped"]) == (1, 0)


def test_a_listing_whose_photos_all_fail_shows_the_creative(
    world: CaptionWorld,
) -> None:
    instance = world.instance(solid(COLOURS[5]), template_type="JustListed")
    listing = world.listing(instance, colours=COLOURS[:2])
    for photo in world.photos(listing):
        (world.media_dir / photo.path).unlink()
    post = world.post(instance)

    got = world.recommend(post)

    (request,) = world.model.requests
    assert [colour_index(url) for url in request.image_urls] == [5]
    assert request.facts["images"] == "the post's rendered creative"
    assert (got["data"]["images"], got["data"]["images_skipped"]) == (1, 2)


def test_another_brands_post_or_a_deleted_one_is_not_found(
    world: CaptionWorld,
) -> None:
    with world.engine.begin() as conn:
        other = sample.insert_brand(conn, name="Other Realty")
        page = sample.insert_page(conn, other)
        file = sample.insert_file(
            conn,
            world.media_dir,
            world.media.url,
            solid(COLOURS[0]),
            name="a.png",
            mime="image/png",
        )
        asset = sample.insert_asset(conn, other, file)
        theirs = sample.insert_post(
            conn, brand=other, user=world.user, page=page, due_at=None, asset=asset
        )
    deleted = world.post(world.instance())
    world.delete(social_posts, deleted)

    for post in (theirs, deleted):
        with pytest.raises(NotFound) as missing:
            world.recommend(post)
        assert missing.value.problems[0].field == "post"
    assert world.model.requests == []


def test_a_base_url_with_a_trailing_slash_reaches_the_same_endpoint(
    world: CaptionWorld,
) -> None:
    post = world.asset_post(solid(COLOURS[1]))

    world.recommend(post, captions_base_url=world.model.base_url + "/")

    (request,) = world.model.requests
    assert request.path == "/v1/chat/completions"
    assert json.loads(request.body)["model"] == "vision-small"
