"""systemd's notify protocol: READY once the daemon works, WATCHDOG while it polls.

Only active when systemd set `NOTIFY_SOCKET` (a unit with `Type=notify`). READY=1
goes after the first successful poll, so `systemctl start` returns once the daemon
reached the database, not merely once the process exists. WATCHDOG=1 goes after
every poll tick that ended, failed or not: a database outage is the health
check's business (the daemon rides it out), while a tick that never ends (a
poll blocked on a lock) stops the pings, and systemd restarts the daemon after
`WatchdogSec`.
"""

from __future__ import annotations

import os
import time

import sdnotify
import structlog

from publisher.observer import Observer

logger = structlog.get_logger(__name__)


# Pings at most this often: systemd needs one per half WatchdogSec, not per tick.
PING_EVERY_SECONDS = 1.0


class SystemdNotifier(Observer):
    def __init__(self) -> None:
        self._notifier = sdnotify.SystemdNotifier()
        if self._notifier.socket is not None:
            # A reader that lags must never stall the poll loop: a full socket
            # drops the message (the library swallows the error) instead.
            self._notifier.socket.setblocking(False)
        self._ready = False
        self._last_ping = -PING_EVERY_SECONDS

    @staticmethod
    def wanted() -> bool:
        return bool(os.environ.get("NOTIFY_SOCKET"))

    def poll_ended(self, *, ok: bool, in_flight: int) -> None:
        if ok and not self._ready:
            self._ready = True
            self._notifier.notify("READY=1")
            logger.info("systemd_ready")
        now = time.monotonic()
        if now - self._last_ping >= PING_EVERY_SECONDS:
            self._last_ping = now
            self._notifier.notify("WATCHDOG=1")
