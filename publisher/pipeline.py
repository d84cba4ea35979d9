"""One attempt over one claimed post: the state machine of the way a post travels.

queued ─prepare─▶ prepared ─container─▶ container ─FINISHED─▶ publish_sent ─▶ published

Each stage is committed as it is reached, so a later attempt (this worker's or a
rescuer's) resumes where the last one stopped. A post found in publish-sent is
reconciled through what the platform says before anything is sent again: the Graph
API has no idempotency key, so the container (or the page's feed) is the handle.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta

import requests
import structlog

from publisher.media import PreflightError, media_kind_for, prepare
from publisher.media_fetch import CreativeUnavailable, fetch_creative
from publisher.outcomes import AttemptEndings, Outcome
from publisher.pacing import (
    PAGE_BUSY_REASON,
    page_busy_delay,
    quota_wait,
    usage_wait,
)
from publisher.platforms import (
    Account,
    GraphError,
    MediaKind,
    PublishingTarget,
    Usage,
    container_failure_kind,
)
from publisher.platforms.errors import error_class
from publisher.queue import LostClaim, PageBusy, Queue
from publisher.queue_rows import ClaimedPost
from publisher.reconcile import PUBLISH_SETTLE, find_published
from publisher.settings import Settings
from publisher.storage import MediaStore
from publisher.tables import Stage

logger = structlog.get_logger(__name__)


@dataclass(frozen=True)
class _Release(Exception):
    """Raised inside an attempt to give the post back for a later look."""

    after: timedelta
    reason: str


class _StoreFailed(Exception):
    """The media store refused the prepared file."""


class Pipeline(AttemptEndings):
    """Runs attempts; shared by the daemon's threads, so it keeps no per-post state."""

    def __init__(
        self,
        settings: Settings,
        queue: Queue,
        targets: Mapping[str, PublishingTarget],
        store: MediaStore,
        session: requests.Session,
        usage: Callable[[str], Usage | None] = lambda _page: None,
    ) -> None:
        self.settings = settings
        self.queue = queue
        self.targets = targets
        self.store = store
        self.session = session
        # The usage headers of the latest Graph reply for a page id.
        self.usage = usage

    def attempt(self, post: ClaimedPost) -> Outcome:
        log = logger.bind(
            post=str(post.id), page=str(post.page), attempt=post.attempts + 1
        )
        started = time.monotonic()
        log.info("attempt_started", stage=post.stage.value, due_at=post.due_at)
        try:
            outcome = self._run(post, log)
        except LostClaim:
            log.warning("claim_lost")
            outcome = Outcome.LOST
        duration_ms = round((time.monotonic() - started) * 1000)
        log.info("attempt_ended", outcome=outcome.value, duration_ms=duration_ms)
        return outcome

    def _run(self, post: ClaimedPost, log: structlog.BoundLogger) -> Outcome:
        target = self.targets[post.target]
        # A token pasted with its line break is still the same token.
        token = post.access_token.strip()
        account = Account(post.facebook_page_id, post.ig_user_id, token)
        try:
            return self._advance(post, target, account, log)
        except _Release as release:
            self.queue.release(post.id, after=release.after, last_error=release.reason)
            log.info("post_released", reason=release.reason, after_s=_secs(release))
            return Outcome.RELEASED
        except PreflightError as exc:
            return self._fail(post, exc.message, log, rule=exc.rule, reason="preflight")
        except CreativeUnavailable as exc:
            if exc.transient:
                return self._retry(post, exc.message, log)
            return self._fail(post, exc.message, log, reason="creative")
        except _StoreFailed as exc:
            return self._retry(post, str(exc), log)
        except GraphError as exc:
            current = self.queue.reread(post.id)
            return self._on_graph_error(current, exc, target, account, log)

    def _advance(
        self,
        post: ClaimedPost,
        target: PublishingTarget,
        account: Account,
        log: structlog.BoundLogger,
    ) -> Outcome:
        if post.stage is Stage.PUBLISH_SENT:
            return self._reconcile(post, target, account, log)
        if post.stage is Stage.QUEUED:
            post = self._prepare(post, target, log)
        if target.uses_containers:
            if post.stage is Stage.PREPARED:
                post = self._create_container(post, target, account, log)
            self._await_container(post, target, account, log)
        return self._publish(post, target, account, log)

    def _prepare(
        self, post: ClaimedPost, target: PublishingTarget, log: structlog.BoundLogger
    ) -> ClaimedPost:
        if not post.creative_url:
            raise PreflightError(
                "creative",
                "exists",
                "The post's creative was deleted or has no file; choose another.",
            )
        kind = media_kind_for(
            medium=post.medium,
            template_video=post.template_video,
            mime=post.creative_mime,
        )
        if not target.uses_containers and kind is not MediaKind.FEED_IMAGE:
            raise PreflightError(
                "creative",
                "facebook_image",
                "Facebook Page posts are published as photos; this creative is a "
                f"{kind.value.lower().replace('_', ' ')}.",
            )
        media = self.settings.media
        fetched = fetch_creative(
            post.creative_url,
            session=self.session,
            timeout=(
                self.settings.graph.connect_timeout_seconds,
                media.fetch_timeout_seconds,
            ),
            max_bytes=media.max_download_bytes,
        )
        prepared = prepare(fetched.data, kind=kind, caption=post.caption)
        name = f"{post.id}-{prepared.digest[:16]}.{prepared.extension}"
        key = f"prepared/{post.brand}/{name}"
        try:
            url = self.store.put(key, prepared.data, prepared.content_type)
        except OSError as exc:
            # The operator's store, not the brand's post: loud, retried, bounded.
            log.error("media_store_failed", error=str(exc))
            raise _StoreFailed(
                f"The prepared media could not be stored ({exc.strerror or exc}); "
                "the operator must fix media.directory."
            ) from exc
        self.queue.record(
            post.id,
            stage=Stage.PREPARED.value,
            prepared_media_url=url,
            prepared_media_kind=kind.value,
            prepared_digest=prepared.digest,
        )
        log.info("media_prepared", kind=kind.value, url=url, bytes=len(prepared.data))
        return replace(
            post,
            stage=Stage.PREPARED,
            prepared_media_url=url,
            prepared_media_kind=kind.value,
        )

    def _create_container(
        self,
        post: ClaimedPost,
        target: PublishingTarget,
        account: Account,
        log: structlog.BoundLogger,
    ) -> ClaimedPost:
        assert post.prepared_media_url and post.prepared_media_kind
        container_id = target.create_container(
            account,
            post.prepared_media_url,
            MediaKind(post.prepared_media_kind),
            post.caption,
        )
        created_at = self.queue.now()
        self.queue.record(
            post.id,
            stage=Stage.CONTAINER.value,
            media_container_id=container_id,
            container_created_at=created_at,
        )
        log.info("container_created", container=container_id)
        return replace(
            post,
            stage=Stage.CONTAINER,
            media_container_id=container_id,
            container_created_at=created_at,
        )

    def _await_container(
        self,
        post: ClaimedPost,
        target: PublishingTarget,
        account: Account,
        log: structlog.BoundLogger,
    ) -> None:
        assert post.media_container_id
        status = target.container_status(account, post.media_container_id)
        log.debug("container_status", code=status.code, subcode=status.subcode)
        if status.code == "FINISHED":
            return
        if status.code in ("IN_PROGRESS", ""):
            raise _Release(self._recheck_delay(post), "container is still processing")
        if status.code == "EXPIRED":
            self._drop_container(post)
            raise _Release(timedelta(0), "container expired before it was published")
        if status.code == "PUBLISHED":
            # Only a publish this pipeline sent can have done it; find it.
            self.queue.record(
                post.id,
                stage=Stage.PUBLISH_SENT.value,
                publish_sent_at=post.container_created_at or self.queue.now(),
            )
            raise _Release(timedelta(0), "container already published")
        kind = container_failure_kind(status)
        assert kind is not None
        raise error_class(kind)(
            "container_status", subcode=status.subcode, message=status.status
        )

    def _publish(
        self,
        post: ClaimedPost,
        target: PublishingTarget,
        account: Account,
        log: structlog.BoundLogger,
    ) -> Outcome:
        assert post.prepared_media_url
        worker = self.settings.worker
        held = quota_wait(
            self.queue, target, account, post.page, worker.quota_reserve
        ) or usage_wait(self.usage(account.page_id), worker.usage_defer_percent)
        if held is not None:
            wait, reason = held
            until = self.queue.defer_page(post.page, wait, reason)
            log.info("page_paced", until=until, reason=reason)
            self.observer.page_deferred(post.page, until)
            raise _Release(wait, reason)
        try:
            sent_at = self.queue.mark_publish_sent(post)
        except PageBusy:
            raise _Release(page_busy_delay(), PAGE_BUSY_REASON) from None
        if sent_at is None:
            return self._changed_under_claim(post, log)
        log.info("publish_sent", container=post.media_container_id)
        media_id = target.publish(
            account,
            container_id=post.media_container_id,
            media_url=post.prepared_media_url,
            caption=post.caption,
        )
        self.queue.record(post.id, published_media_id=media_id)
        return self._complete(post, target, account, media_id, log)

    def _changed_under_claim(
        self, post: ClaimedPost, log: structlog.BoundLogger
    ) -> Outcome:
        """The brand changed the post while we prepared it: never publish the old."""
        now = self.queue.reread(post.id)
        if now.deleted_at is not None:
            self.queue.release(post.id, last_error=None)
            log.info("post_deleted_under_claim")
            return Outcome.RELEASED
        if now.due_at is None or now.due_at > self.queue.now():
            self.queue.release(post.id, last_error=None)
            log.info("post_rescheduled_under_claim", due_at=now.due_at)
            return Outcome.RELEASED
        # New caption or creative: prepare it again from the start.
        self.queue.release(
            post.id,
            stage=Stage.QUEUED.value,
            prepared_media_url=None,
            prepared_media_kind=None,
            prepared_digest=None,
            media_container_id=None,
            container_created_at=None,
            last_error=None,
        )
        log.info("post_changed_under_claim")
        return Outcome.RELEASED

    def _complete(
        self,
        post: ClaimedPost,
        target: PublishingTarget,
        account: Account,
        media_id: str,
        log: structlog.BoundLogger,
    ) -> Outcome:
        link: str | None = None
        try:
            link = target.permalink(account, media_id)
        except GraphError as exc:
            # The post is live; a missing link must not make it look failed.
            log.warning("permalink_unavailable", code=exc.code, subcode=exc.subcode)
        self.queue.finish(post.id, Stage.PUBLISHED, post_link=link, last_error=None)
        log.info("post_published", media=media_id, link=link)
        return Outcome.PUBLISHED

    def _reconcile(
        self,
        post: ClaimedPost,
        target: PublishingTarget,
        account: Account,
        log: structlog.BoundLogger,
    ) -> Outcome:
        if post.published_media_id:
            return self._complete(post, target, account, post.published_media_id, log)
        now = self.queue.now()
        sent_at = post.publish_sent_at or now
        log.info("reconcile_started", sent_at=sent_at)
        if target.uses_containers:
            assert post.media_container_id
            status = target.container_status(account, post.media_container_id)
            if status.code in ("FINISHED", "IN_PROGRESS") and (
                now - sent_at >= PUBLISH_SETTLE
            ):
                # Meta never applied the call: publishing it now is the first time.
                log.info("reconcile_not_published", code=status.code)
                self.queue.record(post.id, stage=Stage.CONTAINER.value)
                return self._publish(post, target, account, log)
            if status.code in ("EXPIRED", "ERROR"):
                log.info("reconcile_not_published", code=status.code)
                self._drop_container(post)
                raise _Release(timedelta(0), "container unusable; making a new one")
            if status.code != "PUBLISHED":
                raise _Release(PUBLISH_SETTLE, "waiting for the publish to settle")
        media_id = find_published(self.queue, target, account, post, sent_at)
        if media_id is not None:
            log.info("reconcile_found", media=media_id)
            self.queue.record(post.id, published_media_id=media_id)
            return self._complete(post, target, account, media_id, log)
        if now - sent_at < timedelta(
            seconds=self.settings.worker.reconcile_window_seconds
        ):
            raise _Release(PUBLISH_SETTLE, "publish sent; looking for the post")
        return self._unconfirmed(post, log)


def _secs(release: _Release) -> float:
    return round(release.after.total_seconds(), 1)
