"""Attack scenarios: inputs, Graph faults, concurrency, database outages, config, logs.

Each test states what the publisher promises and fails when the promise breaks:
bad input gets a clear error naming the field and the rule and loses nothing; a
crash, kill -9, database restart or Graph API fault loses no post and never
publishes one twice; tokens never appear in logs.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import socket
import socketserver
import struct
import subprocess
import threading
import time
import traceback
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
import requests
import structlog
from PIL import Image
from sqlalchemy import create_engine, insert, select, text, update

from publisher import sample
from publisher.logs import configure_logging
from publisher.runtime import Worker, build_worker
from publisher.settings import Settings
from publisher.tables import (
    Stage,
    facebook_pages,
    files,
    social_posts,
)
from tests.builders import (
    PUBLISHER,
    Brand,
    image,
    make_brand,
    post_row,
    run_cli,
    worker_builder,
)
from tests.conftest import GraphWorld
from tests.pg import Cluster

pytestmark = pytest.mark.postgres


# Short timeouts and retries so that every fault plays out within seconds.
FAST: dict[str, object] = {
    "worker_lease_seconds": 5,
    "worker_retry_base_seconds": 0.2,
    "worker_retry_max_seconds": 0.5,
    "graph_read_timeout_seconds": 1.5,
    "graph_connect_timeout_seconds": 1,
    "media_fetch_timeout_seconds": 1,
}


# ---------------------------------------------------------------------------
# helpers


@pytest.fixture
def new_worker(
    pg_url: str, world_settings: Callable[..., Settings]
) -> Iterator[Callable[..., Worker]]:
    """Builds workers on the test database; every one is closed at the end."""
    with worker_builder(pg_url, world_settings, FAST) as build:
        yield build


@pytest.fixture
def worker(new_worker: Callable[..., Worker]) -> Worker:
    return new_worker()


@pytest.fixture
def brand(worker: Worker, graph_world: GraphWorld) -> Brand:
    return make_brand(worker.engine, graph_world)


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """Every log line of the test, as the daemon writes them (JSON, debug level)."""
    stream = io.StringIO()
    configure_logging("json", "debug", stream=stream)
    try:
        yield stream
    finally:
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()


def publishes_of(world: GraphWorld, post: UUID) -> list[dict[str, Any]]:
    """The simulator's publishes of this post (its prepared file names the post)."""
    return [p for p in world.publishes() if str(post) in (p["source_url"] or "")]


def calls(world: GraphWorld, operation: str) -> list[dict[str, Any]]:
    return [c for c in world.control("calls")["data"] if c["operation"] == operation]


def assert_nothing_lost(worker: Worker, world: GraphWorld, posts: list[UUID]) -> None:
    """After a run: no claim left, each post ended or says why it waits, and none
    was published more than once."""
    for post in posts:
        row = post_row(worker.engine, post)
        assert row.claimed_by is None, f"post {post} left claimed ({row.stage})"
        if row.executed_at is None:
            assert row.last_error, f"post {post} pending with no reason ({row.stage})"
        assert len(publishes_of(world, post)) <= 1, f"post {post} published twice"


def assert_published_once(worker: Worker, world: GraphWorld, post: UUID) -> None:
    row = post_row(worker.engine, post)
    mine = publishes_of(world, post)
    assert len(mine) == 1, f"{len(mine)} publishes of {post}"
    assert row.stage == Stage.PUBLISHED, (row.stage, row.last_error, row.failure)
    assert row.executed_at is not None and row.failed_at is None
    assert row.claimed_by is None
    # The row names the media that really is this post's, not another one's.
    assert row.published_media_id == mine[0]["media_id"]


def time_passes(worker: Worker, posts: list[UUID], minutes: float = 1) -> None:
    """As if `minutes` had gone by for these posts and every page: each of their
    timestamps moves back (whatever waits they hold: backoffs, settle times,
    deferrals), no post waits for a retry any more, and held pages have been
    reconnected. The simulator's clock is left alone."""
    with worker.engine.begin() as conn:
        for table, where in (
            ("social_posts", "WHERE id = ANY(:ids)"),
            ("facebook_pages", ""),
        ):
            columns = conn.execute(
                text(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = :table "
                    "AND data_type = 'timestamp with time zone'"
                ),
                {"table": table},
            ).scalars()
            moves = ", ".join(
                f"{column} = {column} - make_interval(secs => :s)" for column in columns
            )
            conn.execute(
                text(f"UPDATE {table} SET {moves} {where}"),
                {"s": minutes * 60, "ids": list(posts)},
            )
        conn.execute(
            update(social_posts)
            .where(social_posts.c.id.in_(posts))
            .values(next_attempt_at=None)
        )
        conn.execute(
            update(facebook_pages).values(needs_reauth_at=None, reauth_reason=None)
        )


def insert_creative(
    brand: Brand, url: str, mime: str, *, template: bool = True, **template_kw: Any
) -> tuple[str, UUID]:
    """A file row with exactly this URL, and a template instance (or asset) for it."""
    with brand.engine.begin() as conn:
        file_id = uuid4()
        conn.execute(
            insert(files).values(
                id=file_id,
                path=f"creatives/{file_id}/x",
                name="x",
                public=True,
                url=url,
                mime=mime,
                created_at=datetime.now(UTC),
            )
        )
        if template:
            kind = sample.insert_template(conn, "attack template", **template_kw)
            return "template_instance", sample.insert_instance(
                conn, brand.brand, kind, file_id
            )
        return "asset", sample.insert_asset(conn, brand.brand, file_id)


def post_for(brand: Brand, ref: tuple[str, UUID], caption: str = "x") -> UUID:
    column, value = ref
    with brand.engine.begin() as conn:
        return sample.insert_post(
            conn,
            brand=brand.brand,
            user=brand.user,
            page=brand.page,
            due_at=datetime.now(UTC) - timedelta(seconds=1),
            caption=caption,
            **{column: value},
        )


def png_claiming_size(width: int, height: int) -> bytes:
    """A small, valid PNG whose header says it is width x height."""
    out = io.BytesIO()
    Image.new("1", (8, 8)).save(out, format="PNG")
    data = bytearray(out.getvalue())
    ihdr = data.index(b"IHDR")
    struct.pack_into(">II", data, ihdr + 4, width, height)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17])) & 0xFFFFFFFF
    struct.pack_into(">I", data, ihdr + 17, crc)
    return bytes(data)


