"""The sandbox's local services, started inside the daemon when the settings ask.

With `sandbox.simulator` the Graph simulator listens at `graph.base_url` and learns
every connected page of the database (as Meta knows its accounts); with
`sandbox.serve_media` the media directory is served at `media.base_url`, where the
simulator downloads creatives from, as Meta downloads a brand's public files.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

import requests
import structlog
from sqlalchemy import Engine, select

from publisher.daemon import SideJob
from publisher.settings import Settings, SettingsError
from publisher.simulator.server import SimulatorServer
from publisher.storage import MediaServer
from publisher.tables import facebook_pages

logger = structlog.get_logger(__name__)

PAGE_SYNC_SECONDS = 10.0


def _loopback(url: str, key: str, switch: str) -> tuple[str, int]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise SettingsError(
            f"config key {key} is {url}, not a loopback address, while {switch} is "
            f"on: set PUBLISHER_{switch.replace('.', '_').upper()}=false to use a "
            "real service"
        )
    return host, parts.port or 80


def _listen(start: Callable[[], None], url: str, section: str) -> None:
    try:
        start()
    except OSError as exc:
        raise SettingsError(
            f"config key {section}.base_url is {url}, but nothing can listen there "
            f"({exc}); is another publisher running? Choose a free port with "
            f"PUBLISHER_{section.upper()}_BASE_URL"
        ) from None


class Sandbox:
    """Starts and stops the local simulator and media server the settings name."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.simulator: SimulatorServer | None = None
        self.media_server: MediaServer | None = None

    def __enter__(self) -> Self:
        sandbox = self.settings.sandbox
        try:
            if sandbox.serve_media:
                host, port = _loopback(
                    self.settings.media.url, "media.base_url", "sandbox.serve_media"
                )
                self.settings.media.directory.mkdir(parents=True, exist_ok=True)
                self.media_server = MediaServer(
                    self.settings.media.directory, host, port
                )
                _listen(self.media_server.start, self.settings.media.url, "media")
            if sandbox.simulator:
                host, port = _loopback(
                    self.settings.graph.url, "graph.base_url", "sandbox.simulator"
                )
                self.simulator = SimulatorServer(host, port)
                _listen(self.simulator.start, self.settings.graph.url, "graph")
                self.control(
                    "config",
                    {"video_processing_seconds": sandbox.video_processing_seconds},
                )
                self.register_pages()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        logger.info(
            "sandbox_started",
            simulator=self.simulator.url if self.simulator else None,
            media=self.media_server.url if self.media_server else None,
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.simulator is not None:
            self.simulator.stop()
            self.simulator = None
        if self.media_server is not None:
            self.media_server.stop()
            self.media_server = None

    def side_jobs(self) -> list[SideJob]:
        """Pages connected while the daemon runs reach the simulator within seconds."""
        if self.simulator is None:
            return []
        return [SideJob("sandbox_pages", self.register_pages, PAGE_SYNC_SECONDS)]

    def control(self, path: str, body: object) -> object:
        """Call the simulator's control API (see docs/simulator.md)."""
        assert self.simulator is not None, "the sandbox simulator is not running"
        method = "GET" if body is None else "POST"
        response = requests.request(
            method, f"{self.simulator.url}/_sim/{path}", json=body, timeout=10
        )
        response.raise_for_status()
        return response.json()

    def register_pages(self) -> int:
        """Tell the simulator about every connected page, with its token."""
        query = select(
            facebook_pages.c.facebook_page_id,
            facebook_pages.c.instagram_business_account_id,
            facebook_pages.c.instagram_username,
            facebook_pages.c.access_token,
        ).where(facebook_pages.c.deleted_at.is_(None))
        with self.engine.connect() as conn:
            rows = list(conn.execute(query))
        for row in rows:
            self.control(
                "accounts",
                {
                    "page_id": row.facebook_page_id,
                    "ig_user_id": row.instagram_business_account_id,
                    "username": row.instagram_username or "sandbox",
                    "access_token": row.access_token,
                },
            )
        logger.debug("sandbox_pages_registered", pages=len(rows))
        return len(rows)
