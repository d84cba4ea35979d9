"""Pacing a page's publishes: its rolling publishing quota, its rate-limit usage,
and one publish at a time.

Instagram counts publishes per account over a rolling window (24 hours) and says
how many it allows in `content_publishing_limit`; the numbers are read before each
publish, never assumed. Facebook Pages have no such quota: their limits arrive as
throttle codes and usage headers, which defer the page like any rate limit.

Between the quota read and the publish-sent mark another daemon may publish for
the same page; the page lock then makes this one wait its turn, and in the rare
case that the turn comes after the quota filled up, Meta's 9/2207042 answer
defers the page as a rate limit (nothing is published by it).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from uuid import UUID

from publisher.platforms import Account, PublishingTarget, Usage
from publisher.queue import Queue

# How soon a post whose page has another publish in flight is looked at again.
PAGE_BUSY_SECONDS = (1.0, 3.0)
PAGE_BUSY_REASON = "another post of this page is being published; next in line"
# When the quota is used up by publishes this database does not know of (another
# tool), the slot's return cannot be computed: read the quota again after this
# share of the window.
_UNKNOWN_RESET_SHARE = 24
# Spread of the wake-up after a quota wait, so that many pages do not return at once.
_JITTER_SHARE = 0.05
_JITTER_MAX = timedelta(minutes=5)
# How long a page waits when its usage headers are near the limit but name no
# time to regain access: a sixth of the hour those percentages roll over.
USAGE_COOLDOWN = timedelta(minutes=10)


def page_busy_delay() -> timedelta:
    return timedelta(seconds=random.uniform(*PAGE_BUSY_SECONDS))


def usage_wait(
    usage: Usage | None, defer_percent: float
) -> tuple[timedelta, str] | None:
    """How long a page whose latest reply reported usage at `defer_percent` or
    more must pause, and why; None below that. Calls made during a block only
    extend it, so the page stops before Meta stops it."""
    if usage is None or usage.percent < defer_percent:
        return None
    wait = (
        timedelta(seconds=usage.retry_after_seconds)
        if usage.retry_after_seconds
        else USAGE_COOLDOWN
    )
    wait += _jitter(wait)
    reason = (
        f"Meta reports this account's API usage at {usage.percent:.0f}% of its "
        "limit; publishing pauses for a few minutes so that it is not blocked."
    )
    return wait, reason


def quota_wait(
    queue: Queue,
    target: PublishingTarget,
    account: Account,
    page: UUID,
    reserve: int,
) -> tuple[timedelta, str] | None:
    """How long the page must wait for room in its quota, and why; None when the
    next publish fits. `reserve` posts of the quota are left unused."""
    quota = target.publishing_quota(account)
    if quota is None or quota.remaining > reserve:
        return None
    now = queue.now()
    window = timedelta(seconds=quota.duration_seconds)
    oldest = queue.first_publish_since(page, now - window)
    # The window rolls: a slot frees when the oldest publish in it ages out.
    wait = (
        oldest + window - now if oldest is not None else window / _UNKNOWN_RESET_SHARE
    )
    wait = max(wait, timedelta(seconds=1))
    wait += _jitter(wait)
    hours = round(quota.duration_seconds / 3600)
    reason = (
        f"Instagram's publishing limit for this account ({quota.total} posts in "
        f"{hours} hours) is reached; publishing resumes around "
        f"{_clock(now + wait)} UTC."
    )
    return wait, reason


def _jitter(wait: timedelta) -> timedelta:
    return random.uniform(0, 1) * min(wait * _JITTER_SHARE, _JITTER_MAX)


def _clock(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")
