"""Media preparation: real images made with Pillow, converted and preflighted."""

from __future__ import annotations

import hashlib
import io
import os
from typing import Any

import pytest
from PIL import Image, ImageCms
from structlog.testing import capture_logs

from publisher.media import (
    MAX_IMAGE_BYTES,
    PreflightError,
    PreparedMedia,
    media_kind_for,
    prepare,
)
from publisher.platforms.base import MediaKind

ORIENTATION = 0x0112
TIMES = "\N{MULTIPLICATION SIGN}"


def _encode(image: Image.Image, image_format: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **params)
    return buffer.getvalue()


def _jpeg(width: int, height: int, **params: Any) -> bytes:
    return _encode(Image.new("RGB", (width, height), (40, 90, 160)), "JPEG", **params)


def _feed(data: bytes, caption: str = "Just listed") -> PreparedMedia:
    return prepare(data, kind=MediaKind.FEED_IMAGE, caption=caption)


def _refusal(data: bytes, kind: MediaKind, caption: str = "") -> PreflightError:
    with pytest.raises(PreflightError) as caught:
        prepare(data, kind=kind, caption=caption)
    return caught.value


def _binary_noise(width: int, height: int) -> Image.Image:
    """Each channel of each pixel 0 or 255 at random: about the worst case for JPEG."""
    noise = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    return noise.point(lambda value: 255 * (value & 1))


def _near(image: Image.Image, xy: tuple[int, int], expected: tuple[int, ...]) -> bool:
    """Whether the pixel at `xy` is within JPEG's rounding of `expected`."""
    actual = image.getpixel(xy)
    assert isinstance(actual, tuple)
    return all(abs(a - e) <= 6 for a, e in zip(actual, expected, strict=True))


@pytest.mark.parametrize(
    ("medium", "template_video", "mime", "kind"),
    [
        (None, False, "image/png", MediaKind.FEED_IMAGE),
        ("Social", False, None, MediaKind.FEED_IMAGE),
        ("Social", True, None, MediaKind.REELS),
        (None, False, "video/mp4", MediaKind.REELS),
        ("Social", False, "VIDEO/QUICKTIME", MediaKind.REELS),
        ("InstagramStory", False, "image/jpeg", MediaKind.STORY_IMAGE),
        ("InstagramStory", True, None, MediaKind.STORY_VIDEO),
        ("InstagramStory", False, "video/mp4", MediaKind.STORY_VIDEO),
    ],
)
def test_media_kind_for(
    medium: str | None, template_video: bool, mime: str | None, kind: MediaKind
) -> None:
    assert media_kind_for(medium=medium, template_video=template_video, mime=mime) is (
        kind
    )


def test_png_with_alpha_becomes_a_jpeg_flattened_on_white() -> None:
    image = Image.new("RGBA", (1000, 1000), (0, 0, 0, 0))
    image.paste((220, 20, 20, 255), (0, 0, 500, 1000))

    prepared = _feed(_encode(image, "PNG"))

    assert (prepared.content_type, prepared.extension) == ("image/jpeg", "jpg")
    assert (prepared.width, prepared.height) == (1000, 1000)
    assert prepared.digest == hashlib.sha256(prepared.data).hexdigest()
    with Image.open(io.BytesIO(prepared.data)) as result:
        assert (result.format, result.mode) == ("JPEG", "RGB")
        assert _near(result, (250, 500), (220, 20, 20))
        # Transparent black must come out white, not black.
        assert _near(result, (750, 500), (255, 255, 255))


def test_palette_png_becomes_rgb_and_its_transparent_index_white() -> None:
    image = Image.new("P", (1000, 1000), 0)
    image.putpalette([0, 0, 0, 30, 160, 60] + [0] * 762)
    image.paste(1, (0, 0, 500, 1000))

    prepared = _feed(_encode(image, "PNG", transparency=0))

    with Image.open(io.BytesIO(prepared.data)) as result:
        assert result.mode == "RGB"
        assert _near(result, (250, 500), (30, 160, 60))
        assert _near(result, (750, 500), (255, 255, 255))


def test_cmyk_jpeg_is_converted_to_rgb() -> None:
    cmyk = _encode(Image.new("CMYK", (1000, 1000), (0, 255, 255, 0)), "JPEG")

    prepared = _feed(cmyk)

    assert prepared.data != cmyk
    with Image.open(io.BytesIO(prepared.data)) as result:
        assert result.mode == "RGB"
        assert _near(result, (500, 500), (255, 0, 0))


def test_sixteen_bit_greyscale_is_scaled_not_clipped() -> None:
    deep = _encode(Image.new("I;16", (1000, 1000), 32768), "PNG")

    prepared = _feed(deep)

    with Image.open(io.BytesIO(prepared.data)) as result:
        assert result.mode == "L"
        value = result.getpixel((500, 500))
        assert isinstance(value, (int, float))
        assert abs(value - 128) <= 2


