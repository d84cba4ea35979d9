"""Serving the simulator on loopback: a background server for tests and the sandbox,
and a blocking entry point for `publisher simulate`.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from contextlib import suppress
from types import FrameType
from typing import Any

from werkzeug.serving import WSGIRequestHandler

from publisher.serving import LoopbackServer
from publisher.simulator.app import make_app
from publisher.simulator.state import SimulatorState

logger = logging.getLogger(__name__)

# How often the serving loop looks for a stop request; it bounds stop()'s latency.
_POLL_SECONDS = 0.05


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without its own log lines.

    Its access log and its bad-request messages quote the request line, and Graph
    query strings carry access tokens. The app logs its own failures.
    """

    protocol_version = "HTTP/1.1"

    def log(self, type: str, message: str, *args: Any) -> None:
        pass


class SimulatorServer(LoopbackServer):
    """The simulator on a loopback port, served from a daemon thread.

    Use as a context manager, or call start() and stop(). Port 0 picks a free port;
    `url` tells which one.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        state: SimulatorState | None = None,
    ) -> None:
        self.state = state if state is not None else SimulatorState()
        super().__init__(
            make_app(self.state),
            host,
            port,
            name="simulator",
            handler=_QuietHandler,
            poll_seconds=_POLL_SECONDS,
        )

    def stop(self) -> None:
        """Stop serving and wake calls that a slow or hang fault keeps asleep."""
        self.state.interrupt_sleepers()
        super().stop()


def serve_forever(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    on_ready: Callable[[str], Any] | None = None,
) -> None:
    """Serve until KeyboardInterrupt or SIGTERM; `on_ready` receives the URL."""
    stopping = threading.Event()
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous: Any = None
    if in_main_thread:

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            stopping.set()

        previous = signal.signal(signal.SIGTERM, on_sigterm)

    try:
        with SimulatorServer(host, port) as server:
            logger.info("simulator_listening url=%s", server.url)
            if on_ready is not None:
                on_ready(server.url)
            with suppress(KeyboardInterrupt):
                stopping.wait()
            logger.info("simulator_stopping url=%s", server.url)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous or signal.SIG_DFL)
