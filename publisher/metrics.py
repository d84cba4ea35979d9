"""The Prometheus endpoint: what the daemon has done, for a scraper to read.

Each worker has its own registry (several workers can live in one test process).
Counters count since the process started; Prometheus's `rate()` and `increase()`
read them across restarts. The page label is the page's id in `facebook_pages`,
never its token or name.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)

from publisher.observer import MissedPost, Observer
from publisher.outcomes import Outcome
from publisher.settings import SettingsError

# Lateness spans seconds (a normal poll) to days (a backfill after an outage).
LATENESS_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 86400, 3 * 86400)
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics(Observer):
    """Listens to the daemon and keeps the figures the endpoint serves."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.published = Counter(
            "publisher_posts_published", "Posts published.", registry=registry
        )
        self.failed = Counter(
            "publisher_posts_failed",
            "Posts that ended failed, by reason class.",
            ["reason"],
            registry=registry,
        )
        self.unconfirmed = Counter(
            "publisher_posts_unconfirmed",
            "Posts whose publish call could not be confirmed.",
            registry=registry,
        )
        self.missed = Counter(
            "publisher_posts_missed",
            "Posts ended missed: later than worker.max_lateness_seconds.",
            registry=registry,
        )
        self.held = Counter(
            "publisher_posts_held",
            "Attempts that ended held: the page needs re-authorization.",
            registry=registry,
        )
        self.deferred = Counter(
            "publisher_posts_deferred",
            "Attempts that found their page throttled by Meta.",
            registry=registry,
        )
        self.duration = Histogram(
            "publisher_attempt_duration_seconds",
            "How long one attempt took, by outcome.",
            ["outcome"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.lateness = Histogram(
            "publisher_post_lateness_seconds",
            "How long after its due time a post was published.",
            buckets=LATENESS_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "publisher_attempts_in_flight",
            "Attempts running now.",
            registry=registry,
        )
        self.last_poll = Gauge(
            "publisher_last_successful_poll_timestamp_seconds",
            "When the daemon last claimed and wrote its heartbeat (Unix time).",
            registry=registry,
        )
        self.throttled_until = Gauge(
            "publisher_page_throttled_until_timestamp_seconds",
            "Until when Meta throttles the page (Unix time; past means free).",
            ["page"],
            registry=registry,
        )
        self._due: dict[UUID, datetime | None] = {}
        self._lock = threading.Lock()
        self._server: WSGIServer | None = None

    def serve(self, host: str, port: int) -> int:
        """Serve /metrics on a thread; returns the port it listens on."""
        try:
            server, _thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise SettingsError(
                f"config key metrics.port (or PUBLISHER_METRICS_PORT): cannot listen "
                f"on {host}:{port} ({exc.strerror or exc})"
            ) from exc
        self._server = server
        return int(server.server_port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def poll_ended(self, *, ok: bool, in_flight: int) -> None:
        if ok:
            self.last_poll.set(time.time())

    def attempt_started(self, post: UUID, due_at: datetime | None) -> None:
        with self._lock:
            self._due[post] = due_at
        self.in_flight.inc()

    def attempt_ended(self, post: UUID, outcome: str, seconds: float) -> None:
        with self._lock:
            due_at = self._due.pop(post, None)
        self.in_flight.dec()
        self.duration.labels(outcome=outcome).observe(seconds)
        if outcome == Outcome.PUBLISHED:
            self.published.inc()
            if due_at is not None:
                late = (datetime.now(UTC) - due_at).total_seconds()
                self.lateness.observe(max(0.0, late))
        elif outcome == Outcome.UNCONFIRMED:
            self.unconfirmed.inc()
        elif outcome == Outcome.HELD:
            self.held.inc()

    def post_failed(self, reason: str) -> None:
        self.failed.labels(reason=reason).inc()

    def posts_missed(self, missed: Sequence[MissedPost]) -> None:
        if missed:
            self.missed.inc(len(missed))

    def page_deferred(self, page: UUID, until: datetime) -> None:
        self.deferred.inc()
        self.throttled_until.labels(page=str(page)).set(until.timestamp())