def test_an_rgb_icc_profile_is_kept_when_converting() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    png = _encode(Image.new("RGB", (1000, 1000), "white"), "PNG", icc_profile=srgb)

    prepared = _feed(png)

    with Image.open(io.BytesIO(prepared.data)) as result:
        assert result.info.get("icc_profile") == srgb


def test_exif_orientation_is_applied_to_the_pixels() -> None:
    # Stored landscape with a red top-left corner; orientation 6 displays it rotated
    # a quarter turn clockwise, which puts that corner at the top right.
    image = Image.new("RGB", (1000, 800), (255, 255, 255))
    image.paste((255, 0, 0), (0, 0, 100, 100))
    exif = Image.Exif()
    exif[ORIENTATION] = 6

    prepared = _feed(_encode(image, "JPEG", exif=exif))

    assert (prepared.width, prepared.height) == (800, 1000)
    with Image.open(io.BytesIO(prepared.data)) as result:
        assert result.size == (800, 1000)
        assert result.getexif().get(ORIENTATION, 1) == 1
        assert _near(result, (750, 50), (255, 0, 0))
        assert _near(result, (50, 50), (255, 255, 255))


def test_feed_aspect_ratio_is_checked_on_the_displayed_orientation() -> None:
    # 1300 by 1000 as stored would pass; displayed upright it is 1000 by 1300.
    exif = Image.Exif()
    exif[ORIENTATION] = 6

    error = _refusal(_jpeg(1300, 1000, exif=exif), MediaKind.FEED_IMAGE)

    assert error.rule == "image_aspect_ratio"
    assert f"1000{TIMES}1300" in error.message


@pytest.mark.parametrize(
    ("width", "height"), [(1000, 1000), (1080, 1350), (1910, 1000)]
)
def test_a_baseline_jpeg_within_the_feed_limits_is_kept_byte_for_byte(
    width: int, height: int
) -> None:
    original = _jpeg(width, height)

    prepared = _feed(original)

    assert prepared.data == original
    assert (prepared.width, prepared.height) == (width, height)


def test_a_greyscale_jpeg_is_kept_as_is() -> None:
    original = _encode(Image.new("L", (1000, 1000), 128), "JPEG")

    assert _feed(original).data == original


def test_a_progressive_jpeg_is_reencoded_as_baseline() -> None:
    original = _jpeg(1000, 1000, progressive=True)

    prepared = _feed(original)

    assert prepared.data != original
    with Image.open(io.BytesIO(prepared.data)) as result:
        assert not result.info.get("progressive")


def test_an_mpo_becomes_a_plain_jpeg() -> None:
    first = Image.new("RGB", (1000, 1000), (200, 30, 30))
    second = Image.new("RGB", (1000, 1000), (30, 30, 200))
    mpo = _encode(first, "MPO", save_all=True, append_images=[second])

    prepared = _feed(mpo)

    with Image.open(io.BytesIO(prepared.data)) as result:
        assert result.format == "JPEG"
        assert getattr(result, "n_frames", 1) == 1
        assert _near(result, (500, 500), (200, 30, 30))


@pytest.mark.parametrize(
    ("width", "height", "message"),
    [
        (
            1000,
            2000,
            f"The image is 1000{TIMES}2000 (1:2.00); "
            "Instagram feed images must be between 4:5 and 1.91:1.",
        ),
        (
            1000,
            1300,
            f"The image is 1000{TIMES}1300 (1:1.30); "
            "Instagram feed images must be between 4:5 and 1.91:1.",
        ),
        (
            1911,
            1000,
            f"The image is 1911{TIMES}1000 (1.91:1); "
            "Instagram feed images must be between 4:5 and 1.91:1.",
        ),
    ],
)
def test_feed_images_outside_4_5_to_1_91_are_refused(
    width: int, height: int, message: str
) -> None:
    error = _refusal(_jpeg(width, height), MediaKind.FEED_IMAGE)

    assert (error.field, error.rule, error.message) == (
        "creative",
        "image_aspect_ratio",
        message,
    )


@pytest.mark.parametrize(("width", "height"), [(1080, 1920), (1000, 3000), (3000, 500)])
def test_stories_accept_any_aspect_ratio(width: int, height: int) -> None:
    prepared = prepare(_jpeg(width, height), kind=MediaKind.STORY_IMAGE, caption="")

    assert (prepared.width, prepared.height, prepared.kind) == (
        width,
        height,
        MediaKind.STORY_IMAGE,
    )


def test_an_image_over_8_mib_is_reencoded_at_a_lower_quality_to_fit() -> None:
    bitmap = _encode(_binary_noise(3000, 3000), "BMP")

    with capture_logs() as logs:
        prepared = _feed(bitmap)

    assert len(prepared.data) <= MAX_IMAGE_BYTES
    too_large = [log for log in logs if log["event"] == "creative_jpeg_too_large"]
    assert too_large
    assert all(log["bytes"] > MAX_IMAGE_BYTES for log in too_large)
    converted = next(log for log in logs if log["event"] == "creative_converted")
    assert converted["quality"] < 90


