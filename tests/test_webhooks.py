"""Failure webhooks: signed, one per page for re-authorization, never in the way."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, update

from publisher.db import db_now
from publisher.outbox import undelivered
from publisher.runtime import build_worker
from publisher.settings import Settings
from publisher.tables import Stage, webhook_outbox
from publisher.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER
from tests.builders import free_port, make_brand, run_cli
from tests.conftest import GraphWorld

pytestmark = pytest.mark.postgres

SECRET = "whsec-test-0b7d2f"


class Receiver:
    """An HTTP endpoint that checks each delivery's signature on its own."""

    def __init__(self, port: int = 0) -> None:
        self.events: list[dict[str, Any]] = []
        self.bad_signatures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stamp = self.headers[TIMESTAMP_HEADER]
                expected = hmac.new(
                    SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256
                ).hexdigest()
                given = self.headers[SIGNATURE_HEADER].removeprefix("sha256=")
                fresh = abs(time.time() - int(stamp)) < 300
                if hmac.compare_digest(expected, given) and fresh:
                    receiver.events.append(json.loads(body))
                    self.send_response(204)
                else:
                    receiver.bad_signatures += 1
                    self.send_response(401)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, seconds: float = 30) -> list[dict[str, Any]]:
        end = time.monotonic() + seconds
        while len(self.events) < count and time.monotonic() < end:
            time.sleep(0.1)
        return self.events


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def test_every_failure_event_arrives_signed_and_reauth_once_per_page(
    pg_url: str,
    world_settings: Callable[..., Settings],
    graph_world: GraphWorld,
    receiver: Receiver,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = world_settings(pg_url, webhooks_url=receiver.url, webhooks_secret=SECRET)
    worker = build_worker(settings)
    try:
        worker.start_services(settings)
        brand = make_brand(worker.engine, graph_world)
        held = make_brand(worker.engine, graph_world)
        with worker.engine.connect() as conn:
            now = db_now(conn)
        tall = brand.image_post(caption="too tall", width=1080, height=2600)
        stale = brand.image_post(caption="stale", due_at=now - timedelta(days=2))
        brand.image_post(caption="fine")
        for number in range(3):
            held.image_post(caption=f"held {number}")
        graph_world.control("tokens/expire", {"access_token": held.token})

        worker.daemon.run_once(timeout=60)
        late = brand.image_post(caption="sent, never confirmed")
        [claimed] = worker.queue.claim(1)
        assert claimed.id == late
        worker.queue.finish(late, Stage.UNCONFIRMED, failure="not confirmed")

        events = receiver.wait_for(4)
    finally:
        worker.close()

    assert receiver.bad_signatures == 0
    by_kind = {(e["event"], e["post"]): e for e in events}
    assert set(by_kind) == {
        ("failed", str(tall)),
        ("missed", str(stale)),
        ("page_needs_reauth", None),
        ("unconfirmed", str(late)),
    }
    assert by_kind[("page_needs_reauth", None)]["page"] == str(held.page)
    assert by_kind[("missed", str(stale))]["detail"].startswith("Not published")
    assert len({e["id"] for e in events}) == len(events) == 4
    assert SECRET not in capsys.readouterr().out


def test_a_receiver_that_hangs_delays_no_publishing(
    pg_url: str, world_settings: Callable[..., Settings], graph_world: GraphWorld
) -> None:
    # Accepts connections (the kernel's backlog) and never answers.
    port = free_port()
    silent = socket.socket()
    silent.bind(("127.0.0.1", port))
    silent.listen(16)
    settings = world_settings(
        pg_url,
        webhooks_url=f"http://127.0.0.1:{port}/hooks",
        webhooks_secret=SECRET,
        webhooks_timeout_seconds=1,
    )
    worker = build_worker(settings)
    try:
        worker.start_services(settings)
        brand = make_brand(worker.engine, graph_world)
        brand.image_post(caption="too tall", width=1080, height=2600)
        for number in range(3):
            brand.image_post(caption=f"fine {number}")

        code, summary = worker.daemon.run_once(timeout=60)

        assert summary == {"published": 3, "failed": 1}
        assert code == 3
        assert undelivered(worker.engine) == 1

        # The receiver comes back on the same address: the event is delivered.
        silent.close()
        with Receiver(port) as receiver:
            with worker.engine.begin() as conn:
                conn.execute(
                    update(webhook_outbox).values(next_attempt_at=db_now(conn))
                )
            [event] = receiver.wait_for(1, seconds=60)
            assert event["event"] == "failed"
            assert receiver.bad_signatures == 0
        deadline = time.monotonic() + 10
        while undelivered(worker.engine) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert undelivered(worker.engine) == 0
    finally:
        silent.close()
        worker.close()


def test_run_once_sends_its_events_before_it_exits(
    pg_url: str,
    world_settings: Callable[..., Settings],
    graph_world: GraphWorld,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    # The sender's rounds are far apart: only the flush at exit can send.
    settings = world_settings(
        pg_url,
        webhooks_url=receiver.url,
        webhooks_secret=SECRET,
        worker_poll_interval_seconds=30,
    )
    engine = create_engine(settings.database.url)
    brand = make_brand(engine, graph_world)
    tall = brand.image_post(caption="too tall", width=1080, height=2600)
    engine.dispose()

    result = run_cli(tmp_path, "run", "--once", env=dict(os.environ))

    assert result.returncode == 3, result.stderr
    assert [(e["event"], e["post"]) for e in receiver.events] == [("failed", str(tall))]
    assert receiver.bad_signatures == 0
    engine = create_engine(settings.database.url)
    with engine.connect() as conn:
        [row] = conn.execute(select(webhook_outbox)).all()
    engine.dispose()
    # The one delivery counts as the event's first attempt.
    assert row.delivered_at is not None and row.attempts == 1
