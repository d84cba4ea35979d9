"""Solid-colour photos for the caption tests, and reading back what a model was
shown: a test tells which photos went by decoding the data URLs of a recorded
request and reading their colour."""

from __future__ import annotations

import base64
import io

from PIL import Image

# Ten colours far apart from each other, one per photo position.
COLOURS = (
    (230, 25, 25),
    (25, 200, 25),
    (25, 25, 230),
    (240, 230, 20),
    (230, 20, 230),
    (20, 220, 230),
    (120, 10, 10),
    (10, 110, 10),
    (10, 10, 120),
    (128, 128, 128),
)


def solid(colour: tuple[int, int, int], width: int = 300, height: int = 200) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


def decoded(data_url: str) -> Image.Image:
    """The image inside a `data:image/jpeg;base64,...` URL."""
    head, _, payload = data_url.partition(",")
    assert head == "data:image/jpeg;base64", head
    image = Image.open(io.BytesIO(base64.b64decode(payload)))
    assert image.format == "JPEG"
    return image.convert("RGB")


def colour_index(data_url: str) -> int:
    """Which of COLOURS the image is (JPEG shifts a solid colour only a little)."""
    image = decoded(data_url)
    pixel = image.getpixel((image.width // 2, image.height // 2))
    assert isinstance(pixel, tuple)

    def distance(colour: tuple[int, int, int]) -> int:
        return sum((a - b) ** 2 for a, b in zip(colour, pixel, strict=True))

    best = min(range(len(COLOURS)), key=lambda n: distance(COLOURS[n]))
    assert distance(COLOURS[best]) < 30**2, (pixel, COLOURS[best])
    return best
