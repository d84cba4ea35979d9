"""Backlog benchmark: what the lateness sweep costs a daemon back from an outage.

    .venv/bin/python bench/backlog.py --stale 20000 --fresh 2000

Starts a private PostgreSQL cluster (or uses PUBLISHER_TEST_DATABASE_URL), inserts
`--stale` posts due two to three days ago and `--fresh` posts due within the last
hour, then polls as a daemon does (sweep, then claim) without publishing anything.
Prints how long the sweeps took to end every stale post as missed (posts per
second), the time of one sweep and one claim once the backlog is gone, and checks
that every fresh post was claimable and no stale one was claimed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

from sqlalchemy import create_engine, func, insert, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from publisher import sample  # noqa: E402
from publisher.db import init_schema  # noqa: E402
from publisher.logs import configure_logging  # noqa: E402
from publisher.queue import Queue  # noqa: E402
from publisher.tables import Stage, social_posts  # noqa: E402
from tests.builders import image  # noqa: E402
from tests.pg import start_cluster  # noqa: E402

LIMIT = timedelta(hours=24)


def fill(url: str, stale: int, fresh: int, media: Path) -> None:
    engine = create_engine(url)
    init_schema(engine)
    with engine.begin() as conn:
        brand = sample.insert_brand(conn)
        user = sample.insert_user(conn)
        page = sample.insert_page(conn, brand)
        data = image(64, 64)
        file = sample.insert_file(
            conn, media, "http://127.0.0.1:1", data, name="c.png", mime="image/png"
        )
        asset = sample.insert_asset(conn, brand, file)
        now = datetime.now(UTC)
        rows = []
        for number in range(stale + fresh):
            if number < stale:
                due = now - timedelta(days=2, seconds=number * 86400 / max(stale, 1))
            else:
                due = now - timedelta(seconds=(number - stale) * 3600 / max(fresh, 1))
            rows.append(
                {
                    "id": uuid4(),
                    "brand": brand,
                    "created_by": user,
                    "facebook_page": page,
                    "asset": asset,
                    "caption": f"post {number}",
                    "due_at": due,
                    "created_at": now,
                }
            )
        conn.execute(insert(social_posts), rows)
    with engine.connect() as conn:
        conn.execute(text("ANALYZE social_posts"))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stale", type=int, default=20000)
    parser.add_argument("--fresh", type=int, default=2000)
    args = parser.parse_args()
    # The daemon's logging as a service runs it (JSON lines), sent to stderr.
    configure_logging("json", "info", stream=sys.stderr)

    cluster = start_cluster()
    try:
        admin = create_engine(cluster.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS publisher_bench_backlog"))
            conn.execute(text("CREATE DATABASE publisher_bench_backlog"))
        admin.dispose()
        url = cluster.url.rsplit("/", 1)[0] + "/publisher_bench_backlog"
        with tempfile.TemporaryDirectory() as media:
            fill(url, args.stale, args.fresh, Path(media))
        engine = create_engine(url)
        queue = Queue(engine, "bench", timedelta(minutes=5), max_lateness=LIMIT)

        started = time.perf_counter()
        sweeps = missed = 0
        while batch := queue.mark_missed():
            sweeps += 1
            missed += len(batch)
        sweep_total = time.perf_counter() - started

        idle_sweeps, claims = [], []
        claimed = 0
        while True:
            begun = time.perf_counter()
            queue.mark_missed()
            idle_sweeps.append(time.perf_counter() - begun)
            begun = time.perf_counter()
            got = queue.claim(50)
            claims.append(time.perf_counter() - begun)
            if not got:
                break
            claimed += len(got)
        with engine.connect() as conn:
            stale_claimed = conn.execute(
                select(func.count()).where(
                    social_posts.c.stage == Stage.MISSED.value,
                    social_posts.c.claimed_by.is_not(None),
                )
            ).scalar_one()
        engine.dispose()
    finally:
        cluster.stop()

    print(f"stale posts ended missed: {missed} in {sweeps} sweeps, {sweep_total:.2f} s")
    print(f"  {missed / sweep_total:.0f} posts/s")
    print(
        f"sweep with no backlog: median {statistics.median(idle_sweeps) * 1000:.1f} ms"
    )
    print(
        f"claim of 50 after the sweep: median {statistics.median(claims) * 1000:.1f} ms"
    )
    print(f"fresh claimed: {claimed} of {args.fresh}; stale claimed: {stale_claimed}")


if __name__ == "__main__":
    main()
