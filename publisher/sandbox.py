"""The sandbox's local services, started inside the daemon when the sandbox is on.

The Graph simulator listens on `sandbox.graph_port` and learns every connected page
of the database (as Meta knows its accounts); the media directory is served on
`sandbox.media_port`, where the simulator downloads creatives and prepared media
from, as Meta downloads a brand's public files.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Self

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


def _listen(start: Callable[[], None], key: str, port: int) -> None:
    try:
        start()
    except OSError as exc:
        raise SettingsError(
            f"config key sandbox.{key} is {port}, but nothing can listen there "
            f"({exc}); is another publisher running? Choose a free port with "
            f"PUBLISHER_SANDBOX_{key.upper()}"
        ) from None


class Sandbox:
    """Starts and stops the local simulator and media server the settings name."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.simulator: SimulatorServer | None = None
        self.media_server: MediaServer | None = None

    def __enter__(self) -> Self:
        if not self.settings.sandbox_on:
            return self
        sandbox = self.settings.sandbox
        try:
            directory = self.settings.media.directory
            directory.mkdir(parents=True, exist_ok=True)
            self.media_server = MediaServer(directory, sandbox.host, sandbox.media_port)
            _listen(self.media_server.start, "media_port", sandbox.media_port)
            self.simulator = SimulatorServer(sandbox.host, sandbox.graph_port)
            _listen(self.simulator.start, "graph_port", sandbox.graph_port)
            self.control(
                "config", {"video_processing_seconds": sandbox.video_processing_seconds}
            )
            self.register_pages()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        logger.info(
            "sandbox_started", simulator=self.simulator.url, media=self.media_server.url
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