def jpeg_of_exact_size(size: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1080, 1350), (10, 120, 200)).save(out, format="JPEG")
    data = out.getvalue()
    # Bytes after the end-of-image marker are ignored by every decoder.
    return data + b"\0" * (size - len(data))


def animated_gif() -> bytes:
    frames = [Image.new("P", (1080, 1080), colour) for colour in (1, 80, 160)]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:])
    return out.getvalue()


def cmyk_jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("CMYK", (1080, 1080), (0, 80, 160, 20)).save(out, format="JPEG")
    return out.getvalue()


class _TrickleHandler(socketserver.BaseRequestHandler):
    server: _TrickleServer

    def handle(self) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            request += chunk
        self.request.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n"
            b"Content-Length: 10000000\r\n\r\n"
        )
        # One byte at a time, each well inside the read timeout: the download
        # never times out and never ends.
        while not self.server.stopping.is_set():
            try:
                self.request.sendall(b"\x89")
            except OSError:
                return
            self.server.stopping.wait(0.2)


class _TrickleServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _TrickleHandler)
        self.stopping = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/creative.png"


@pytest.fixture
def trickle_server() -> Iterator[_TrickleServer]:
    server = _TrickleServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A port that accepts connections (the kernel does) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/creative.png"
    finally:
        sock.close()


def run_in_thread(
    target: Callable[[], Any],
) -> tuple[threading.Thread, dict[str, Any]]:
    result: dict[str, Any] = {}

    def body() -> None:
        try:
            result["value"] = target()
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread, result


def raised(result: dict[str, Any]) -> str:
    error = result.get("error")
    return "".join(traceback.format_exception(error)) if error else ""


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# ---------------------------------------------------------------------------
# creatives


# name: (bytes, file mime, template options, words the failure must hold)
_BAD_CREATIVES: dict[str, tuple[bytes, str, dict[str, Any], list[str]]] = {
    "html-as-png": (b"<html>Not found</html>", "image/png", {}, ["not an image"]),
    "truncated-png": (image(1080, 1350)[:2000], "image/png", {}, ["damaged"]),
    "20000x20000": (png_claiming_size(20000, 20000), "image/png", {}, ["pixels"]),
    "video-template-png": (
        image(1080, 1350),
        "video/mp4",
        {"video": True},
        ["not a video"],
    ),
    "image-template-mp4": (sample.stand_in_video(), "image/png", {}, ["is a video"]),
    "too-tall": (image(1000, 2000), "image/png", {}, ["1000×2000", "4:5"]),
}
_GOOD_CREATIVES: dict[str, tuple[bytes, str]] = {
    "animated-gif": (animated_gif(), "image/gif"),
    "cmyk-jpeg": (cmyk_jpeg(), "image/jpeg"),
    "jpeg-exactly-8MiB": (jpeg_of_exact_size(8 * 1024 * 1024), "image/jpeg"),
    "jpeg-8MiB-plus-1": (jpeg_of_exact_size(8 * 1024 * 1024 + 1), "image/jpeg"),
    "png-1.91:1": (image(1080, 566), "image/png"),
    "png-4:5": (image(1080, 1350), "image/png"),
}


def test_bad_creatives_fail_naming_the_rule_before_any_graph_call(
    worker: Worker, brand: Brand, graph_world: GraphWorld
) -> None:
    posts = {
        name: brand.post(brand.creative(data, mime=mime, **options), caption=name)
        for name, (data, mime, options, _words) in _BAD_CREATIVES.items()
    }

    code, summary = worker.daemon.run_once(timeout=15)

    assert (code, summary) == (3, {"failed": len(posts)})
    for name, post in posts.items():
        row = post_row(worker.engine, post)
        assert row.failed_at is not None and row.claimed_by is None, name
        for word in _BAD_CREATIVES[name][3]:
            assert word.lower() in row.failure.lower(), (name, row.failure)
    assert graph_world.control("calls")["data"] == []


def test_awkward_but_valid_creatives_are_published_once(
    worker: Worker, brand: Brand, graph_world: GraphWorld
) -> None:
    posts = {
        name: brand.post(brand.creative(data, mime=mime), caption=name)
        for name, (data, mime) in _GOOD_CREATIVES.items()
    }

    code, summary = worker.daemon.run_once(timeout=20)

    assert (code, summary) == (0, {"published": len(posts)}), summary
    for post in posts.values():
        assert_published_once(worker, graph_world, post)


def test_creative_url_404_fails_naming_the_creative(
    worker: Worker, brand: Brand, graph_world: GraphWorld
) -> None:
    url = f"{graph_world.media.url}/creatives/gone.png?X-Amz-Signature=s3cr3tsig"
    post = post_for(brand, insert_creative(brand, url, "image/png"))

    code, summary = worker.daemon.run_once(timeout=15)

    assert (code, summary) == (3, {"failed": 1})
    row = post_row(worker.engine, post)
    assert "creative" in row.failure and "404" in row.failure
    assert "s3cr3tsig" not in row.failure
    assert graph_world.control("calls")["data"] == []


def test_signed_creative_url_secret_stays_out_of_debug_logs(
    worker: Worker, brand: Brand, graph_world: GraphWorld, json_logs: io.StringIO
) -> None:
    """media.py strips the query from every URL it shows ("signed URLs carry
    secrets"); with log.level debug the same secret must not leak another way."""
    url = f"{graph_world.media.url}/creatives/gone.png?X-Amz-Signature=s3cr3tsig"
    post_for(brand, insert_creative(brand, url, "image/png"))

    worker.daemon.run_once(timeout=15)

    leaking = [
        line
        for line in json_logs.getvalue().splitlines()
        # The test's own media server stands in for the brand's CDN.
        if "s3cr3tsig" in line and '"media_served"' not in line
    ]
    assert leaking == []


@pytest.mark.parametrize("template", [True, False], ids=["template", "asset"])
def test_creative_with_empty_url_fails_clearly(
    worker: Worker, brand: Brand, graph_world: GraphWorld, template: bool
) -> None:
    post = post_for(brand, insert_creative(brand, "", "image/png", template=template))

    code, summary = worker.daemon.run_once(timeout=15)

    assert (code, summary) == (3, {"failed": 1})
    assert "creative" in post_row(worker.engine, post).failure.lower()
    assert graph_world.control("calls")["data"] == []


