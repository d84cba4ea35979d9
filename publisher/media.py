"""Turn a fetched creative into a file Instagram accepts, and preflight it locally.

Every check Meta would otherwise make after a container is created (format, file size,
feed aspect ratio, caption rules) runs here first, so a doomed post fails with a message
the brand can act on before any Graph API call. Images are decoded for real and become
baseline JPEGs; videos are only recognised and measured, never transcoded. The
download itself is media_fetch.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import structlog
from PIL import ExifTags, Image, ImageCms, ImageOps, UnidentifiedImageError

from publisher import rules
from publisher.media_fetch import MIB
from publisher.platforms.base import MediaKind

log = structlog.get_logger(__name__)

STORY_MEDIUM = "InstagramStory"

# Meta's documentation says 8 MB while its error message says 8 MiB; the latter is what
# the server enforces.
MAX_IMAGE_BYTES = 8 * MIB
# Meta states video limits in MB; the decimal reading is the stricter one.
MAX_VIDEO_BYTES = {MediaKind.REELS: 300_000_000, MediaKind.STORY_VIDEO: 100_000_000}

FEED_MIN_ASPECT = Fraction(4, 5)
FEED_MAX_ASPECT = Fraction(191, 100)
# Tried in order until the JPEG fits MAX_IMAGE_BYTES; 90 is visually lossless for the
# rendered graphics and photos brands post, and below 60 artefacts become visible.
JPEG_QUALITIES = (90, 80, 70, 60)

# HEIF and AVIF images are ISO-BMFF files too; their major brand tells them apart.
_IMAGE_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif"}
)
# The ICC colour space that goes with each JPEG mode this module writes.
_COLOUR_SPACES = {"RGB": "RGB ", "L": "GRAY"}


class PreflightError(Exception):
    """The creative or caption breaks an Instagram rule; publishing would fail."""

    def __init__(self, field: str, rule: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.rule = rule
        self.message = message


@dataclass(frozen=True)
class PreparedMedia:
    """A file ready to store and hand to Instagram.

    `width` and `height` are the displayed size of an image; they are None for videos,
    which are not parsed beyond their file type. `extension` carries no dot.
    """

    data: bytes = field(repr=False)
    content_type: str
    extension: str
    width: int | None
    height: int | None
    kind: MediaKind
    digest: str


def media_kind_for(
    *, medium: str | None, template_video: bool, mime: str | None
) -> MediaKind:
    """What a creative becomes: a story when its medium says so, else feed or Reels."""
    video = template_video or (mime or "").lower().startswith("video/")
    if medium == STORY_MEDIUM:
        return MediaKind.STORY_VIDEO if video else MediaKind.STORY_IMAGE
    return MediaKind.REELS if video else MediaKind.FEED_IMAGE


def prepare(data: bytes, *, kind: MediaKind, caption: str) -> PreparedMedia:
    """Turn a fetched creative into media Instagram accepts, or raise PreflightError."""
    # Stories carry no caption, so whatever the post holds is never sent.
    if not kind.is_story:
        problems = rules.caption_problems(caption)
        if problems:
            first = problems[0]
            raise PreflightError(first.field, first.rule, first.message)

    prepared = (
        _prepare_video(data, kind) if kind.is_video else _prepare_image(data, kind)
    )
    log.info(
        "creative_prepared",
        kind=str(kind),
        content_type=prepared.content_type,
        bytes=len(prepared.data),
        width=prepared.width,
        height=prepared.height,
        digest=prepared.digest,
    )
    return prepared


def _video_brand(data: bytes) -> bytes | None:
    """The major brand of an ISO-BMFF file (MP4, MOV, HEIF...), or None."""
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return data[8:12]
    return None


def _prepare_video(data: bytes, kind: MediaKind) -> PreparedMedia:
    brand = _video_brand(data)
    if brand is None or brand in _IMAGE_BRANDS:
        raise PreflightError(
            "creative",
            "video_format",
            "The creative is not a video; Instagram Reels and video stories need an "
            "MP4 or MOV file.",
        )

    limit = MAX_VIDEO_BYTES[kind]
    if len(data) > limit:
        what = "video stories" if kind.is_story else "Reels"
        raise PreflightError(
            "creative",
            "video_size",
            f"The video is {len(data) / 1_000_000:.1f} MB; Instagram allows at most "
            f"{limit // 1_000_000} MB for {what}.",
        )

    quicktime = brand == b"qt  "
    return PreparedMedia(
        data=data,
        content_type="video/quicktime" if quicktime else "video/mp4",
        extension="mov" if quicktime else "mp4",
        width=None,
        height=None,
        kind=kind,
        digest=hashlib.sha256(data).hexdigest(),
    )


@contextlib.contextmanager
def _decoding() -> Iterator[None]:
    """Turn Pillow's complaints about the file into PreflightErrors."""
    try:
        yield
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise PreflightError(
            "creative",
            "image_pixels",
            f"The image has more than {Image.MAX_IMAGE_PIXELS:,} pixels, too many to "
            "process safely; export it at a smaller size.",
        ) from exc
    except UnidentifiedImageError as exc:
        raise PreflightError(
            "creative",
            "image_format",
            "The creative is not an image file the publisher can read.",
        ) from exc
    # Pillow reports damaged data with any of these, depending on the format.
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise PreflightError(
            "creative",
            "image_decode",
            "The image file is damaged or incomplete and could not be decoded.",
        ) from exc


