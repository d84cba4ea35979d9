"""How an attempt ends: retry, failure, unconfirmed, and each Graph error kind.

The pipeline's stages decide what to send; this decides what the queue is told when
a step did not go through, so every error path writes the post back the same way.
`Pipeline` extends `AttemptEndings`, which provides these writes.
"""

from __future__ import annotations

import enum
from dataclasses import replace
from datetime import timedelta
from typing import Any

import structlog

from publisher.observer import NO_OBSERVER, Observer
from publisher.platforms import Account, ErrorKind, GraphError, PublishingTarget
from publisher.platforms.errors import PUBLISH_OPERATIONS
from publisher.queue import Queue
from publisher.queue_rows import ClaimedPost
from publisher.reconcile import PUBLISH_SETTLE, live_after_all, unconfirmed_message
from publisher.retry import backoff_seconds, recheck_delay
from publisher.settings import Settings
from publisher.tables import Stage


class Outcome(enum.StrEnum):
    """How one attempt ended, as the daemon and the metrics count it."""

    PUBLISHED = "published"
    FAILED = "failed"
    UNCONFIRMED = "unconfirmed"
    RELEASED = "released"
    HELD = "held"
    LOST = "lost"


class AttemptEndings:
    """The queue writes that end or put off an attempt; shared by the threads."""

    settings: Settings
    queue: Queue
    # Hears failures by reason class and page deferrals (set by the runtime).
    observer: Observer = NO_OBSERVER

    def _drop_container(self, post: ClaimedPost) -> None:
        self.queue.record(
            post.id,
            stage=Stage.PREPARED.value,
            media_container_id=None,
            container_created_at=None,
            publish_sent_at=None,
        )

    def _on_graph_error(
        self,
        post: ClaimedPost,
        exc: GraphError,
        target: PublishingTarget,
        account: Account,
        log: structlog.BoundLogger,
    ) -> Outcome:
        log.info(
            "graph_error",
            operation=exc.operation,
            kind=exc.kind.value,
            code=exc.code,
            subcode=exc.subcode,
            http_status=exc.http_status,
        )
        if exc.kind is ErrorKind.AMBIGUOUS:
            self.queue.release(
                post.id, after=PUBLISH_SETTLE, last_error=exc.brand_message
            )
            return Outcome.RELEASED
        not_sent: dict[str, Any] = {}
        if post.stage is Stage.PUBLISH_SENT and exc.operation in PUBLISH_OPERATIONS:
            if live_after_all(target, account, post, exc):
                # An earlier call of ours did publish it; reconciliation finds it.
                self.queue.release(post.id, last_error=exc.brand_message)
                return Outcome.RELEASED
            # A definite refusal of the publish call: nothing went live.
            back = Stage.CONTAINER if post.media_container_id else Stage.PREPARED
            not_sent = {"stage": back.value, "publish_sent_at": None}
            post = replace(post, stage=back)
        if exc.kind is ErrorKind.AUTH:
            # Hold the page before letting the post go, or another poll could
            # claim it in between and hit the same refusal.
            if self.queue.hold_page(post.page, exc.brand_message):
                log.warning("page_needs_reauth", reason=exc.brand_message)
            self.queue.release(post.id, last_error=exc.brand_message, **not_sent)
            return Outcome.HELD
        if exc.kind is ErrorKind.RATE_LIMITED:
            # The page is throttled, not the post: its other posts wait too, and
            # other pages go on. Jitter keeps a crowd of pages from waking at once.
            wait = (exc.retry_after_seconds or 0) + self._backoff(post.attempts)
            after = timedelta(seconds=wait)
            until = self.queue.defer_page(post.page, after, exc.brand_message)
            self.queue.release(
                post.id, after=after, last_error=exc.brand_message, **not_sent
            )
            log.info("page_deferred", until=until, code=exc.code, subcode=exc.subcode)
            self.observer.page_deferred(post.page, until)
            return Outcome.RELEASED
        if exc.kind is ErrorKind.NOT_READY:
            self.queue.release(post.id, after=self._recheck_delay(post), **not_sent)
            return Outcome.RELEASED
        if exc.kind is ErrorKind.CONTAINER:
            self._drop_container(post)
            return self._retry(
                replace(post, stage=Stage.PREPARED), exc.brand_message, log
            )
        if exc.kind is ErrorKind.TRANSIENT:
            if not_sent:
                self.queue.record(post.id, **not_sent)
            return self._retry(post, exc.brand_message, log)
        return self._fail(post, exc.brand_message, log, reason=exc.kind.value)

    def _retry(
        self, post: ClaimedPost, message: str, log: structlog.BoundLogger
    ) -> Outcome:
        attempts = post.attempts + 1
        if attempts >= self.settings.worker.max_attempts:
            return self._fail(
                post, message, log, attempts=attempts, reason="retries_exhausted"
            )
        wait = self._backoff(attempts)
        self.queue.release(
            post.id,
            after=timedelta(seconds=wait),
            attempts=attempts,
            last_error=message,
        )
        log.warning(
            "attempt_failed_transient", error=message, retry_in_s=round(wait, 1)
        )
        return Outcome.RELEASED

    def _fail(
        self,
        post: ClaimedPost,
        message: str,
        log: structlog.BoundLogger,
        *,
        attempts: int | None = None,
        rule: str | None = None,
        reason: str = ErrorKind.PERMANENT.value,
    ) -> Outcome:
        if post.stage is Stage.PUBLISH_SENT:
            return self._unconfirmed(post, log)
        extra = {} if attempts is None else {"attempts": attempts}
        self.queue.finish(
            post.id, Stage.FAILED, failure=message, last_error=message, **extra
        )
        log.error("post_failed", failure=message, rule=rule, reason=reason)
        self.observer.post_failed(reason)
        return Outcome.FAILED

    def _unconfirmed(self, post: ClaimedPost, log: structlog.BoundLogger) -> Outcome:
        message = unconfirmed_message(post.target)
        self.queue.finish(post.id, Stage.UNCONFIRMED, failure=message)
        log.error("post_unconfirmed")
        return Outcome.UNCONFIRMED

    def _backoff(self, attempts: int) -> float:
        return backoff_seconds(self.settings.worker, attempts)

    def _recheck_delay(self, post: ClaimedPost) -> timedelta:
        age = timedelta(0)
        if post.container_created_at is not None:
            age = self.queue.now() - post.container_created_at
        return recheck_delay(self.settings.worker, age)
