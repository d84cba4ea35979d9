"""Where prepared media lives until Instagram downloads it: a store and its server.

Meta fetches `image_url` / `video_url` itself, so a store's job ends with a public URL.
`LocalMediaStore` writes into a directory published under a base URL; `MediaServer`
publishes such a directory on loopback for the sandbox, where the Graph simulator is the
only client.
"""

from __future__ import annotations

import mimetypes
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Protocol
from urllib.parse import quote

import structlog
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.serving import WSGIRequestHandler
from werkzeug.utils import send_from_directory
from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

from publisher.serving import LoopbackServer

log = structlog.get_logger(__name__)


class MediaStore(Protocol):
    """Keeps media files and says under which public URL each can be downloaded."""

    def put(self, key: str, data: bytes, content_type: str) -> str:
        """Store `data` under `key` (a relative path) and return its public URL."""
        ...


def _checked_key(key: str) -> PurePosixPath:
    """The key as a relative path that cannot leave the store's directory.

    Segments may not be empty or start with a dot: that refuses `..` and `.` and keeps
    keys apart from the hidden temporary files that atomic writes use.
    """
    path = PurePosixPath(key)
    if (
        not key
        or "\\" in key
        or "\0" in key
        or path.is_absolute()
        or any(not part or part.startswith(".") for part in key.split("/"))
    ):
        raise ValueError(f"media key {key!r} is not a plain relative path")
    return path


class LocalMediaStore:
    """A directory whose files are served under `base_url` by some web server."""

    def __init__(self, directory: Path, base_url: str) -> None:
        if not base_url.isascii() or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base URL {base_url!r} must be an ASCII http(s) URL")
        self.directory = directory
        self.base_url = base_url.rstrip("/")

    def url_for(self, key: str) -> str:
        """The public URL of `key`, percent-encoded to US-ASCII as Meta requires."""
        return f"{self.base_url}/{quote(str(_checked_key(key)), safe='/')}"

    def put(self, key: str, data: bytes, content_type: str) -> str:
        """Write the file atomically: a reader sees the old file or the new, whole."""
        relative = _checked_key(key)
        # The server derives Content-Type from the name; a mismatch would mislabel it.
        guessed, _ = mimetypes.guess_type(relative.name)
        if guessed != content_type:
            raise ValueError(
                f"media key {key!r} would be served as {guessed}, not {content_type}"
            )

        root = self.directory.resolve()
        target = root.joinpath(relative)
        # A symlinked folder inside the store must not lead the write, or the folders
        # made for it, elsewhere; resolving follows the links that already exist.
        if not target.parent.resolve().is_relative_to(root):
            raise ValueError(f"media key {key!r} leads outside {root}")
        target.parent.mkdir(parents=True, exist_ok=True)

        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as tmp:
                tmp.write(data)
                tmp.flush()
                os.fsync(tmp.fileno())
                # mkstemp creates owner-only files; the store's files are public.
                os.fchmod(tmp.fileno(), 0o644)
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

        url = self.url_for(key)
        log.info("media_stored", key=key, bytes=len(data), content_type=content_type)
        return url


class _RequestHandler(WSGIRequestHandler):
    """Logs each request through structlog at debug instead of werkzeug's stderr."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("media_served", path=self.path, status=str(code), bytes=str(size))


class MediaServer(LoopbackServer):
    """A threaded static file server for one directory, on a loopback address only.

    Serves GET and HEAD of regular files with their Content-Type and Content-Length;
    anything else (missing files, directories, hidden files) is a 404.
    """

    def __init__(self, directory: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.directory = directory
        super().__init__(
            self._app, host, port, name="media server", handler=_RequestHandler
        )

    def start(self) -> None:
        super().start()
        log.info("media_server_started", url=self.url, directory=str(self.directory))

    def stop(self) -> None:
        if self._server is not None:
            log.info("media_server_stopped", url=self.url)
        super().stop()

    def _app(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        try:
            response = self._respond(Request(environ))
        except HTTPException as exc:
            return exc(environ, start_response)
        return response(environ, start_response)

    def _respond(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            raise MethodNotAllowed(valid_methods=["GET", "HEAD"])
        parts = [part for part in request.path.split("/") if part]
        if not parts or any(part.startswith(".") for part in parts):
            raise NotFound()
        # send_from_directory refuses paths that escape the directory and non-files.
        return send_from_directory(self.directory, "/".join(parts), request.environ)
