"""Drain benchmark: N posts due now in PostgreSQL, one daemon, a loopback simulator.

    .venv/bin/python bench/drain.py --posts 2000 [--concurrency 8]

Starts a private PostgreSQL cluster (or uses PUBLISHER_TEST_DATABASE_URL), runs the
simulator in its own process (`publisher simulate`) so that the daemon's memory is
measured alone, serves the creatives from a local media server, and runs
`run_once` over the posts. Prints posts per second, lateness p50/p99 (when a worker
first took the post up minus its `due_at`) and the daemon process's peak RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import requests
from sqlalchemy import create_engine, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from publisher import sample  # noqa: E402
from publisher.db import init_schema  # noqa: E402
from publisher.logs import configure_logging  # noqa: E402
from publisher.runtime import build_worker  # noqa: E402
from publisher.settings import load_settings  # noqa: E402
from publisher.storage import MediaServer  # noqa: E402
from publisher.tables import facebook_pages  # noqa: E402
from tests.builders import image  # noqa: E402
from tests.pg import start_cluster  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_simulator(port: int) -> subprocess.Popen[bytes]:
    publisher = Path(sys.executable).with_name("publisher")
    process = subprocess.Popen(
        [str(publisher), "simulate", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            requests.get(f"http://127.0.0.1:{port}/_sim/config", timeout=1).close()
            return process
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the simulator did not start")


def seed(
    url: str, media: MediaServer, media_dir: Path, count: int, pages: int
) -> list[dict[str, str]]:
    """One brand, `pages` pages, `count` posts due now spread over them, each with a
    PNG creative of its own. Returns the pages' accounts for the simulator."""
    engine = create_engine(url)
    init_schema(engine)
    png = image(1080, 1350)
    due = datetime.now(UTC)
    with engine.begin() as conn:
        brand = sample.insert_brand(conn)
        user = sample.insert_user(conn)
        template = sample.insert_template(conn, "bench")
        page_ids = [sample.insert_page(conn, brand) for _ in range(pages)]
        for n in range(count):
            file = sample.insert_file(
                conn, media_dir, media.url, png, name="flyer.png", mime="image/png"
            )
            instance = sample.insert_instance(conn, brand, template, file)
            sample.insert_post(
                conn,
                brand=brand,
                user=user,
                page=page_ids[n % pages],
                due_at=due,
                caption=f"Bench post {n} #justlisted",
                template_instance=instance,
            )
        rows = conn.execute(
            select(
                facebook_pages.c.facebook_page_id,
                facebook_pages.c.instagram_business_account_id,
                facebook_pages.c.access_token,
            )
        ).all()
    engine.dispose()
    return [
        {
            "page_id": row.facebook_page_id,
            "ig_user_id": row.instagram_business_account_id,
            "access_token": row.access_token,
            "username": "bench",
        }
        for row in rows
    ]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))
    return ordered[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--pages",
        type=int,
        default=20,
        help="pages the posts are spread over (Meta caps each account's day)",
    )
    args = parser.parse_args()

    cluster = start_cluster()
    database = f"bench_{os.getpid()}"
    admin = create_engine(cluster.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {database}"))
    admin.dispose()
    url = cluster.url.rsplit("/", 1)[0] + "/" + database
    sim_port = free_port()
    simulator = start_simulator(sim_port)
    work = Path(tempfile.mkdtemp(prefix="publisher-bench-"))
    try:
        with MediaServer(work / "media") as media:
            accounts = seed(url, media, work / "media", args.posts, args.pages)
            for account in accounts:
                requests.post(
                    f"http://127.0.0.1:{sim_port}/_sim/accounts",
                    json=account,
                    timeout=10,
                ).raise_for_status()
            return run(url, media.url, work, sim_port, args)
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


def run(
    url: str, media_url: str, work: Path, sim_port: int, args: argparse.Namespace
) -> int:
    os.environ.update(
        {
            "PUBLISHER_DATABASE_URL": url,
            "PUBLISHER_GRAPH_BASE_URL": f"http://127.0.0.1:{sim_port}",
            "PUBLISHER_MEDIA_BASE_URL": media_url,
            "PUBLISHER_MEDIA_DIRECTORY": str(work / "media"),
            "PUBLISHER_SANDBOX_MODE": "off",
            "PUBLISHER_WORKER_CONCURRENCY": str(args.concurrency),
            "PUBLISHER_WORKER_POLL_INTERVAL_SECONDS": "0.2",
            "PUBLISHER_DATABASE_POOL_SIZE": str(args.concurrency + 4),
        }
    )
    settings = load_settings()
    configure_logging("json", "warning")
    worker = build_worker(settings)
    began = time.perf_counter()
    code, summary = worker.daemon.run_once(timeout=3600)
    elapsed = time.perf_counter() - began
    with worker.engine.connect() as conn:
        lateness = list(
            conn.execute(
                text(
                    "SELECT EXTRACT(EPOCH FROM first_claimed_at - due_at)::float "
                    "FROM social_posts"
                )
            ).scalars()
        )
    worker.close()

    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_mib = usage.ru_maxrss / 1024
    cpu_ms = (usage.ru_utime + usage.ru_stime) * 1000 / args.posts
    print(f"posts            {args.posts} over {args.pages} pages")
    print(f"concurrency      {args.concurrency}")
    print(f"outcome          {summary} (exit {code})")
    print(f"elapsed          {elapsed:.1f} s")
    print(f"throughput       {args.posts / elapsed:.1f} posts/s")
    print(f"daemon CPU       {cpu_ms:.1f} ms/post (daemon and media server)")
    print(f"lateness p50     {statistics.median(lateness):.2f} s")
    print(f"lateness p99     {percentile(lateness, 0.99):.2f} s")
    print(
        f"peak RSS         {peak_mib:.0f} MiB "
        "(daemon and media server; simulator excluded)"
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
