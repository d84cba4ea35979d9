"""What the daemon and the pipeline tell the parts that watch them.

Metrics, the systemd notifier and the backfill's progress bar listen here, so the
publishing code calls one object and knows none of them. Every method is called
from the thread that did the work and must return at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID


@dataclass(frozen=True)
class MissedPost:
    """A post the daemon ended as missed instead of publishing it late."""

    id: UUID
    page: UUID
    brand: UUID
    due_at: datetime
    late_by: timedelta


class Observer:
    """Hears nothing; listeners override what they care about."""

    def poll_ended(self, *, ok: bool, in_flight: int) -> None:
        """A poll tick ran (`ok`: it claimed and wrote the heartbeat)."""

    def attempt_started(self, post: UUID, due_at: datetime | None) -> None:
        """An attempt over a claimed post begins."""

    def attempt_ended(self, post: UUID, outcome: str, seconds: float) -> None:
        """An attempt ended with this pipeline outcome."""

    def post_failed(self, reason: str) -> None:
        """A post ended failed; `reason` is its class (an ErrorKind value or the
        local check that refused it)."""

    def posts_missed(self, missed: Sequence[MissedPost]) -> None:
        """These posts ended missed."""

    def page_deferred(self, page: UUID, until: datetime) -> None:
        """Meta throttled the page; none of its posts is claimed before `until`."""


class Observers(Observer):
    """Several listeners heard as one, in order."""

    def __init__(self, *listeners: Observer) -> None:
        self.listeners = list(listeners)

    def poll_ended(self, *, ok: bool, in_flight: int) -> None:
        for listener in self.listeners:
            listener.poll_ended(ok=ok, in_flight=in_flight)

    def attempt_started(self, post: UUID, due_at: datetime | None) -> None:
        for listener in self.listeners:
            listener.attempt_started(post, due_at)

    def attempt_ended(self, post: UUID, outcome: str, seconds: float) -> None:
        for listener in self.listeners:
            listener.attempt_ended(post, outcome, seconds)

    def post_failed(self, reason: str) -> None:
        for listener in self.listeners:
            listener.post_failed(reason)

    def posts_missed(self, missed: Sequence[MissedPost]) -> None:
        for listener in self.listeners:
            listener.posts_missed(missed)

    def page_deferred(self, page: UUID, until: datetime) -> None:
        for listener in self.listeners:
            listener.page_deferred(page, until)


NO_OBSERVER = Observer()
