"""A WSGI app served on a loopback port from a daemon thread.

The sandbox's two local services (the Graph simulator and the media server) and the
tests' servers are all this: bound to loopback only, started and stopped by the
process that owns them, quiet unless asked.
"""

from __future__ import annotations

import ipaddress
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Self

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class LoopbackServer:
    """Serves `app` on `host:port` (port 0 picks a free one) until stopped."""

    def __init__(
        self,
        app: WSGIApplication,
        host: str,
        port: int,
        *,
        name: str,
        handler: type[WSGIRequestHandler] = WSGIRequestHandler,
        poll_seconds: float = 0.1,
    ) -> None:
        if not is_loopback(host):
            raise ValueError(f"the {name} host {host!r} is not a loopback address")
        self.app = app
        self.host = host
        self.port = port
        self.name = name
        self._handler = handler
        self._poll_seconds = poll_seconds
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL, known once the server has started."""
        if self._server is None:
            raise RuntimeError(f"the {self.name} has not been started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._server.server_port}"

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError(f"the {self.name} is already running")
        try:
            server = make_server(
                self.host,
                self.port,
                self.app,
                threaded=True,
                request_handler=self._handler,
            )
        except SystemExit:
            # Werkzeug exits the process when it cannot bind; a library must not.
            raise OSError(f"cannot listen on {self.host}:{self.port}") from None
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": self._poll_seconds},
            name=f"{self.name}-{server.server_port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving. Connections a client keeps alive run on daemon threads and
        are not waited for."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.shutdown()
        thread.join()
        server.server_close()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