def test_creative_server_that_never_answers_keeps_the_post(
    worker: Worker, brand: Brand, graph_world: GraphWorld, silent_server: str
) -> None:
    post = post_for(brand, insert_creative(brand, silent_server, "image/png"))

    started = time.monotonic()
    worker.daemon.run_once(timeout=4)

    assert time.monotonic() - started < 12
    row = post_row(worker.engine, post)
    assert row.claimed_by is None
    # A server that is down is not the brand's fault: the post waits, saying why.
    assert row.executed_at is None, row.failure
    assert "in time" in (row.last_error or "")
    assert graph_world.control("calls")["data"] == []


@pytest.mark.timeout(60)
def test_trickling_creative_does_not_hold_the_run_past_its_timeout(
    worker: Worker,
    brand: Brand,
    graph_world: GraphWorld,
    trickle_server: _TrickleServer,
) -> None:
    """A creative server that sends one byte every 0.2 s never trips a per-read
    timeout. The download must still end (media.fetch_timeout_seconds is 1 s here),
    and `run --once` must return about when its timeout says, with the post
    released and a reason recorded."""
    post = post_for(brand, insert_creative(brand, trickle_server.url, "image/png"))

    started = time.monotonic()
    thread, result = run_in_thread(lambda: worker.daemon.run_once(timeout=3))
    thread.join(12)
    elapsed = time.monotonic() - started
    still_running = thread.is_alive()
    row = post_row(worker.engine, post)
    trickle_server.stopping.set()  # ends a stuck download, so the run can end
    thread.join(20)

    assert not still_running, f"run_once(timeout=3) still running after {elapsed:.0f}s"
    assert "error" not in result
    assert row.claimed_by is None
    assert row.executed_at is not None or row.last_error


@pytest.mark.timeout(60)
def test_run_once_ends_near_its_timeout_whatever_the_poll_interval(
    new_worker: Callable[..., Worker], graph_world: GraphWorld
) -> None:
    """`run --once` promises to end when its timeout runs out (exit 4); a long
    worker.poll_interval_seconds (meant for the daemon) must not stretch it."""
    worker = new_worker(worker_poll_interval_seconds=10)
    brand = make_brand(worker.engine, graph_world)
    post = brand.image_post(caption="retried soon")
    graph_world.control(
        "faults", {"operation": "create_container", "kind": "http_500", "times": 50}
    )

    started = time.monotonic()
    thread, result = run_in_thread(lambda: worker.daemon.run_once(timeout=2))
    thread.join(6)
    elapsed = time.monotonic() - started
    still_running = thread.is_alive()
    thread.join(30)

    assert not still_running, f"run_once(timeout=2) still running after {elapsed:.0f}s"
    assert result.get("value", (None,))[0] == 4, result
    assert post_row(worker.engine, post).claimed_by is None


@pytest.mark.parametrize("which", ["template_instance", "asset"])
def test_deleted_creative_is_not_published(
    worker: Worker, brand: Brand, graph_world: GraphWorld, which: str
) -> None:
    with brand.engine.begin() as conn:
        file_id = sample.insert_file(
            conn,
            graph_world.media_dir,
            graph_world.media.url,
            image(1080, 1350),
            name="image.png",
            mime="image/png",
        )
        if which == "template_instance":
            kind = sample.insert_template(conn, "deleted")
            ref = sample.insert_instance(
                conn, brand.brand, kind, file_id, deleted_at=datetime.now(UTC)
            )
        else:
            ref = sample.insert_asset(
                conn, brand.brand, file_id, deleted_at=datetime.now(UTC)
            )
    post = post_for(brand, (which, ref))

    worker.daemon.run_once(timeout=15)

    row = post_row(worker.engine, post)
    assert graph_world.publishes() == []
    assert row.stage != Stage.PUBLISHED
    assert row.claimed_by is None
    assert "creative" in ((row.failure or row.last_error) or "").lower()


# ---------------------------------------------------------------------------
# captions

_LIMIT_CAPTIONS = {
    "2200-chars": "a" * 2200,
    "2200-emoji": "\N{HOUSE BUILDING}" * 2200,
    "30-hashtags": " ".join(f"#tag{n}" for n in range(30)),
    "20-mentions": " ".join(f"@agent{n}" for n in range(20)),
    "emoji-and-rtl": "Just listed \N{HOUSE WITH GARDEN} مرحبا 🏡🔑 #home",
}
_OVER_CAPTIONS = {
    "2201-chars": ("a" * 2201, ["2,201", "2,200"]),
    "31-hashtags": (" ".join(f"#tag{n}" for n in range(31)), ["31 hashtags", "30"]),
    "21-mentions": (" ".join(f"@agent{n}" for n in range(21)), ["21", "20"]),
}


def test_captions_at_the_limits_are_published_as_written(
    worker: Worker, brand: Brand, graph_world: GraphWorld
) -> None:
    posts = {name: brand.image_post(caption=c) for name, c in _LIMIT_CAPTIONS.items()}

    code, summary = worker.daemon.run_once(timeout=15)

    assert (code, summary) == (0, {"published": len(posts)}), summary
    for name, post in posts.items():
        assert_published_once(worker, graph_world, post)
        assert publishes_of(graph_world, post)[0]["caption"] == _LIMIT_CAPTIONS[name]


def test_captions_over_the_limits_fail_naming_field_and_rule(
    worker: Worker, brand: Brand, graph_world: GraphWorld
) -> None:
    posts = {
        name: brand.image_post(caption=c) for name, (c, _) in _OVER_CAPTIONS.items()
    }

    code, summary = worker.daemon.run_once(timeout=15)

    assert (code, summary) == (3, {"failed": len(posts)})
    for name, post in posts.items():
        failure = post_row(worker.engine, post).failure
        assert "caption" in failure.lower(), (name, failure)
        for word in _OVER_CAPTIONS[name][1]:
            assert word in failure, (name, failure)
    assert graph_world.control("calls")["data"] == []


# ---------------------------------------------------------------------------
# Graph faults

