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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import requests
import structlog
from PIL import Image, ImageOps, UnidentifiedImageError

from publisher.media_fetch import CreativeUnavailable, FetchRetry, fetch_creative

log = structlog.get_logger(__name__)

T = TypeVar("T")

_JPEG_QUALITY = 80
_PARALLEL_FETCHES = 4
# One quick retry: a person is waiting for the recommendation.
_RETRY = FetchRetry(attempts=2, first_wait=0.3, max_wait=1.0, jitter=0.2)


@dataclass(frozen=True)
class ShownImage:
    """One image as it is sent: where it came from and its data URL."""

    source_url: str
    data_url: str


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
    timeout: tuple[float, float],
    max_bytes: int,
    max_side: int,
) -> list[ShownImage]:
    """Each URL's image, shrunk to `max_side`, in order; those that fail are left
    out. They are fetched side by side: a person is waiting for the caption."""
    if not urls:
        return []

    def one(url: str) -> ShownImage | None:
        with requests.Session() as session:
            return _shown_image(
                url,
                session=session,
                timeout=timeout,
                max_bytes=max_bytes,
                max_side=max_side,
            )

    with ThreadPoolExecutor(min(len(urls), _PARALLEL_FETCHES)) as pool:
        found = list(pool.map(one, urls))
    return [image for image in found if image is not None]


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
        data = _shrunk_jpeg(fetched.data, max_side)
    except CreativeUnavailable as exc:
        log.warning("caption_image_skipped", reason=exc.message, status=exc.status)
        return None
    except ImageUnreadable as exc:
        log.warning("caption_image_skipped", reason=str(exc), status=None)
        return None
    except (ValueError, requests.RequestException) as exc:
        # A URL the download cannot even parse (`http://[::1/p.png`).
        log.warning(
            "caption_image_skipped",
            reason=f"not a URL that can be fetched ({exc.__class__.__name__})",
            status=None,
        )
        return None
    encoded = base64.b64encode(data).decode("ascii")
    return ShownImage(url, f"data:image/jpeg;base64,{encoded}")


class ImageUnreadable(Exception):
    """The bytes are not an image Pillow can read."""


def _shrunk_jpeg(data: bytes, max_side: int) -> bytes:
    try:
        with warnings.catch_warnings():
            # Pillow warns of damaged EXIF blocks; they are not ours to print.
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image.draft("RGB", (max_side, max_side))
                # A phone photo is stored sideways with an EXIF orientation tag;
                # the model sees it the way it is meant to be looked at.
                upright = _upright(image)
                upright.thumbnail((max_side, max_side))
                rgb = _on_white(upright)
    except (
        Image.DecompressionBombWarning,
        Image.DecompressionBombError,
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
    ) as exc:
        raise ImageUnreadable(
            f"not an image that can be read ({exc.__class__.__name__})"
        ) from exc
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=_JPEG_QUALITY, optimize=True)
    return out.getvalue()


def _on_white(image: Image.Image) -> Image.Image:
    """RGB, with any transparency laid over white: dropping the alpha channel alone
    would show a logo's transparent background as whatever colour it hides."""
    if image.mode in ("RGBA", "LA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGB", rgba.size, "white")
        white.paste(rgba, mask=rgba.getchannel("A"))
        return white
    return image.convert("RGB")


def _upright(image: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation says; as it is when the EXIF
    block is damaged (Pillow then raises all sorts), which costs only the turn."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception as exc:
        log.info("caption_image_exif_ignored", reason=exc.__class__.__name__)
        return image
