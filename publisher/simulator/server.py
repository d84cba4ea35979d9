"""Serving the simulator on loopback: a background server for tests and the sandbox,
and a blocking entry point for `publisher simulate`.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import threading
from collections.abc import Callable
from contextlib import suppress
from types import FrameType, TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

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


class SimulatorServer:
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
        if not _is_loopback(host):
            raise ValueError(f"the simulator only listens on loopback, not {host!r}")
        self.host = host
        self.port = port
        self.state = state if state is not None else SimulatorState()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._server.port}"

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        try:
            server = make_server(
                self.host,
                self.port,
                make_app(self.state),
                threaded=True,
                request_handler=_QuietHandler,
            )
        except SystemExit:
            # Werkzeug exits the process when it cannot bind; a library must not.
            raise OSError(f"cannot listen on {self.host}:{self.port}") from None
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": _POLL_SECONDS},
            name=f"graph-simulator-{server.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and wake calls that a slow or hang fault keeps asleep."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self.state.interrupt_sleepers()
        server.shutdown()
        thread.join()
        server.server_close()
        self._server = self._thread = None

    def __enter__(self) -> SimulatorServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


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


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