_FAULTS: dict[str, dict[str, Any]] = {
    "create-http500": {"operation": "create_container", "kind": "http_500"},
    "create-code2": {"operation": "create_container", "kind": "code_2"},
    "create-lost-reply": {"operation": "create_container", "kind": "lost_reply"},
    "create-hang": {"operation": "create_container", "kind": "hang", "delay": 3},
    "create-rate-limit": {"operation": "create_container", "kind": "rate_limit"},
    "create-container-error": {
        "operation": "create_container",
        "kind": "container_error",
    },
    "status-code2-x5": {"operation": "container_status", "kind": "code_2", "times": 5},
    "status-hang": {"operation": "container_status", "kind": "hang", "delay": 3},
    "status-expired-token": {"operation": "container_status", "kind": "expired_token"},
    "publish-http500": {"operation": "media_publish", "kind": "http_500"},
    "publish-code2": {"operation": "media_publish", "kind": "code_2"},
    "publish-hang": {"operation": "media_publish", "kind": "hang", "delay": 3},
    "publish-lost-reply": {"operation": "media_publish", "kind": "lost_reply"},
    "publish-apply-then-code2": {
        "operation": "media_publish",
        "kind": "apply_then_code_2",
    },
    "publish-rate-limit": {"operation": "media_publish", "kind": "rate_limit"},
    "publish-quota": {
        "operation": "media_publish",
        "kind": "error",
        "code": 9,
        "subcode": 2207042,
    },
    "publish-spam": {
        "operation": "media_publish",
        "kind": "error",
        "code": 4,
        "subcode": 2207051,
    },
    "publish-not-ready": {
        "operation": "media_publish",
        "kind": "error",
        "code": 9007,
        "subcode": 2207027,
    },
    "publish-expired-token": {"operation": "media_publish", "kind": "expired_token"},
    "permalink-code2-x5": {"operation": "permalink", "kind": "code_2", "times": 5},
    "any-code2-x3": {"operation": "any", "kind": "code_2", "times": 3},
    "any-lost-reply-x4": {"operation": "any", "kind": "lost_reply", "times": 4},
}


def _faults_lose_nothing(
    worker: Worker, graph_world: GraphWorld, logs: io.StringIO, names: list[str]
) -> None:
    """Each fault on a page of its own (faults can be limited to an account), two
    posts per page, all in one run; then, once backoffs, settle times and
    re-authorization are behind us, a second run."""
    brands: dict[str, Brand] = {}
    posts: dict[UUID, str] = {}
    for name in names:
        brand = brands[name] = make_brand(worker.engine, graph_world)
        graph_world.control("faults", {**_FAULTS[name], "account": brand.ig_user_id})
        for n in range(2):
            posts[brand.image_post(caption=f"{name} {n}")] = name

    worker.daemon.run_once(timeout=10)

    for post, name in posts.items():
        try:
            assert_nothing_lost(worker, graph_world, [post])
        except AssertionError as exc:
            raise AssertionError(f"fault {name}: {exc}") from None
    # Every injected fault did fire.
    assert graph_world.control("faults")["data"] == []

    requests.delete(
        f"{graph_world.simulator.url}/_sim/faults", timeout=10
    ).raise_for_status()
    time_passes(worker, list(posts), minutes=5)
    worker.daemon.run_until(list(posts), timeout=20)

    for post, name in posts.items():
        try:
            assert_published_once(worker, graph_world, post)
        except AssertionError as exc:
            raise AssertionError(f"fault {name}: {exc}") from None
    logged = logs.getvalue()
    for name, brand in brands.items():
        assert brand.token not in logged, f"fault {name}: token in the logs"


def test_container_faults_lose_nothing_and_never_publish_twice(
    new_worker: Callable[..., Worker], graph_world: GraphWorld, json_logs: io.StringIO
) -> None:
    # Every post in flight at once (held pages are tested on their own below).
    worker = new_worker(worker_concurrency=32)
    names = [n for n in _FAULTS if not n.startswith(("publish-", "any-"))]
    _faults_lose_nothing(worker, graph_world, json_logs, names)


def test_publish_faults_lose_nothing_and_never_publish_twice(
    new_worker: Callable[..., Worker], graph_world: GraphWorld, json_logs: io.StringIO
) -> None:
    worker = new_worker(worker_concurrency=32)
    names = [n for n in _FAULTS if n.startswith(("publish-", "any-"))]
    _faults_lose_nothing(worker, graph_world, json_logs, names)


def test_every_post_of_a_held_page_says_why_it_waits(
    new_worker: Callable[..., Worker], graph_world: GraphWorld
) -> None:
    """The token expires while the first post is under way; the page's other posts
    are held too and must say so (as test_pipeline's held-page test expects when
    all of them happen to be in flight)."""
    worker = new_worker(worker_concurrency=1)
    brand = make_brand(worker.engine, graph_world)
    posts = [brand.image_post(caption=f"held {n}") for n in range(3)]
    graph_world.control(
        "faults", {"operation": "container_status", "kind": "expired_token"}
    )

    code, summary = worker.daemon.run_once(timeout=5)

    assert (code, summary) == (4, {"pending": 3})
    for post in posts:
        row = post_row(worker.engine, post)
        assert row.failed_at is None and row.claimed_by is None
        assert "reconnect" in (row.last_error or "").lower(), (post, row.last_error)
    assert graph_world.publishes() == []


def test_story_whose_publish_reply_was_lost_ends_published(
    worker: Worker, brand: Brand, graph_world: GraphWorld
) -> None:
    """Stories carry no caption, so matching recent media by caption cannot find
    one; the container reading PUBLISHED already proves the post is live."""
    instance = brand.creative(
        image(1080, 1920), mime="image/png", medium="InstagramStory"
    )
    post = brand.post(instance, caption="Open house Sunday")
    graph_world.control("faults", {"operation": "media_publish", "kind": "lost_reply"})

    worker.daemon.run_once(timeout=8)
    assert len(publishes_of(graph_world, post)) == 1
    # Eleven minutes later: past worker.reconcile_window_seconds (600).
    time_passes(worker, [post], minutes=11)
    worker.daemon.run_until([post], timeout=15)

    row = post_row(worker.engine, post)
    assert row.stage == Stage.PUBLISHED, (row.stage, row.failure)
    assert row.failed_at is None