def _prepare_image(data: bytes, kind: MediaKind) -> PreparedMedia:
    brand = _video_brand(data)
    if brand is not None and brand not in _IMAGE_BRANDS:
        raise PreflightError(
            "creative",
            "image_format",
            "The creative is a video, but the post publishes an image.",
        )

    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that and raises beyond;
        # both are refused alike, whatever the process's warning filters say.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with _decoding():
            image = Image.open(io.BytesIO(data))
        with image:
            with _decoding():
                image.load()
            output = _jpeg_for(image, data, kind)
            width, height = image.size

    return PreparedMedia(
        data=output,
        content_type="image/jpeg",
        extension="jpg",
        width=width,
        height=height,
        kind=kind,
        digest=hashlib.sha256(output).hexdigest(),
    )


def _jpeg_for(image: Image.Image, data: bytes, kind: MediaKind) -> bytes:
    """The JPEG to publish: the original bytes when they already qualify."""
    source_format, source_mode = image.format, image.mode
    orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    if orientation != 1:
        ImageOps.exif_transpose(image, in_place=True)

    if kind is MediaKind.FEED_IMAGE:
        _check_feed_aspect(*image.size)

    if (
        source_format == "JPEG"
        and source_mode in ("RGB", "L")
        and orientation == 1
        and not image.info.get("progressive")
        and len(data) <= MAX_IMAGE_BYTES
    ):
        log.debug("creative_kept", format="JPEG", mode=source_mode, bytes=len(data))
        return data

    flat, icc_profile = _flattened(image)
    output, quality = _encode_jpeg(flat, icc_profile)
    log.info(
        "creative_converted",
        source_format=source_format,
        source_mode=source_mode,
        orientation=orientation,
        mode=flat.mode,
        quality=quality,
        bytes=len(output),
    )
    return output


def _check_feed_aspect(width: int, height: int) -> None:
    # Fractions keep 1080 by 1350 exactly at 4:5, not a float's hair either side.
    if FEED_MIN_ASPECT <= Fraction(width, height) <= FEED_MAX_ASPECT:
        return
    ratio = f"{width / height:.2f}:1" if width >= height else f"1:{height / width:.2f}"
    raise PreflightError(
        "creative",
        "image_aspect_ratio",
        f"The image is {width}\N{MULTIPLICATION SIGN}{height} ({ratio}); "
        "Instagram feed images must be between 4:5 and 1.91:1.",
    )


def _flattened(image: Image.Image) -> tuple[Image.Image, bytes | None]:
    """The image in a JPEG mode (RGB or L) and the ICC profile still valid for it.

    Other modes are converted by Pillow's formulas, not through their ICC profile, so a
    print-ready CMYK creative comes out with approximate colours; its CMYK profile is
    dropped rather than attached to RGB pixels.
    """
    icc_profile = image.info.get("icc_profile")

    if image.has_transparency_data:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", image.size, "white")
        flat.paste(rgba, mask=rgba)
    elif image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        # Pillow clips rather than scales 16-bit values when converting to 8 bits.
        flat = image.convert("I").point(lambda value: value / 256).convert("L")
    elif image.mode in ("RGB", "L"):
        flat = image
    elif image.mode == "1":
        flat = image.convert("L")
    else:
        flat = image.convert("RGB")

    if icc_profile and _icc_colour_space(icc_profile) != _COLOUR_SPACES[flat.mode]:
        icc_profile = None
    return flat, icc_profile


def _icc_colour_space(icc_profile: bytes) -> str | None:
    try:
        return str(
            ImageCms.ImageCmsProfile(io.BytesIO(icc_profile)).profile.xcolor_space
        )
    except (ImageCms.PyCMSError, OSError):
        return None


def _encode_jpeg(image: Image.Image, icc_profile: bytes | None) -> tuple[bytes, int]:
    size = 0
    for quality in JPEG_QUALITIES:
        buffer = io.BytesIO()
        image.save(
            buffer, "JPEG", quality=quality, optimize=True, icc_profile=icc_profile
        )
        size = buffer.tell()
        if size <= MAX_IMAGE_BYTES:
            return buffer.getvalue(), quality
        log.debug("creative_jpeg_too_large", quality=quality, bytes=size)

    raise PreflightError(
        "creative",
        "image_size",
        f"The image is {size / MIB:.1f} MiB even as a JPEG at quality "
        f"{JPEG_QUALITIES[-1]}; Instagram allows at most {MAX_IMAGE_BYTES // MIB} MiB.",
    )
