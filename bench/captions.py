"""Caption recommendation benchmark: what a request costs and carries.

    .venv/bin/python bench/captions.py [--photos 24] [--runs 7] [--side 4032]

One listing with N phone-sized photos (noisy JPEGs, so they weigh what real ones
do) served over HTTP by the media server, and a local model server that answers at
once, so the figures are publisher's own work: the database read, downloading and
shrinking the sample, building the request. For `captions.max_photos` 1, 4 and 8
it prints the median and worst seconds per recommendation and the request's size,
then the built-in writer's time and the process's peak RSS. SQLite: the database
read is a few milliseconds either way.
"""

from __future__ import annotations

import argparse
import io
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image
from sqlalchemy import create_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from publisher import sample  # noqa: E402
from publisher.db import init_schema  # noqa: E402
from publisher.posts import recommend_caption  # noqa: E402
from publisher.settings import Settings, load_settings  # noqa: E402
from publisher.storage import MediaServer  # noqa: E402
from tests.model_server import ModelServer  # noqa: E402


def phone_photo(side: int) -> bytes:
    """A 4:3 JPEG of noise: it compresses as badly as a photo does."""
    noise = Image.effect_noise((side, side * 3 // 4), 60).convert("RGB")
    out = io.BytesIO()
    noise.save(out, format="JPEG", quality=90)
    return out.getvalue()


def settings_for(
    base: Settings, media: Path, model_url: str | None, photos: int
) -> Settings:
    captions = base.captions.model_copy(
        update={
            "base_url": model_url,
            "model": "bench" if model_url else None,
            "max_photos": photos,
        }
    )
    return base.model_copy(
        update={
            "captions": captions,
            "media": base.media.model_copy(update={"directory": media}),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=24)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--side", type=int, default=4032, help="photo width, px")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-captions-"))
    media = work / "media"
    engine = create_engine(f"sqlite:///{work}/bench.db")
    init_schema(engine)
    photo = phone_photo(args.side)
    base = load_settings()
    with MediaServer(media) as server, ModelServer() as model:
        with engine.begin() as conn:
            brand = sample.insert_brand(conn)
            user = sample.insert_user(conn, brand=brand)
            page = sample.insert_page(conn, brand)
            flyer = sample.insert_file(
                conn,
                media,
                server.url,
                sample.render_creative(1080, 1350, "Just Listed"),
                name="flyer.png",
                mime="image/png",
            )
            kind = sample.insert_template(conn, "Flyer")
            instance = sample.insert_instance(conn, brand, kind, flyer)
            listing = sample.insert_listing(conn, brand, instance)
            for position in range(args.photos):
                file = sample.insert_file(
                    conn,
                    media,
                    server.url,
                    photo,
                    name=f"{position}.jpg",
                    mime="image/jpeg",
                    folder="photos",
                )
                sample.insert_listing_photo(conn, listing, file, position)
            post = sample.insert_post(
                conn,
                brand=brand,
                user=user,
                page=page,
                due_at=None,
                template_instance=instance,
            )
        print(
            f"listing with {args.photos} photos of {args.side}x{args.side * 3 // 4}, "
            f"{len(photo) / 1e6:.1f} MB each; {args.runs} runs per row"
        )
        print(f"{'max_photos':>10} {'median s':>9} {'worst s':>8} {'request KB':>11}")
        for photos in (1, 4, 8):
            settings = settings_for(base, media, model.base_url, photos)
            times = []
            for _ in range(args.runs):
                started = time.perf_counter()
                recommend_caption(engine, brand, post, settings=settings)
                times.append(time.perf_counter() - started)
            size = len(model.requests[-1].body) / 1024
            print(
                f"{photos:>10} {statistics.median(times):>9.3f} {max(times):>8.3f} "
                f"{size:>11.0f}"
            )
        builtin = settings_for(base, media, None, 4)
        times = []
        for _ in range(args.runs * 10):
            started = time.perf_counter()
            recommend_caption(engine, brand, post, settings=builtin)
            times.append(time.perf_counter() - started)
        print(f"built-in writer: median {statistics.median(times) * 1000:.1f} ms")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
