"""Caption recommendations: from a post's facts to a caption that fits Instagram.

`recommend` asks the configured model (`captions.base_url`) with the facts and the
images that ground them, or, with no model configured, lets the built-in writer
compose the caption. Either way the result is fitted to Instagram's rules before
it is returned. Nothing here reads or writes the database: `publisher.posts`
gathers the facts and answers the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

from publisher.captions.builtin import write_caption
from publisher.captions.facts import CreativeFacts, Grounding, ListingFacts
from publisher.captions.fit import fit_caption
from publisher.captions.images import ShownImage, shown_images
from publisher.captions.model import ModelFailed, ask_model
from publisher.captions.prompt import messages
from publisher.settings import CaptionSettings, MediaSettings

BUILTIN = "builtin"
MODEL = "model"
# A photo or creative larger than this is no photo (a video, a print master):
# it is left out rather than downloaded to be shrunk.
MAX_IMAGE_BYTES = 50 * 1024 * 1024

__all__ = [
    "BUILTIN",
    "MODEL",
    "CreativeFacts",
    "Grounding",
    "ListingFacts",
    "ModelFailed",
    "Recommendation",
    "recommend",
]


@dataclass(frozen=True)
class Recommendation:
    """A caption, who wrote it, and what grounded it."""

    caption: str
    source: str
    model: str | None
    images_sent: int
    # Images that could not be fetched or read (the caption was written without).
    images_skipped: int = 0
    adjustments: list[str] = field(default_factory=list)


def recommend(
    grounding: Grounding, captions: CaptionSettings, media: MediaSettings
) -> Recommendation:
    """A caption for the post; raises ModelFailed when the model gives none."""
    if captions.base_url is None:
        fitted = fit_caption(write_caption(grounding))
        return Recommendation(
            fitted.caption, BUILTIN, None, 0, adjustments=fitted.adjustments
        )
    wanted, images = _images(grounding, captions, media)
    answer = ask_model(captions, messages(grounding, images))
    fitted = fit_caption(answer.text)
    adjustments = list(fitted.adjustments)
    if answer.cut_off:
        adjustments.insert(
            0, "the model stopped at its length limit, so the caption may end early"
        )
    return Recommendation(
        fitted.caption,
        MODEL,
        answer.model,
        len(images),
        wanted - len(images),
        adjustments,
    )


def _images(
    grounding: Grounding, captions: CaptionSettings, media: MediaSettings
) -> tuple[int, list[ShownImage]]:
    """The images to show and how many were tried: the listing's photo sample,
    and the creative when there are none or none of them could be fetched (a
    post not about a listing gets its creative alone)."""
    fetch = partial(
        shown_images,
        timeout=(5.0, media.fetch_timeout_seconds),
        max_bytes=min(media.max_download_bytes, MAX_IMAGE_BYTES),
        max_side=captions.max_image_side,
    )
    photos = grounding.listing.photo_urls if grounding.listing else []
    shown = fetch(photos)
    tried = len(photos)
    creative = grounding.creative.image_url
    if not shown and creative:
        shown = fetch([creative])
        tried += 1
    return tried, shown