def test_already_published_answer_to_a_resend_is_not_a_failure(
    new_worker: Callable[..., Worker], graph_world: GraphWorld
) -> None:
    """The first publish call outlives the client's timeout and is applied late
    (after the settle time). The reconciliation read FINISHED, so it publishes
    again, and Meta answers 100 "already published". The post is live: it must
    not end failed (or unconfirmed)."""
    worker = new_worker(graph_read_timeout_seconds=2.5)
    brand = make_brand(worker.engine, graph_world)
    post = brand.image_post(caption="applied late")
    # The first call is applied at +4 s, after the client gave up at +2.5 s; the
    # re-send sleeps 2 s, so it lands after that and meets a published container.
    for delay in (4, 2):
        graph_world.control(
            "faults", {"operation": "media_publish", "kind": "slow", "delay": delay}
        )

    worker.daemon.run_once(timeout=8)
    assert post_row(worker.engine, post).stage == Stage.PUBLISH_SENT
    time_passes(worker, [post], minutes=1)  # the settle time is over
    worker.daemon.run_until([post], timeout=10)
    time_passes(worker, [post], minutes=1)
    worker.daemon.run_until([post], timeout=10)

    assert_published_once(worker, graph_world, post)


def test_lost_reply_on_the_second_of_two_same_caption_posts_names_its_own_media(
    worker: Worker, brand: Brand, graph_world: GraphWorld
) -> None:
    """Brands reuse captions ("Just listed!"). Reconciling one post must not take
    the other post's media for its own."""
    first = brand.image_post(caption="Just listed!")
    worker.daemon.run_once(timeout=15)
    assert_published_once(worker, graph_world, first)

    second = brand.image_post(caption="Just listed!")
    graph_world.control("faults", {"operation": "media_publish", "kind": "lost_reply"})
    worker.daemon.run_once(timeout=8)
    # Only the retry wait is skipped: the stamps stay true, so the first post's
    # media really is older than the second post's publish call.
    time_passes(worker, [second], minutes=0)
    worker.daemon.run_until([second], timeout=15)

    assert_published_once(worker, graph_world, second)
    assert (
        post_row(worker.engine, second).post_link
        != post_row(worker.engine, first).post_link
    )


def test_facebook_hang_is_not_taken_for_an_earlier_same_caption_post(
    worker: Worker, graph_world: GraphWorld
) -> None:
    """The second photo never reached the Page (the call hung and was not applied).
    Finding the first post's caption must not mark the second one published."""
    page = make_brand(worker.engine, graph_world, target="facebook")
    first = page.image_post(caption="Open house Sunday")
    worker.daemon.run_once(timeout=15)
    assert len(graph_world.publishes()) == 1

    second = page.image_post(caption="Open house Sunday")
    graph_world.control(
        "faults", {"operation": "page_photos", "kind": "hang", "delay": 3}
    )
    worker.daemon.run_once(timeout=8)
    time_passes(worker, [second], minutes=0)
    worker.daemon.run_until([second], timeout=15)

    row = post_row(worker.engine, second)
    mine = publishes_of(graph_world, second)
    if row.stage == Stage.PUBLISHED:
        assert [p["media_id"] for p in mine] == [row.published_media_id], (
            "marked published with another post's media",
            row.post_link,
            post_row(worker.engine, first).post_link,
        )
    assert len(mine) <= 1


def test_rate_limit_defers_the_page_not_just_the_post(
    new_worker: Callable[..., Worker], graph_world: GraphWorld
) -> None:
    """A throttle answer means calls during the block extend it: the page's other
    posts wait too (ARCHITECTURE.md: rate-limited, defer the page)."""
    worker = new_worker(worker_concurrency=1)
    brand = make_brand(worker.engine, graph_world)
    posts = [brand.image_post(caption=f"throttled {n}") for n in range(3)]
    graph_world.control(
        "faults",
        {"operation": "create_container", "kind": "rate_limit", "minutes": 5},
    )

    worker.daemon.run_once(timeout=8)

    assert_nothing_lost(worker, graph_world, posts)
    assert len(calls(graph_world, "create_container")) == 1, [
        (c["operation"], c["status"]) for c in graph_world.control("calls")["data"]
    ]


# ---------------------------------------------------------------------------
# concurrency and leases


def test_two_workers_publish_fifty_posts_once_each(
    new_worker: Callable[..., Worker], graph_world: GraphWorld
) -> None:
    first, second = new_worker(), new_worker()
    brand = make_brand(first.engine, graph_world)
    other = make_brand(first.engine, graph_world)
    posts = [(brand if n % 2 else other).image_post(caption=f"p{n}") for n in range(50)]

    threads = [
        run_in_thread(lambda w=w: w.daemon.run_once(timeout=60))
        for w in (first, second)
    ]
    for thread, _ in threads:
        thread.join(90)

    for thread, result in threads:
        assert not thread.is_alive()
        assert "error" not in result, result
    for post in posts:
        assert_published_once(first, graph_world, post)
    assert len(graph_world.publishes()) == 50


def test_taken_over_worker_does_not_overwrite_the_new_owner(
    new_worker: Callable[..., Worker], graph_world: GraphWorld
) -> None:
    slow, rescuer = new_worker(graph_read_timeout_seconds=10), new_worker()
    brand = make_brand(slow.engine, graph_world)
    post = brand.image_post(caption="taken over")
    graph_world.control(
        "faults", {"operation": "create_container", "kind": "slow", "delay": 4}
    )
    thread, result = run_in_thread(lambda: slow.daemon.run_once(timeout=20))
    wait_for(
        lambda: post_row(slow.engine, post).claimed_by == slow.queue.worker,
        5,
        "the slow worker's claim",
    )
    with slow.engine.begin() as conn:
        conn.execute(
            update(social_posts)
            .where(social_posts.c.id == post)
            .values(claimed_until=datetime.now(UTC) - timedelta(seconds=1))
        )

    rescuer.daemon.run_until([post], timeout=15)
    after_rescue = post_row(slow.engine, post)
    thread.join(20)

    assert not thread.is_alive() and "error" not in result
    assert_published_once(slow, graph_world, post)
    assert post_row(slow.engine, post)._asdict() == after_rescue._asdict()
    [published] = publishes_of(graph_world, post)
    assert published["container_id"] == after_rescue.media_container_id


