"""Everything the simulated Graph API remembers, behind one lock.

Public methods take the lock; nothing here does I/O, so the lock is never held while
media is fetched or a fault sleeps. The rules about containers, media and page posts
live in content.Content, which this class calls under the lock with the time. The
clock is the wall clock plus an offset that the control API can move forward, which
is how tests reach expiry and quota windows.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from dataclasses import replace
from typing import Any

from publisher.simulator import errors
from publisher.simulator.content import Content
from publisher.simulator.faults import Fault, parse_fault
from publisher.simulator.records import (
    QUOTA_WINDOW_SECONDS,
    Account,
    Call,
    Config,
    Container,
    Media,
    PagePost,
    meta_timestamp,
)

_CALL_WINDOW_SECONDS = 3600
_CALL_LOG_LIMIT = 10_000


class SimulatorState:
    """Accounts, containers, media, the publish log, faults, config and the clock."""

    def __init__(self, config: Config | None = None) -> None:
        self._lock = threading.Lock()
        # Ids keep counting across resets, so an id from before a reset stays unknown,
        # and start from the clock, so a restarted simulator never hands out an id
        # (or a permalink) that an earlier run gave to another post.
        self._sequence = itertools.count(int(time.time() * 1000) % 10**12)
        self._wake = threading.Event()
        self._initial_config = config or Config()
        self._generation = 0
        self._clear()

    def _clear(self) -> None:
        self._config = self._initial_config
        self._offset = 0.0
        self._accounts: dict[str, Account] = {}
        self._expired_tokens: dict[str, float] = {}
        self._content = Content(lambda: next(self._sequence))
        self._faults: list[Fault] = []
        self._calls: deque[Call] = deque(maxlen=_CALL_LOG_LIMIT)

    # Clock, config, reset.

    def now(self) -> float:
        return time.time() + self._offset

    @property
    def config(self) -> Config:
        return self._config

    def configure(self, **changes: Any) -> Config:
        with self._lock:
            self._config = self._config.updated(changes)
            return self._config

    def advance_clock(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
            return self.now()

    @property
    def generation(self) -> int:
        """How many resets have happened; a call that spans one belongs to no world."""
        return self._generation

    def reset(self) -> None:
        """Forget everything and return to the initial config and the wall clock."""
        with self._lock:
            self._clear()
            self._generation += 1
        self.interrupt_sleepers()

    def sleep(self, seconds: float) -> None:
        """Sleep for a fault, waking early when the server stops or the state resets."""
        self._wake.wait(seconds)

    def interrupt_sleepers(self) -> None:
        with self._lock:
            woken, self._wake = self._wake, threading.Event()
        woken.set()

    # Accounts and tokens.

    def register_account(
        self,
        *,
        page_id: str,
        access_token: str,
        ig_user_id: str | None = None,
        username: str | None = None,
        quota_total: int | None = None,
    ) -> Account:
        """Add a page, or replace its token and details when it is already known."""
        if not page_id or not access_token:
            raise ValueError("page_id and access_token are required")
        if quota_total is not None and quota_total < 0:
            raise ValueError("quota_total must be zero or more")
        account = Account(
            page_id=page_id,
            ig_user_id=ig_user_id or None,
            access_token=access_token,
            username=username or f"user{ig_user_id or page_id}",
            quota_total=quota_total,
        )
        with self._lock:
            for other in self._accounts.values():
                if other.page_id == page_id:
                    continue
                if other.access_token == access_token:
                    raise ValueError("that access_token belongs to another page")
                if ig_user_id and other.owns(ig_user_id):
                    raise ValueError("that ig_user_id belongs to another page")
            self._accounts[page_id] = account
            # Registering a token again is how a test models re-authorization.
            self._expired_tokens.pop(access_token, None)
        return account

    def expire_token(self, access_token: str) -> bool:
        """Make a registered token answer 190/463 from now on; False if unknown."""
        with self._lock:
            if not any(a.access_token == access_token for a in self._accounts.values()):
                return False
            self._expired_tokens[access_token] = self.now()
            return True

    def authenticate(self, access_token: str | None) -> Account:
        if not access_token:
            raise errors.token_missing()
        with self._lock:
            for account in self._accounts.values():
                if account.access_token == access_token:
                    break
            else:
                raise errors.token_invalid()
            expired_at = self._expired_tokens.get(access_token)
        if expired_at is not None:
            raise errors.token_expired(meta_timestamp(expired_at))
        return account

    def account_owning(self, node_id: str) -> Account | None:
        with self._lock:
            return next((a for a in self._accounts.values() if a.owns(node_id)), None)

    # Instagram containers and media, and Facebook Page photos.

    def create_container(
        self,
        account: Account,
        *,
        media_type: str,
        product_type: str,
        caption: str,
        source_url: str,
        standalone_video: bool = False,
        error_subcode: int | None = None,
    ) -> Container:
        with self._lock:
            if media_type == "VIDEO":
                processing = self._config.video_processing_seconds
            else:
                processing = self._config.image_processing_seconds
            return self._content.create_container(
                account,
                now=self.now(),
                processing_seconds=processing,
                media_type=media_type,
                product_type=product_type,
                caption=caption,
                source_url=source_url,
                standalone_video=standalone_video,
                error_subcode=error_subcode,
            )

    def container(self, container_id: str) -> Container | None:
        with self._lock:
            return self._content.container(container_id)

    def publish_container(self, account: Account, creation_id: str) -> Media:
        with self._lock:
            return self._content.publish_container(
                account,
                creation_id,
                now=self.now(),
                quota_total=self._quota_total(account),
            )

    def media(self, media_id: str) -> Media | None:
        with self._lock:
            return self._content.media(media_id)

    def recent_media(
        self, account: Account, limit: int, *, stories: bool = False
    ) -> list[Media]:
        with self._lock:
            return self._content.recent_media(account.ig_user_id, limit, stories)

    def publishing_limit(
        self, account: Account, since: float | None
    ) -> tuple[int, int]:
        """The account's (quota_usage, quota_total); `since` narrows the window."""
        with self._lock:
            start = self.now() - QUOTA_WINDOW_SECONDS
            if since is not None:
                start = max(start, since)
            usage = self._content.quota_usage(account.ig_user_id, since=start)
            return usage, self._quota_total(account)

    def _quota_total(self, account: Account) -> int:
        current = self._accounts.get(account.page_id, account)
        if current.quota_total is not None:
            return current.quota_total
        return self._config.quota_total

    def publish_photo(self, account: Account, *, url: str, caption: str) -> PagePost:
        with self._lock:
            return self._content.publish_photo(
                account, url=url, caption=caption, now=self.now()
            )

    def unpublished_photo_id(self) -> str:
        """An id for a photo uploaded with published=false, which makes no post."""
        with self._lock:
            return self._content.new_photo_id()

    def page_post(self, post_id: str) -> PagePost | None:
        with self._lock:
            return self._content.page_post(post_id)

    def page_posts(self, account: Account, limit: int) -> list[PagePost]:
        with self._lock:
            return self._content.page_posts(account.page_id, limit)

    # Faults.

    def add_fault(self, **spec: Any) -> Fault:
        """Queue a fault described as in faults.parse_fault; FaultSpecError if bad."""
        with self._lock:
            fault = parse_fault(str(next(self._sequence)), spec)
            self._faults.append(fault)
            return fault

    def take_fault(self, operation: str, account: Account | None) -> Fault | None:
        """Consume one use of the oldest fault that matches this call."""
        ids = (account.page_id, account.ig_user_id) if account else ()
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.matches(operation, ids):
                    if fault.times > 1:
                        self._faults[index] = replace(fault, times=fault.times - 1)
                    else:
                        del self._faults[index]
                    return fault
        return None

    def faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # Logs.

    def record_call(
        self,
        *,
        method: str,
        path: str,
        operation: str | None,
        account: str | None,
        status: int | None,
        generation: int,
    ) -> None:
        with self._lock:
            # A call that a reset overtook (say, asleep in a fault) is not logged.
            if generation != self._generation:
                return
            self._calls.append(
                Call(method, path, operation, account, status, at=self.now())
            )

    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def calls_last_hour(self, account_id: str) -> tuple[int, int]:
        """Calls in the past hour by the whole app, and by one account."""
        with self._lock:
            start = self.now() - _CALL_WINDOW_SECONDS
            recent = [c for c in self._calls if c.at > start]
        return len(recent), sum(1 for c in recent if c.account == account_id)

    def containers(self) -> list[Container]:
        with self._lock:
            return self._content.containers()

    def publishes(self) -> list[Media | PagePost]:
        with self._lock:
            return list(self._content.published)
