"""The images a model is shown: a spread sample of a listing's photos, or the
post's creative, each downloaded, shrunk and sent inline as a JPEG data URL.

Inline images reach hosted and local servers alike (a local llama.cpp or a hosted
model need not be able to fetch the brand's storage), and shrinking bounds what a
request carries however large the originals are. An image that cannot be fetched
or read is left out and logged; the caption is still written from the rest.
"""

from __future__ import annotations

import base64
import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import requests
import structlog
from PIL import Image, ImageOps, UnidentifiedImageError

from publisher.media_fetch import CreativeUnavailable, FetchRetry, fetch_creative

log = structlog.get_logger(__name__)

T = TypeVar("T")

_JPEG_QUALITY = 80
# One quick retry: a person is waiting for the recommendation.
_RETRY = FetchRetry(attempts=2, first_wait=0.3, max_wait=1.0, jitter=0.2)


@dataclass(frozen=True)
class ShownImage:
    """One image as it is sent: where it came from, its data URL and its size."""

    source_url: str
    data_url: str
    width: int
    height: int


def spread_sample(items: Sequence[T], count: int) -> list[T]:
    """`count` items spread evenly over the sequence, first and last included, in
    order: the cover photo, the last one, and evenly spaced ones between."""
    if count <= 0 or not items:
        return []
    if count >= len(items):
        return list(items)
    if count == 1:
        return [items[0]]
    step = (len(items) - 1) / (count - 1)
    return [items[round(n * step)] for n in range(count)]


def shown_images(
    urls: Sequence[str],
    *,
    session: requests.Session,
    timeout: tuple[float, float],
    max_bytes: int,
    max_side: int,
) -> list[ShownImage]:
    """Each URL's image, shrunk to `max_side`; those that fail are left out."""
    shown = []
    for url in urls:
        image = _shown_image(
            url,
            session=session,
            timeout=timeout,
            max_bytes=max_bytes,
            max_side=max_side,
        )
        if image is not None:
            shown.append(image)
    return shown


def _shown_image(
    url: str,
    *,
    session: requests.Session,
    timeout: tuple[float, float],
    max_bytes: int,
    max_side: int,
) -> ShownImage | None:
    try:
        fetched = fetch_creative(
            url, session=session, timeout=timeout, max_bytes=max_bytes, retry=_RETRY
        )
        data, width, height = _shrunk_jpeg(fetched.data, max_side)
    except CreativeUnavailable as exc:
        log.warning("caption_image_skipped", reason=exc.message, status=exc.status)
        return None
    except ImageUnreadable as exc:
        log.warning("caption_image_skipped", reason=str(exc), status=None)
        return None
    encoded = base64.b64encode(data).decode("ascii")
    return ShownImage(url, f"data:image/jpeg;base64,{encoded}", width, height)


class ImageUnreadable(Exception):
    """The bytes are not an image Pillow can read."""


def _shrunk_jpeg(data: bytes, max_side: int) -> tuple[bytes, int, int]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image.draft("RGB", (max_side, max_side))
                # A phone photo is stored sideways with an EXIF orientation tag;
                # the model sees it the way it is meant to be looked at.
                upright = ImageOps.exif_transpose(image)
                upright.thumbnail((max_side, max_side))
                rgb = upright.convert("RGB")
    except (
        Image.DecompressionBombWarning,
        Image.DecompressionBombError,
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
    ) as exc:
        raise ImageUnreadable(f"not an image that can be read ({exc})") from exc
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=_JPEG_QUALITY, optimize=True)
    return out.getvalue(), rgb.width, rgb.height
