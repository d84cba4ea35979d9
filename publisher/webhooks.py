"""Failure webhooks: signed JSON POSTs of the outbox's events, off the hot path.

A sender thread reads the outbox (`outbox.py`) and POSTs each event to
`webhooks.url`; publishing never waits for it, and a receiver that is down only
delays its own events. Each delivery is signed: the `X-Publisher-Signature` header
is `sha256=` and the hex HMAC-SHA256, keyed with `PUBLISHER_WEBHOOKS_SECRET`, of
the `X-Publisher-Timestamp` header's value, a dot, and the raw body. Receivers
recompute it, refuse old timestamps (replays), and deduplicate on the event id,
since a delivery whose answer was lost is sent again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta

import requests
import structlog
from sqlalchemy import Engine
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from publisher.outbox import Event, lease_due, mark_delivered, mark_undelivered
from publisher.settings import WebhookSettings

logger = structlog.get_logger(__name__)

SIGNATURE_HEADER = "X-Publisher-Signature"
TIMESTAMP_HEADER = "X-Publisher-Timestamp"
# Tries within one delivery, for a blip; longer outages wait in the outbox.
QUICK_TRIES = 3
BATCH = 50


class DeliveryRefused(Exception):
    """The receiver answered, but not with a 2xx."""


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def payload(event: Event) -> bytes:
    return json.dumps(
        {
            "id": str(event.id),
            "event": event.event,
            "occurred_at": event.occurred_at.isoformat(),
            "post": None if event.post is None else str(event.post),
            "page": str(event.page),
            "brand": str(event.brand),
            "detail": event.detail,
        },
        separators=(",", ":"),
    ).encode()


class WebhookSender:
    """Delivers due outbox events every `interval` seconds on its own thread."""

    def __init__(
        self, engine: Engine, settings: WebhookSettings, interval: float
    ) -> None:
        assert settings.url is not None and settings.secret is not None
        self.engine = engine
        self.settings = settings
        self.url = str(settings.url)
        self._secret = settings.secret.get_secret_value().encode()
        self.interval = interval
        self.session = requests.Session()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Longer than one delivery's quick tries, so two senders never overlap.
        self._lease = timedelta(seconds=QUICK_TRIES * (settings.timeout_seconds + 4))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="webhooks", daemon=True)
        self._thread.start()

    def close(self, *, flush: bool = False) -> None:
        """Stop the thread; with `flush`, first send one last round of what is due.

        `run --once` and backfill exit right after their posts end, often before
        the next round: flushing sends what they wrote, instead of a cron
        interval later. A receiver that is down leaves the events for next time.
        """
        self._stop.set()
        if self._thread is not None:
            # A delivery in flight may finish or not: its lease makes the next
            # run send it again, so shutdown waits one reply timeout at most.
            self._thread.join(timeout=self.settings.timeout_seconds + 1)
        if flush:
            self._stop.clear()
            try:
                self.deliver_due()
            except Exception as exc:
                logger.warning("webhook_sender_failed", error=f"{type(exc).__name__}")
            finally:
                self._stop.set()
        self.session.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_due()
            except Exception as exc:
                # The database may be restarting; the events wait in the outbox.
                logger.warning("webhook_sender_failed", error=f"{type(exc).__name__}")
            self._stop.wait(self.interval)

    def deliver_due(self) -> int:
        """Send what is due now; returns how many were delivered."""
        delivered = 0
        for event in lease_due(self.engine, BATCH, self._lease):
            if self._stop.is_set() or not self._deliver(event):
                # A receiver that refused one is not asked for the rest now:
                # their leases run out and the next round tries again.
                break
            delivered += 1
        return delivered

    def _deliver(self, event: Event) -> bool:
        body = payload(event)
        log = logger.bind(webhook_event=str(event.id), event_kind=event.event)
        try:
            for attempt in Retrying(
                stop=stop_after_attempt(QUICK_TRIES),
                wait=wait_exponential(multiplier=0.5, max=4),
                retry=retry_if_exception_type(
                    (requests.RequestException, DeliveryRefused)
                ),
                reraise=False,
            ):
                with attempt:
                    self._post(body)
        except RetryError as exc:
            cause = exc.last_attempt.exception()
            # The status, or the error's type: never the URL, which may hold a key.
            error = (
                str(cause)
                if isinstance(cause, DeliveryRefused)
                else (type(cause).__name__)
            )
            tries = event.attempts + 1
            if tries >= self.settings.max_attempts:
                mark_undelivered(self.engine, event.id, error=error, after=None)
                log.error("webhook_given_up", attempts=tries, error=error)
            else:
                wait = min(self.settings.retry_max_seconds, 5.0 * 2**tries)
                after = timedelta(seconds=wait)
                mark_undelivered(self.engine, event.id, error=error, after=after)
                log.warning("webhook_delivery_failed", attempts=tries, error=error)
            return False
        mark_delivered(self.engine, event.id)
        log.info("webhook_delivered", attempts=event.attempts + 1)
        return True

    def _post(self, body: bytes) -> None:
        stamp = str(int(time.time()))
        response = self.session.post(
            self.url,
            data=body,
            headers={
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: stamp,
                SIGNATURE_HEADER: sign(self._secret, stamp, body),
            },
            timeout=self.settings.timeout_seconds,
        )
        if not 200 <= response.status_code < 300:
            raise DeliveryRefused(f"HTTP {response.status_code}")
