"""Helpers shared by the simulator tests: media files, a loopback file server, a client.

Holds no tests. The simulator fetches media over HTTP as Meta does, so the tests serve
real files from a temporary directory on loopback.
"""

from __future__ import annotations

import functools
import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import requests
from PIL import Image

IG_USER = "17841400000000001"
PAGE = "102000000000001"
TOKEN = "token-alpha"
OTHER_IG_USER = "17841400000000002"
OTHER_PAGE = "102000000000002"
OTHER_TOKEN = "token-beta"
# A page with no Instagram account behind it.
FB_ONLY_PAGE = "102000000000003"
FB_ONLY_TOKEN = "token-gamma"

# Seconds the file server waits before answering any path under /slow/.
SLOW_SECONDS = 1.0
MP4_HEADER = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


def _jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


def make_media_files(directory: Path) -> None:
    """Small files, each made to pass or break exactly one of Meta's rules."""
    for name, (width, height) in {
        "square.jpg": (100, 100),
        "portrait.jpg": (80, 100),  # exactly 4:5
        "wide.jpg": (191, 100),  # exactly 1.91:1
        "tall.jpg": (90, 160),  # 9:16, a story shape
        "too-wide.jpg": (200, 100),
    }.items():
        (directory / name).write_bytes(_jpeg(width, height))

    image = Image.new("RGB", (100, 100), (0, 90, 200))
    image.save(directory / "image.png", "PNG")
    image.save(directory / "image.webp", "WEBP")
    # PNG bytes behind a JPEG name: the simulator must judge the bytes.
    image.save(directory / "disguised.jpg", "PNG")
    (directory / "not-an-image.jpg").write_text("<html>nothing here</html>")
    (directory / "huge.jpg").write_bytes(_jpeg(100, 100) + bytes(9 * 1024 * 1024))
    (directory / "slow").mkdir()
    (directory / "slow" / "square.jpg").write_bytes(_jpeg(100, 100))

    (directory / "clip.mp4").write_bytes(MP4_HEADER + bytes(4096))
    (directory / "clip.avi").write_bytes(b"RIFF\x00\x10\x00\x00AVI LIST" + bytes(4096))
    # Sparse: 101 MB on paper, nothing on disk; the server still sends a Content-Length.
    with (directory / "long-story.mp4").open("wb") as big:
        big.write(MP4_HEADER)
        big.truncate(101 * 1000 * 1000)


class _MediaHandler(SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/slow/"):
            time.sleep(SLOW_SECONDS)
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The simulator hangs up on oversized files on purpose; that is no error here.
        pass


@contextmanager
def serve_media(directory: Path) -> Iterator[str]:
    """Serve `directory` on a loopback port; yields the base URL."""
    handler = functools.partial(_MediaHandler, directory=str(directory))
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


Via = Literal["json", "form", "query"]


class Graph:
    """A small Graph client over one session, plus the simulator's control API."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.trust_env = False

    def close(self) -> None:
        self.session.close()

    def post(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        token: str | None = TOKEN,
        via: Via = "json",
        timeout: float = 5.0,
    ) -> requests.Response:
        url = f"{self.base_url}/v25.0{path}"
        params = dict(params or {})
        if via == "json":
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return self.session.post(url, json=params, headers=headers, timeout=timeout)
        if token:
            params["access_token"] = token
        if via == "form":
            return self.session.post(url, data=params, timeout=timeout)
        return self.session.post(url, params=params, timeout=timeout)

    def get(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        token: str | None = TOKEN,
        timeout: float = 5.0,
    ) -> requests.Response:
        query = dict(params or {})
        if token:
            query["access_token"] = token
        return self.session.get(
            f"{self.base_url}/v25.0{path}", params=query, timeout=timeout
        )

    def control(self, method: str, path: str, body: Any = None) -> Any:
        response = self.session.request(
            method, f"{self.base_url}/_sim{path}", json=body, timeout=5.0
        )
        assert response.ok, response.text
        return response.json()

    def create(self, params: dict[str, Any], *, token: str = TOKEN) -> str:
        response = self.post(f"/{IG_USER}/media", params, token=token)
        assert response.status_code == 200, response.text
        container_id: str = response.json()["id"]
        return container_id

    def publish(self, container_id: str, **kwargs: Any) -> requests.Response:
        return self.post(
            f"/{IG_USER}/media_publish", {"creation_id": container_id}, **kwargs
        )

    def status(self, container_id: str) -> dict[str, Any]:
        response = self.get(f"/{container_id}", {"fields": "status_code,status"})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def wait_for(self, container_id: str, code: str, within: float = 3.0) -> None:
        deadline = time.monotonic() + within
        while self.status(container_id)["status_code"] != code:
            assert time.monotonic() < deadline, f"{container_id} never reached {code}"
            time.sleep(0.05)

    def publishes(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self.control("GET", "/publishes")["data"]
        return data


def fresh_graph(base_url: str) -> Graph:
    """A client on a reset simulator with three registered accounts."""
    graph = Graph(base_url)
    graph.control("POST", "/reset")
    for ig_user, page, token, username in (
        (IG_USER, PAGE, TOKEN, "acme_homes"),
        (OTHER_IG_USER, OTHER_PAGE, OTHER_TOKEN, "other_brand"),
        (None, FB_ONLY_PAGE, FB_ONLY_TOKEN, "page_only"),
    ):
        graph.control(
            "POST",
            "/accounts",
            {
                "ig_user_id": ig_user,
                "page_id": page,
                "access_token": token,
                "username": username,
            },
        )
    return graph


def error_of(response: requests.Response) -> tuple[int, int, int | None]:
    """(HTTP status, code, subcode) of a Graph error response."""
    error = response.json()["error"]
    return response.status_code, error["code"], error.get("error_subcode")