def test_an_image_too_large_even_at_the_lowest_quality_is_refused() -> None:
    bitmap = _encode(_binary_noise(4000, 3800), "BMP")

    error = _refusal(bitmap, MediaKind.FEED_IMAGE)

    assert error.rule == "image_size"
    assert error.message.endswith(
        "even as a JPEG at quality 60; Instagram allows at most 8 MiB."
    )


@pytest.mark.parametrize("image_format", ["PNG", "JPEG"])
def test_a_truncated_image_fails_clearly(image_format: str) -> None:
    whole = _encode(_binary_noise(400, 400), image_format)

    error = _refusal(whole[: len(whole) // 2], MediaKind.FEED_IMAGE)

    assert (error.field, error.rule) == ("creative", "image_decode")
    assert error.message == (
        "The image file is damaged or incomplete and could not be decoded."
    )


def test_a_text_file_is_not_an_image() -> None:
    error = _refusal(b"Open house on Sunday!\n" * 50, MediaKind.FEED_IMAGE)

    assert (error.field, error.rule) == ("creative", "image_format")


def test_a_video_file_is_refused_for_an_image_post() -> None:
    error = _refusal(_mp4(b"isom"), MediaKind.STORY_IMAGE)

    assert error.rule == "image_format"
    assert "is a video" in error.message


@pytest.mark.parametrize("pixels", [1_500_000, 2_500_000])
def test_decompression_bombs_are_refused(
    monkeypatch: pytest.MonkeyPatch, pixels: int
) -> None:
    # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that; both refuse.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)

    error = _refusal(_jpeg(1000, pixels // 1000), MediaKind.STORY_IMAGE)

    assert (error.field, error.rule) == ("creative", "image_pixels")
    assert "1,000,000 pixels" in error.message


def test_caption_rules_are_checked_for_feed_posts() -> None:
    error = _refusal(_jpeg(1000, 1000), MediaKind.FEED_IMAGE, caption="a" * 2201)

    assert (error.field, error.rule, error.message) == (
        "caption",
        "caption_length",
        "The caption has 2,201 characters; Instagram allows at most 2,200.",
    )


def test_caption_rules_are_checked_for_reels() -> None:
    error = _refusal(_mp4(b"isom"), MediaKind.REELS, caption="#t " * 31)

    assert (error.field, error.rule) == ("caption", "caption_hashtags")


def test_stories_skip_the_caption_rules() -> None:
    prepared = prepare(
        _jpeg(1080, 1920), kind=MediaKind.STORY_IMAGE, caption="a" * 5000
    )

    assert prepared.kind is MediaKind.STORY_IMAGE


def _mp4(brand: bytes, size: int = 64) -> bytes:
    header = (24).to_bytes(4, "big") + b"ftyp" + brand + b"\0\0\0\0" + b"isomiso2"
    return header + bytes(size - len(header))


@pytest.mark.parametrize(
    ("brand", "content_type", "extension"),
    [
        (b"isom", "video/mp4", "mp4"),
        (b"mp42", "video/mp4", "mp4"),
        (b"qt  ", "video/quicktime", "mov"),
    ],
)
def test_videos_are_recognised_and_passed_through(
    brand: bytes, content_type: str, extension: str
) -> None:
    video = _mp4(brand)

    prepared = prepare(video, kind=MediaKind.REELS, caption="Tour #home")

    assert prepared.data == video
    assert (prepared.content_type, prepared.extension) == (content_type, extension)
    assert (prepared.width, prepared.height) == (None, None)
    assert prepared.digest == hashlib.sha256(video).hexdigest()


@pytest.mark.parametrize(
    "data",
    [
        b"not a video at all",
        _encode(Image.new("RGB", (10, 10)), "PNG"),
        _mp4(b"heic"),
        b"\0\0\0\x18moov",
    ],
)
def test_anything_but_mp4_or_mov_is_not_a_video(data: bytes) -> None:
    error = _refusal(data, MediaKind.STORY_VIDEO)

    assert (error.field, error.rule) == ("creative", "video_format")
    assert error.message.startswith("The creative is not a video")


def test_a_story_video_may_weigh_100_mb_but_no_more() -> None:
    limit = 100_000_000

    prepare(_mp4(b"isom", limit), kind=MediaKind.STORY_VIDEO, caption="")
    error = _refusal(_mp4(b"isom", limit + 1), MediaKind.STORY_VIDEO)

    assert (error.rule, error.message) == (
        "video_size",
        "The video is 100.0 MB; Instagram allows at most 100 MB for video stories.",
    )
