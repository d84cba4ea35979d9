"""The daemon: APScheduler polls and renews leases, a thread pool runs attempts.

`serve()` is the long-running service; `run_once()` is the cron-like form that
processes what is due at its start, waits for it to end, and says how it ended.
Shutdown has two stages: the first SIGTERM or SIGINT stops claiming, gives back
the claims not started and lets the attempts in flight finish within
`worker.shutdown_grace_seconds`; a second one exits at once and leaves rescue to
the leases.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType
from typing import NoReturn
from uuid import UUID

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.exc import DBAPIError

from publisher.observer import NO_OBSERVER, Observer
from publisher.outcomes import Outcome
from publisher.pipeline import Pipeline
from publisher.queue import Queue
from publisher.queue_rows import ClaimedPost
from publisher.settings import WorkerSettings

logger = structlog.get_logger(__name__)

EXIT_OK = 0
EXIT_FAILED = 3
EXIT_PENDING = 4
EXIT_INTERRUPTED = 130

SUMMARY_TRIES = 20


class Daemon:
    """Claims due posts and runs their attempts, `concurrency` at a time."""

    # Metrics, systemd and progress bars listen here (set by the runtime).
    observer: Observer = NO_OBSERVER

    def __init__(self, settings: WorkerSettings, queue: Queue, pipeline: Pipeline):
        self.settings = settings
        self.queue = queue
        self.pipeline = pipeline
        self.outcomes: Counter[Outcome] = Counter()
        self._executor = ThreadPoolExecutor(
            max_workers=settings.concurrency, thread_name_prefix="attempt"
        )
        self._inflight: dict[UUID, Future[None]] = {}
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self._stopping = threading.Event()
        self._attempt_ended = threading.Event()
        self._started_at = datetime.now(UTC)
        self._signals = 0

    def poll(self) -> int:
        """Claim what fits in the pool and start it; returns how many were claimed."""
        # Held across the claim, so that shutdown can wait for a poll under way.
        with self._poll_lock:
            if self._stopping.is_set():
                return 0
            with self._lock:
                room = self.settings.concurrency - len(self._inflight)
            claimed = []
            self.observer.posts_missed(self.queue.mark_missed())
            if room > 0:
                claimed = self.queue.claim(min(room, self.settings.claim_batch))
            for post in claimed:
                with self._lock:
                    self._inflight[post.id] = self._executor.submit(self._attempt, post)
        self.queue.heartbeat(socket.gethostname(), os.getpid(), self._started_at)
        self.observer.poll_ended(ok=True, in_flight=self.in_flight())
        logger.debug("poll_done", claimed=len(claimed), in_flight=len(self._inflight))
        return len(claimed)

    def renew_leases(self) -> None:
        with self._lock:
            held = list(self._inflight)
        if held:
            renewed = self.queue.renew(held)
            logger.debug("leases_renewed", held=len(held), renewed=renewed)

    def in_flight(self) -> int:
        with self._lock:
            return len(self._inflight)

    def _attempt(self, post: ClaimedPost) -> None:
        outcome = Outcome.LOST
        started = time.monotonic()
        self.observer.attempt_started(post.id, post.due_at)
        try:
            outcome = self.pipeline.attempt(post)
        except DBAPIError as exc:
            # Every step up to here is committed; when the lease runs out, any
            # daemon resumes the post from its last stage.
            logger.warning("attempt_interrupted", post=str(post.id), error=_short(exc))
        except Exception:
            # The lease will expire and any daemon will take the post over.
            logger.exception("attempt_crashed", post=str(post.id))
        finally:
            with self._lock:
                self._inflight.pop(post.id, None)
                self.outcomes[outcome] += 1
            self.observer.attempt_ended(post.id, outcome, time.monotonic() - started)
            self._attempt_ended.set()

    def _poll_job(self) -> None:
        try:
            self.poll()
        except Exception as exc:
            # The next tick tries again; a database restart must not end the daemon.
            logger.warning("poll_failed", error=_short(exc))
            self.observer.poll_ended(ok=False, in_flight=self.in_flight())

    def _renew_job(self) -> None:
        try:
            self.renew_leases()
        except Exception as exc:
            logger.warning("lease_renewal_failed", error=_short(exc))

    def serve(self, side_jobs: Sequence[SideJob] = ()) -> int:
        """Run until a signal; returns the exit code.

        `side_jobs` run beside the poll on their own intervals; a failing one is
        logged and tried again at its next tick.
        """
        self._install_signal_handlers()
        scheduler = BackgroundScheduler(timezone=UTC)
        for job in side_jobs:
            scheduler.add_job(
                _logged(job),
                "interval",
                seconds=job.interval_seconds,
                id=job.name,
                max_instances=1,
                coalesce=True,
            )
        scheduler.add_job(
            self._poll_job,
            "interval",
            seconds=self.settings.poll_interval_seconds,
            id="poll",
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),
        )
        scheduler.add_job(
            self._renew_job,
            "interval",
            seconds=max(1.0, self.settings.lease_seconds / 3),
            id="renew",
            max_instances=1,
            coalesce=True,
        )
        scheduler.start()
        logger.info("daemon_started", concurrency=self.settings.concurrency)
        self._stopping.wait()
        scheduler.remove_job("poll")
        with self._poll_lock:
            pass  # a poll that was claiming has handed its posts to the pool
        # The renewal job keeps running through the grace period, so the posts
        # still being worked on keep their leases until they are let go.
        stuck = self._drain_within_grace()
        scheduler.shutdown(wait=True)
        if stuck:
            # Attempt threads cannot be stopped, and the interpreter would wait
            # for them at exit: leave without them. Their posts are released or,
            # in publish-sent, left to rescue; no write of theirs can land.
            logger.warning("daemon_stopped", outcomes=_counts(self.outcomes))
            _exit_now(EXIT_OK)
        self._executor.shutdown(wait=True)
        logger.info("daemon_stopped", outcomes=_counts(self.outcomes))
        return EXIT_OK

    def _drain_within_grace(self) -> int:
        """Give back the claims not started, let the attempts in flight run for
        the grace period, then give back what is still held (except posts in
        publish-sent). Returns how many attempts were still running."""
        with self._lock:
            futures = dict(self._inflight)
        unstarted = [post for post, future in futures.items() if future.cancel()]
        running = {post: f for post, f in futures.items() if post not in unstarted}
        grace = self.settings.shutdown_grace_seconds
        self._release(unstarted)
        logger.info(
            "daemon_draining",
            in_flight=len(running),
            released=len(unstarted),
            grace_s=grace,
        )
        _done, late = wait(running.values(), timeout=grace)
        stuck = [post for post, future in running.items() if future in late]
        with self._lock:
            for post in [*unstarted, *stuck]:
                self._inflight.pop(post, None)
        if stuck:
            released = self._release(stuck)
            logger.warning(
                "shutdown_grace_expired", still_running=len(stuck), released=released
            )
        return len(stuck)

    def _release(self, post_ids: list[UUID]) -> int:
        try:
            return self.queue.release_all(post_ids)
        except DBAPIError as exc:
            # Unreleased claims are not lost: their leases run out.
            logger.warning("release_failed", posts=len(post_ids), error=_short(exc))
            return 0

    def run_once(self, timeout: float) -> tuple[int, dict[str, int]]:
        """Process the posts due now and wait for them to end.

        Returns the exit code and how the posts due at the start stand.
        """
        return self.run_until(self.queue.due_now(), timeout)

    def run_until(self, due: list[UUID], timeout: float) -> tuple[int, dict[str, int]]:
        """Poll until these posts have ended, cannot be attempted in time, or time
        runs out; returns the exit code and how they stand."""
        self._install_signal_handlers()
        logger.info("once_started", due=len(due))
        deadline = time.monotonic() + timeout
        last_renewal = time.monotonic()
        while not self._stopping.is_set():
            try:
                self.poll()
                pending = self.queue.pending(due)
            except DBAPIError as exc:
                # The database is restarting or unreachable: wait, then look again.
                logger.warning("poll_failed", error=_short(exc))
            else:
                if not pending and not self.in_flight():
                    break
                if not self.in_flight() and not _reachable(pending, deadline):
                    break
            if time.monotonic() >= deadline:
                logger.warning("once_timed_out", in_flight=self.in_flight())
                break
            left = max(0.0, deadline - time.monotonic())
            self._attempt_ended.wait(
                timeout=min(self.settings.poll_interval_seconds, left)
            )
            self._attempt_ended.clear()
            if time.monotonic() - last_renewal >= self.settings.lease_seconds / 3:
                self._renew_job()
                last_renewal = time.monotonic()
        self.drain()
        summary = self._summary(due)
        logger.info("once_ended", **summary)
        return _once_exit_code(summary, self._stopping.is_set()), summary

    def _summary(self, due: list[UUID]) -> dict[str, int]:
        """How the posts stand, asked until the database answers (a minute at most)."""
        for _ in range(SUMMARY_TRIES - 1):
            try:
                return self.queue.summarize(due)
            except DBAPIError as exc:
                logger.warning("summary_failed", error=_short(exc))
                time.sleep(self.settings.poll_interval_seconds + 1)
        return self.queue.summarize(due)

    def stop(self) -> None:
        self._stopping.set()

    def drain(self) -> None:
        """Wait for the attempts in flight to end, keeping their leases alive."""
        with self._lock:
            running = list(self._inflight.values())
        while wait(running, timeout=self.settings.lease_seconds / 3).not_done:
            self._renew_job()

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals += 1
        if self._signals > 1:
            logger.warning("daemon_killed", signal=signal.Signals(signum).name)
            os._exit(EXIT_INTERRUPTED)
        logger.info("shutdown_requested", signal=signal.Signals(signum).name)
        self.stop()


@dataclass(frozen=True)
class SideJob:
    name: str
    run: Callable[[], object]
    interval_seconds: float


def _logged(job: SideJob) -> Callable[[], None]:
    def tick() -> None:
        try:
            job.run()
        except Exception as exc:
            logger.warning("side_job_failed", job=job.name, error=f"{exc!r}")

    return tick


def _once_exit_code(summary: dict[str, int], interrupted: bool) -> int:
    if interrupted:
        return EXIT_INTERRUPTED
    if any(summary.get(stage, 0) for stage in ("failed", "unconfirmed", "missed")):
        return EXIT_FAILED
    if summary.get("pending", 0):
        return EXIT_PENDING
    return EXIT_OK


def _reachable(pending: list[tuple[UUID, datetime, bool]], deadline: float) -> bool:
    """Whether any pending post can still be attempted before the deadline."""
    horizon = datetime.now(UTC).timestamp() + (deadline - time.monotonic())
    return any(
        not held and ready_at.timestamp() <= horizon
        for _post, ready_at, held in pending
    )


def _exit_now(code: int) -> NoReturn:
    """End the process at once, after writing out what the logs hold."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _short(exc: BaseException) -> str:
    """The error's type and first line: enough to read, no SQL or traceback."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _counts(outcomes: Counter[Outcome]) -> dict[str, int]:
    return {outcome.value: count for outcome, count in outcomes.items()}
