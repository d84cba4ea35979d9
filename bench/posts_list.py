"""Read benchmark of `publisher.posts`: list pages and stats over one brand's posts.

    .venv/bin/python bench/posts_list.py --posts 20000 [--backend postgres|sqlite]

Fills one brand with N posts (template and asset creatives, drafts, scheduled and
executed ones) and a second brand with as many, then times `list_posts` (a page of
50 with every association, first and deep), a filtered list and `post_stats`.
Prints p50/p99 milliseconds per call. PostgreSQL runs on a private cluster (or
PUBLISHER_TEST_DATABASE_URL).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Engine, create_engine, insert, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from publisher import posts, sample  # noqa: E402
from publisher.db import init_schema, make_engine  # noqa: E402
from publisher.settings import DatabaseSettings  # noqa: E402
from publisher.tables import social_posts  # noqa: E402
from tests.pg import start_cluster  # noqa: E402

ALL = "social_post.template_instance,social_post.asset,social_post.owner"


def fill(engine: Engine, count: int, media: Path) -> UUID:
    """A brand with `count` posts; returns the brand."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        brand = sample.insert_brand(conn)
        user = sample.insert_user(conn, active_brand=brand)
        page = sample.insert_page(conn, brand)
        file = sample.insert_file(
            conn, media, "https://cdn.example", b"x", name="a.png", mime="image/png"
        )
        instance = sample.insert_instance(
            conn, brand, sample.insert_template(conn, "bench"), file
        )
        asset = sample.insert_asset(conn, brand, file, medium="Email")
        rows: list[dict[str, Any]] = []
        for number in range(count):
            kind = number % 4
            stamp = now - timedelta(seconds=count - number)
            rows.append(
                {
                    "id": uuid4(),
                    "brand": brand,
                    "created_by": user,
                    "facebook_page": page,
                    "template_instance": instance if kind != 3 else None,
                    "asset": asset if kind == 3 else None,
                    "caption": f"post {number}",
                    "created_at": stamp,
                    "updated_at": stamp,
                    "due_at": None if kind == 0 else stamp + timedelta(hours=1),
                    "executed_at": stamp if kind == 2 else None,
                }
            )
        for start in range(0, count, 1000):
            conn.execute(insert(social_posts), rows[start : start + 1000])
    return brand


def timed(label: str, call: Callable[[], Any], repeats: int) -> None:
    call()
    samples = []
    for _ in range(repeats):
        began = time.perf_counter()
        call()
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(f"{label:44s} p50 {statistics.median(samples):7.2f} ms  p99 {p99:7.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--backend", choices=("postgres", "sqlite"), default="sqlite")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="posts-bench-"))
    cluster = None
    if args.backend == "postgres":
        cluster = start_cluster()
        admin = create_engine(cluster.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS posts_bench"))
            conn.execute(text("CREATE DATABASE posts_bench"))
        admin.dispose()
        url = cluster.url.rsplit("/", 1)[0] + "/posts_bench"
    else:
        url = f"sqlite:///{workdir}/bench.db"
    engine = make_engine(
        DatabaseSettings(url=url, pool_size=2, connect_timeout_seconds=5)
    )
    try:
        init_schema(engine)
        brand = fill(engine, args.posts, workdir)
        fill(engine, args.posts, workdir)
        print(f"{args.backend}: {args.posts} posts per brand, 2 brands")
        deep = max(0, args.posts - 50)
        timed(
            "list, first page of 50, all associations",
            lambda: posts.list_posts(engine, brand, limit=50, associations=[ALL]),
            args.repeats,
        )
        timed(
            f"list, page at start={deep}, all associations",
            lambda: posts.list_posts(
                engine, brand, start=deep, limit=50, associations=[ALL]
            ),
            args.repeats,
        )
        timed(
            "list, scheduled, Email, order due_at",
            lambda: posts.list_posts(
                engine,
                brand,
                status="scheduled",
                mediums=["Email"],
                order="due_at",
                limit=50,
            ),
            args.repeats,
        )
        timed(
            "stats, any status", lambda: posts.post_stats(engine, brand), args.repeats
        )
    finally:
        engine.dispose()
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