def test_taken_over_publish_is_not_sent_twice(
    new_worker: Callable[..., Worker], graph_world: GraphWorld
) -> None:
    slow, rescuer = new_worker(graph_read_timeout_seconds=10), new_worker()
    brand = make_brand(slow.engine, graph_world)
    post = brand.image_post(caption="publish taken over")
    graph_world.control(
        "faults", {"operation": "media_publish", "kind": "slow", "delay": 3}
    )
    thread, _ = run_in_thread(lambda: slow.daemon.run_once(timeout=20))
    wait_for(
        lambda: post_row(slow.engine, post).stage == Stage.PUBLISH_SENT,
        8,
        "the publish call",
    )
    with slow.engine.begin() as conn:
        conn.execute(
            update(social_posts)
            .where(social_posts.c.id == post)
            .values(claimed_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    rescuer.daemon.run_until([post], timeout=3)
    thread.join(20)
    time_passes(slow, [post])
    rescuer.daemon.run_until([post], timeout=15)

    assert_published_once(rescuer, graph_world, post)


@pytest.mark.timeout(60)
def test_lease_is_kept_while_run_once_waits_for_an_attempt(
    new_worker: Callable[..., Worker], graph_world: GraphWorld
) -> None:
    """`run --once` that times out waits for the attempts in flight; they still
    hold their claims, so no other daemon starts the same post meanwhile."""
    slow, other = new_worker(graph_read_timeout_seconds=15), new_worker()
    brand = make_brand(slow.engine, graph_world)
    post = brand.image_post(caption="long attempt")
    graph_world.control(
        "faults", {"operation": "create_container", "kind": "slow", "delay": 7.5}
    )
    thread, _ = run_in_thread(lambda: slow.daemon.run_once(timeout=1))
    time.sleep(6)  # past the 5 s lease; the slow worker is still in its call
    row = post_row(slow.engine, post)
    with slow.engine.connect() as conn:
        db_now = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
    other.daemon.run_until([post], timeout=2)
    thread.join(20)

    assert row.claimed_by == slow.queue.worker
    assert row.claimed_until > db_now, "the lease ran out while the attempt ran"
    assert len(calls(graph_world, "create_container")) == 1


def test_post_deleted_during_its_attempt_is_not_published(
    new_worker: Callable[..., Worker], graph_world: GraphWorld
) -> None:
    worker = new_worker(graph_read_timeout_seconds=10)
    brand = make_brand(worker.engine, graph_world)
    post = brand.image_post(caption="deleted while in flight")
    graph_world.control(
        "faults", {"operation": "create_container", "kind": "slow", "delay": 2}
    )
    thread, _ = run_in_thread(lambda: worker.daemon.run_once(timeout=15))
    wait_for(lambda: len(graph_world.control("faults")["data"]) == 0, 5, "the call")
    with worker.engine.begin() as conn:
        conn.execute(
            update(social_posts)
            .where(social_posts.c.id == post)
            .values(deleted_at=datetime.now(UTC))
        )
    thread.join(20)

    assert graph_world.publishes() == []
    assert post_row(worker.engine, post).claimed_by is None


# ---------------------------------------------------------------------------
# the database going away


def restart_server(cluster: Cluster) -> None:
    """`Cluster.restart()`, with the server's output going to its log file: the
    fixture's version captures pg_ctl's output, which the restarted postmaster
    inherits and never closes, so it waits forever."""
    assert cluster.directory is not None and cluster.pg_ctl is not None
    subprocess.run(
        [
            cluster.pg_ctl,
            "-D",
            str(cluster.directory / "data"),
            "-l",
            str(cluster.directory / "log"),
            "-m",
            "fast",
            "-w",
            "restart",
        ],
        user=cluster.user,
        cwd="/",
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
        timeout=30,
    )


@pytest.fixture
def own_database(pg_cluster: Cluster) -> Iterator[str]:
    """A database of this test's own, for tests that restart the server (the
    shared fixture's pooled admin connection would not survive a restart)."""
    name = f"attack_{uuid4().hex[:12]}"
    base = pg_cluster.url.rsplit("/", 1)[0]

    def admin(statement: str) -> None:
        engine = create_engine(pg_cluster.url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(statement))
        finally:
            engine.dispose()

    admin(f"CREATE DATABASE {name} TEMPLATE publisher_template")
    yield f"{base}/{name}"
    admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.mark.timeout(90)
def test_database_restart_during_a_run_loses_nothing(
    own_database: str,
    world_settings: Callable[..., Settings],
    graph_world: GraphWorld,
    pg_cluster: Cluster,
) -> None:
    worker = build_worker(world_settings(own_database, **FAST, worker_concurrency=4))
    try:
        brand = make_brand(worker.engine, graph_world)
        posts = [brand.image_post(caption=f"restart {n}") for n in range(16)]
        graph_world.control(
            "faults",
            {
                "operation": "create_container",
                "kind": "slow",
                "delay": 0.4,
                "times": 16,
            },
        )

        thread, result = run_in_thread(lambda: worker.daemon.run_once(timeout=30))
        time.sleep(1.0)
        restart_server(pg_cluster)
        thread.join(45)

        assert not thread.is_alive()
        assert "error" not in result, raised(result)
        for post in posts:
            assert_published_once(worker, graph_world, post)
    finally:
        worker.daemon.stop()
        worker.close()


@pytest.mark.timeout(90)
def test_database_unreachable_for_a_few_seconds_loses_nothing(
    new_worker: Callable[..., Worker],
    graph_world: GraphWorld,
    pg_cluster: Cluster,
    pg_url: str,
) -> None:
    worker = new_worker(worker_concurrency=4)
    brand = make_brand(worker.engine, graph_world)
    posts = [brand.image_post(caption=f"outage {n}") for n in range(12)]
    graph_world.control(
        "faults",
        {"operation": "create_container", "kind": "slow", "delay": 0.5, "times": 12},
    )
    name = pg_url.rsplit("/", 1)[1]
    admin = create_engine(pg_cluster.url, isolation_level="AUTOCOMMIT")
    try:
        thread, result = run_in_thread(lambda: worker.daemon.run_once(timeout=40))
        time.sleep(1.0)
        with admin.connect() as conn:
            conn.execute(text(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name"
                ),
                {"name": name},
            )
        time.sleep(3.0)
        with admin.connect() as conn:
            conn.execute(text(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        thread.join(60)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        admin.dispose()

    assert not thread.is_alive()
    assert "error" not in result, raised(result)
    for post in posts:
        assert_published_once(worker, graph_world, post)


@pytest.mark.timeout(90)
def test_terminated_backends_lose_nothing(
    new_worker: Callable[..., Worker], graph_world: GraphWorld
) -> None:
    worker = new_worker(worker_concurrency=4)
    brand = make_brand(worker.engine, graph_world)
    posts = [brand.image_post(caption=f"terminated {n}") for n in range(16)]
    graph_world.control(
        "faults",
        {"operation": "create_container", "kind": "slow", "delay": 0.3, "times": 16},
    )
    killer = create_engine(worker.engine.url, isolation_level="AUTOCOMMIT")
    try:
        thread, result = run_in_thread(lambda: worker.daemon.run_once(timeout=40))
        time.sleep(0.5)
        for _ in range(15):
            with killer.connect() as conn:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid()"
                    )
                )
            time.sleep(0.2)
        thread.join(60)
    finally:
        killer.dispose()

    assert not thread.is_alive()
    assert "error" not in result, raised(result)
    for post in posts:
        assert_published_once(worker, graph_world, post)


# ---------------------------------------------------------------------------
# kill -9


def _cli_env(world: GraphWorld, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    env.update(
        {
            "PUBLISHER_DATABASE_URL": database_url,
            "PUBLISHER_GRAPH_BASE_URL": world.simulator.url,
            "PUBLISHER_MEDIA_BASE_URL": world.media.url,
            "PUBLISHER_MEDIA_DIRECTORY": str(world.media_dir),
            "PUBLISHER_SANDBOX_MODE": "off",
            "PUBLISHER_WORKER_LEASE_SECONDS": "5",
            "PUBLISHER_WORKER_POLL_INTERVAL_SECONDS": "0.2",
            "PUBLISHER_LOG_FORMAT": "json",
            "PUBLISHER_LOG_LEVEL": "debug",
            **extra,
        }
    )
    return env


@contextmanager
def daemon_in_publish(
    tmp_path: Path, world: GraphWorld, database_url: str, watcher: Worker, post: UUID
) -> Iterator[subprocess.Popen[bytes]]:
    """`publisher run` as a subprocess, handed over once its publish call for `post`
    is under way; killed at the end if still running. Its output goes to
    `daemon.log` in `tmp_path`."""
    with (tmp_path / "daemon.log").open("w") as log:
        daemon = subprocess.Popen(
            [PUBLISHER, "run"],
            cwd=tmp_path,
            env=_cli_env(world, database_url),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(
                lambda: post_row(watcher.engine, post).stage == Stage.PUBLISH_SENT,
                20,
                "the daemon's publish call",
            )
            yield daemon
        finally:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait(10)


@pytest.mark.acceptance
@pytest.mark.timeout(60)
def test_kill_9_during_publish_then_another_daemon_publishes_it_once(
    new_worker: Callable[..., Worker],
    graph_world: GraphWorld,
    pg_url: str,
    tmp_path: Path,
) -> None:
    rescuer = new_worker()
    brand = make_brand(rescuer.engine, graph_world)
    post = brand.image_post(caption="killed mid publish")
    graph_world.control(
        "faults", {"operation": "media_publish", "kind": "slow", "delay": 1}
    )
    with daemon_in_publish(tmp_path, graph_world, pg_url, rescuer, post) as daemon:
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(10)
    wait_for(lambda: len(graph_world.publishes()) == 1, 5, "the slow publish")

    rescuer.daemon.run_until([post], timeout=15)

    assert_published_once(rescuer, graph_world, post)
    assert brand.token not in (tmp_path / "daemon.log").read_text()


@pytest.mark.acceptance
@pytest.mark.timeout(60)
def test_sigterm_during_publish_drains_and_records_it(
    new_worker: Callable[..., Worker],
    graph_world: GraphWorld,
    pg_url: str,
    tmp_path: Path,
) -> None:
    helper = new_worker()
    brand = make_brand(helper.engine, graph_world)
    post = brand.image_post(caption="terminated politely")
    graph_world.control(
        "faults", {"operation": "media_publish", "kind": "slow", "delay": 2}
    )
    with daemon_in_publish(tmp_path, graph_world, pg_url, helper, post) as daemon:
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(20)

    assert code == 0, (tmp_path / "daemon.log").read_text()[-3000:]
    assert_published_once(helper, graph_world, post)
    assert post_row(helper.engine, post).post_link


def test_publishing_quota_used_up_keeps_the_rest_pending(
    worker: Worker, brand: Brand, graph_world: GraphWorld
) -> None:
    graph_world.control(
        "accounts",
        {
            "page_id": brand.facebook_page_id,
            "ig_user_id": brand.ig_user_id,
            "username": "harbor.realty",
            "access_token": brand.token,
            "quota_total": 1,
        },
    )
    posts = [brand.image_post(caption=f"quota {n}") for n in range(3)]

    # Time for the page's posts to take their turns (one publish per page at a
    # time) and find the quota used up; the run ends once none can go.
    worker.daemon.run_once(timeout=15)

    assert_nothing_lost(worker, graph_world, posts)
    assert len(graph_world.publishes()) == 1
    rows = [post_row(worker.engine, post) for post in posts]
    waiting = [row for row in rows if row.executed_at is None]
    assert len(waiting) == 2 and all(row.failed_at is None for row in rows)
    assert all("limit" in row.last_error for row in waiting)


def test_two_workers_on_sqlite_publish_each_post_once(
    sqlite_url: str, world_settings: Callable[..., Settings], graph_world: GraphWorld
) -> None:
    from publisher.db import init_schema

    first = build_worker(world_settings(sqlite_url, **FAST))
    second = build_worker(world_settings(sqlite_url, **FAST))
    try:
        init_schema(first.engine)
        brand = make_brand(first.engine, graph_world)
        posts = [brand.image_post(caption=f"lite {n}") for n in range(20)]
        threads = [
            run_in_thread(lambda w=w: w.daemon.run_once(timeout=40))
            for w in (first, second)
        ]
        for thread, _ in threads:
            thread.join(60)
        for thread, result in threads:
            assert not thread.is_alive()
            assert "error" not in result, raised(result)
        for post in posts:
            assert_published_once(first, graph_world, post)
    finally:
        first.close()
        second.close()


# ---------------------------------------------------------------------------
# tokens


def test_token_with_a_stray_newline_is_never_logged(
    worker: Worker, graph_world: GraphWorld, json_logs: io.StringIO
) -> None:
    """Tokens pasted from a terminal or a form keep their newline. Whatever the
    daemon does with such a token, it must not print it, and the post must not
    be left claimed without a word."""
    token = "EAAGsecretpagetoken1234567890\n"
    with worker.engine.begin() as conn:
        brand_id = sample.insert_brand(conn)
        user = sample.insert_user(conn)
        page = sample.insert_page(conn, brand_id, access_token=token)
        row = conn.execute(
            select(facebook_pages).where(facebook_pages.c.id == page)
        ).one()
    graph_world.control(
        "accounts",
        {
            "page_id": row.facebook_page_id,
            "ig_user_id": row.instagram_business_account_id,
            "access_token": token.strip(),
        },
    )
    brand = Brand(
        worker.engine,
        graph_world,
        brand_id,
        user,
        page,
        row.facebook_page_id,
        row.instagram_business_account_id,
        token,
    )
    post = brand.image_post(caption="stray newline")

    worker.daemon.run_once(timeout=4)

    assert "EAAGsecretpagetoken" not in json_logs.getvalue()
    assert_nothing_lost(worker, graph_world, [post])


# ---------------------------------------------------------------------------
# configuration through the environment and the CLI


def _plain_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    env.update(values)
    return env


# Two sets, since one variable can hold only one bad value at a time.
_BAD_SETTINGS = [
    {
        "PUBLISHER_WORKER_CONCURRENCY": ("0", "worker.concurrency"),
        "PUBLISHER_WORKER_LEASE_SECONDS": ("2", "worker.lease_seconds"),
        "PUBLISHER_WORKER_POLL_INTERVAL_SECONDS": ("nan", "worker.poll_interval"),
        "PUBLISHER_WORKER_MAX_ATTEMPTS": ("-1", "worker.max_attempts"),
        "PUBLISHER_GRAPH_BASE_URL": ("ftp://127.0.0.1", "graph.base_url"),
        "PUBLISHER_GRAPH_VERSION": ("25", "graph.version"),
        "PUBLISHER_SANDBOX_MODE": ("maybe", "sandbox.mode"),
        "PUBLISHER_LOG_LEVEL": ("verbose", "log.level"),
        "PUBLISHER_MEDIA_MAX_DOWNLOAD_BYTES": ("10", "media.max_download_bytes"),
        "PUBLISHER_DATABASE_URL": ("mysql://db/x", "database.url"),
    },
    {
        "PUBLISHER_WORKER_CONCURRENCY": ("eight", "worker.concurrency"),
        "PUBLISHER_WORKER_POLL_INTERVAL_SECONDS": ("inf", "worker.poll_interval"),
        "PUBLISHER_DATABASE_POOL_SIZE": ("", "database.pool_size"),
    },
]


@pytest.mark.acceptance
@pytest.mark.parametrize("bad", _BAD_SETTINGS, ids=["set1", "set2"])
def test_bad_settings_stop_the_start_naming_each_key_and_variable(
    tmp_path: Path, bad: dict[str, tuple[str, str]]
) -> None:
    env = _plain_env(**{variable: value for variable, (value, _) in bad.items()})

    result = run_cli(tmp_path, "run", "--once", env=env)

    assert result.returncode == 2, result.stderr[-2000:]
    for variable, (_, key) in bad.items():
        assert key in result.stderr and variable in result.stderr, (
            variable,
            result.stderr,
        )
    assert "Traceback" not in result.stderr


@pytest.mark.acceptance
def test_unknown_variable_and_unknown_file_key_are_refused(tmp_path: Path) -> None:
    typo = run_cli(
        tmp_path, "run", "--once", env=_plain_env(PUBLISHER_WORKER_CONCURENCY="4")
    )
    config = tmp_path / "extra.yaml"
    config.write_text("worker:\n  concurency: 4\n", encoding="utf-8")
    file_typo = run_cli(
        tmp_path, "run", "--once", env=_plain_env(PUBLISHER_CONFIG=str(config))
    )

    assert typo.returncode == 2 and "PUBLISHER_WORKER_CONCURENCY" in typo.stderr
    assert file_typo.returncode == 2 and "concurency" in file_typo.stderr
    assert "Traceback" not in typo.stderr + file_typo.stderr


@pytest.mark.acceptance
def test_bad_database_url_error_does_not_print_its_password(tmp_path: Path) -> None:
    result = run_cli(
        tmp_path,
        "run",
        "--once",
        env=_plain_env(PUBLISHER_DATABASE_URL="postgresl://admin:hunter2pw@db/x"),
    )

    assert result.returncode == 2
    assert "database.url" in result.stderr
    assert "hunter2pw" not in result.stderr + result.stdout


@pytest.mark.acceptance
@pytest.mark.timeout(60)
def test_unwritable_media_directory_is_reported_not_retried_silently(
    new_worker: Callable[..., Worker],
    graph_world: GraphWorld,
    pg_url: str,
    tmp_path: Path,
) -> None:
    """media.directory is a regular file here: nothing can be prepared. Either the
    start refuses it (exit 2, naming the key), or the run ends on time with the post
    released and the reason recorded; never a post left claimed and silent."""
    helper = new_worker()
    brand = make_brand(helper.engine, graph_world)
    post = brand.image_post(caption="nowhere to write")
    not_a_directory = tmp_path / "media-file"
    not_a_directory.write_text("not a directory", encoding="utf-8")

    started = time.monotonic()
    result = run_cli(
        tmp_path,
        "run",
        "--once",
        env=_cli_env(
            graph_world,
            pg_url,
            PUBLISHER_MEDIA_DIRECTORY=str(not_a_directory),
            PUBLISHER_WORKER_ONCE_TIMEOUT_SECONDS="4",
            PUBLISHER_LOG_LEVEL="info",
        ),
        timeout=40,
    )
    elapsed = time.monotonic() - started

    row = post_row(helper.engine, post)
    assert elapsed < 30
    assert graph_world.publishes() == []
    if result.returncode == 2:
        assert "media.directory" in result.stderr
    else:
        assert result.returncode in (3, 4), result.stderr[-2000:]
        assert row.claimed_by is None, "post left claimed"
        assert row.failure or row.last_error, "no reason recorded"
