"""Fetching a media URL the way Meta does, and judging the bytes that come back.

Meta downloads `image_url` and `video_url` itself, so a URL that only works from the
caller's machine fails there; the simulator downloads too, with a deadline, and checks
the real bytes rather than the file name.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass

import requests
from PIL import Image, UnidentifiedImageError

from publisher.simulator import errors

IMAGE_MAX_BYTES = 8 * 1024 * 1024
# Meta writes "300 MB" and "100 MB"; the stricter decimal reading is used.
REELS_MAX_BYTES = 300 * 1000 * 1000
STORY_VIDEO_MAX_BYTES = 100 * 1000 * 1000
FEED_MIN_ASPECT = (4, 5)
FEED_MAX_ASPECT = (191, 100)

_CHUNK_BYTES = 64 * 1024
# Enough of a video to see its first ISO-BMFF box header.
_VIDEO_HEAD_BYTES = 16


@dataclass(frozen=True)
class _Download:
    head: bytes
    too_large: bool


def check_image(url: str, *, timeout: float, feed: bool) -> None:
    """Fetch an image and raise the GraphError Meta would answer, if any."""
    download = _download(url, timeout=timeout, max_bytes=IMAGE_MAX_BYTES, keep=None)
    if download.too_large:
        raise errors.image_too_large()

    try:
        with Image.open(io.BytesIO(download.head)) as image:
            image_format = image.format
            width, height = image.size
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        # Bytes that are no image at all get Meta's "only photo or video" answer.
        raise errors.fetch_failed(url) from None
    # Pillow names multi-picture JPEGs MPO, which Meta refuses like any non-JPEG.
    if image_format != "JPEG":
        raise errors.image_format_unsupported()
    if feed and not _feed_aspect_ok(width, height):
        raise errors.aspect_ratio_unsupported()


def check_video(url: str, *, timeout: float, max_bytes: int) -> None:
    """Fetch a video and raise 352/2207026 unless it looks like an MP4 or MOV file."""
    download = _download(
        url, timeout=timeout, max_bytes=max_bytes, keep=_VIDEO_HEAD_BYTES
    )
    # MP4 and MOV both open with an `ftyp` box whose type sits at byte 4.
    if download.too_large or download.head[4:8] != b"ftyp":
        raise errors.video_unsupported()


def _feed_aspect_ok(width: int, height: int) -> bool:
    low_w, low_h = FEED_MIN_ASPECT
    high_w, high_h = FEED_MAX_ASPECT
    # Cross-multiplied so that exactly 4:5 and 1.91:1 pass without float rounding.
    return width * low_h >= height * low_w and width * high_h <= height * high_w


def _download(
    url: str, *, timeout: float, max_bytes: int, keep: int | None
) -> _Download:
    """Read at most max_bytes + 1 of url, keeping the first `keep` bytes (all: None)."""
    if not _fetchable(url):
        raise errors.fetch_failed(url)
    deadline = time.monotonic() + timeout

    kept = bytearray()
    received = 0
    try:
        # Meta fetches from the public internet, never through the caller's proxy.
        with requests.Session() as session:
            session.trust_env = False
            with session.get(url, timeout=timeout, stream=True) as response:
                if not 200 <= response.status_code < 300:
                    raise errors.fetch_failed(url)
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    return _Download(b"", too_large=True)

                for chunk in response.iter_content(_CHUNK_BYTES):
                    received += len(chunk)
                    if received > max_bytes:
                        return _Download(b"", too_large=True)
                    if keep is None or len(kept) < keep:
                        kept += chunk
                    if time.monotonic() > deadline:
                        raise errors.download_timeout()
    except requests.ReadTimeout:
        raise errors.download_timeout() from None
    except requests.RequestException:
        raise errors.fetch_failed(url) from None

    head = bytes(kept) if keep is None else bytes(kept[:keep])
    return _Download(head, too_large=False)


def _fetchable(url: str) -> bool:
    # Meta asks for US-ASCII URLs and fails the others before trying them.
    return url.isascii() and url.startswith(("http://", "https://"))
