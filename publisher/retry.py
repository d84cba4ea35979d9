"""When to look at a post again: retry backoff and the container re-check delay."""

from __future__ import annotations

import random
from datetime import timedelta

from publisher.settings import WorkerSettings


def backoff_seconds(worker: WorkerSettings, attempts: int) -> float:
    """Exponential backoff with full jitter, which spreads a crowd of retries evenly
    over the window instead of waking them together."""
    ceiling = min(worker.retry_max_seconds, worker.retry_base_seconds * 2**attempts)
    return max(1.0, random.uniform(0, ceiling))


def recheck_delay(worker: WorkerSettings, container_age: timedelta) -> timedelta:
    """A quarter of the container's age, within the configured bounds: a fresh
    image is looked at again in seconds, a long video every minute or so."""
    seconds = container_age.total_seconds() / 4
    seconds = max(seconds, worker.container_recheck_seconds)
    return timedelta(seconds=min(seconds, worker.container_recheck_max_seconds))
