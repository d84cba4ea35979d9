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

import sdnotify
import structlog

from publisher.observer import Observer

logger = structlog.get_logger(__name__)


class SystemdNotifier(Observer):
    def __init__(self) -> None:
        self._notifier = sdnotify.SystemdNotifier()
        self._ready = False

    @staticmethod
    def wanted() -> bool:
        return bool(os.environ.get("NOTIFY_SOCKET"))

    def poll_ended(self, *, ok: bool, in_flight: int) -> None:
        if ok and not self._ready:
            self._ready = True
            self._notifier.notify("READY=1")
            logger.info("systemd_ready")
        self._notifier.notify("WATCHDOG=1")
