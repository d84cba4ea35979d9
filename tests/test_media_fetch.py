"""fetch_creative against a real web server on loopback whose answers each test sets."""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

import pytest
import requests
from structlog.testing import capture_logs
from werkzeug.serving import ThreadedWSGIServer
from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

from publisher.media_fetch import (
    CreativeUnavailable,
    Fetched,
    FetchRetry,
    fetch_creative,
)

QUICK = FetchRetry(attempts=3, first_wait=0.01, max_wait=0.02, jitter=0.01)
TIMEOUT = (1.0, 2.0)

# Answers a request, given how many times its path has been asked for (1 = first).
Route = Callable[[int], Response]


class Origin:
    """A threaded loopback server that counts the requests each path receives."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.released = threading.Event()
        self._server = ThreadedWSGIServer("127.0.0.1", 0, self._app)
        # Joined on close, so no handler thread outlives its test.
        self._server.daemon_threads = False
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_port}{path}"

    def __enter__(self) -> Origin:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _app(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        path = Request(environ).path
        self.hits[path] += 1
        route = self.routes.get(path)
        response = route(self.hits[path]) if route else Response("none", status=404)
        return response(environ, start_response)


@pytest.fixture
def origin() -> Iterator[Origin]:
    with Origin() as server:
        yield server


@pytest.fixture
def session(origin: Origin) -> Iterator[requests.Session]:
    # Depends on origin so the pooled connections close before the server joins them.
    with requests.Session() as http:
        yield http


def _fetch(
    url: str, session: requests.Session, *, max_bytes: int = 1_000_000
) -> Fetched:
    return fetch_creative(
        url, session=session, timeout=TIMEOUT, max_bytes=max_bytes, retry=QUICK
    )


def _failure(url: str, session: requests.Session, **kwargs: int) -> CreativeUnavailable:
    with pytest.raises(CreativeUnavailable) as caught:
        _fetch(url, session, **kwargs)
    return caught.value


def test_a_creative_is_downloaded_with_its_media_type(
    origin: Origin, session: requests.Session
) -> None:
    origin.routes["/a.png"] = lambda _: Response(
        b"\x89PNG-bytes", content_type="image/PNG; charset=binary"
    )

    with capture_logs() as logs:
        fetched = _fetch(origin.url("/a.png"), session)

    assert fetched == Fetched(data=b"\x89PNG-bytes", content_type="image/png")
    assert origin.hits["/a.png"] == 1
    assert [log["event"] for log in logs] == ["creative_fetched"]
    assert logs[0]["attempts"] == 1


def test_a_404_is_not_retried(origin: Origin, session: requests.Session) -> None:
    error = _failure(origin.url("/missing.png"), session)

    assert origin.hits["/missing.png"] == 1
    assert (error.transient, error.status) == (False, 404)
    assert error.message == (
        f"The creative could not be downloaded from {origin.url('/missing.png')}: "
        "HTTP 404"
    )


@pytest.mark.parametrize("status", [400, 401, 403, 410])
def test_other_client_errors_are_not_retried_either(
    origin: Origin, session: requests.Session, status: int
) -> None:
    origin.routes["/gone.png"] = lambda _: Response("no", status=status)

    error = _failure(origin.url("/gone.png"), session)

    assert origin.hits["/gone.png"] == 1
    assert (error.transient, error.status) == (False, status)


def test_a_503_is_retried_until_the_creative_comes(
    origin: Origin, session: requests.Session
) -> None:
    origin.routes["/flaky.jpg"] = lambda hit: (
        Response("busy", status=503) if hit == 1 else Response(b"jpeg")
    )

    with capture_logs() as logs:
        fetched = _fetch(origin.url("/flaky.jpg"), session)

    assert fetched.data == b"jpeg"
    assert origin.hits["/flaky.jpg"] == 2
    retries = [log for log in logs if log["event"] == "creative_fetch_retrying"]
    assert [(log["attempt"], log["status"]) for log in retries] == [(1, 503)]
    assert logs[-1]["attempts"] == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429])
def test_exhausted_retries_leave_a_transient_failure(
    origin: Origin, session: requests.Session, status: int
) -> None:
    origin.routes["/down.jpg"] = lambda _: Response("down", status=status)

    error = _failure(origin.url("/down.jpg"), session)

    assert origin.hits["/down.jpg"] == QUICK.attempts
    assert (error.transient, error.status) == (True, status)
    assert error.message.endswith(f": HTTP {status}")


def test_a_declared_oversized_body_is_refused_without_retry(
    origin: Origin, session: requests.Session
) -> None:
    origin.routes["/big.jpg"] = lambda _: Response(bytes(1001))

    error = _failure(origin.url("/big.jpg"), session, max_bytes=1000)

    assert origin.hits["/big.jpg"] == 1
    assert error.transient is False
    assert error.message == (
        f"The creative at {origin.url('/big.jpg')} is larger than 1,000 bytes, the "
        "most the publisher downloads."
    )


def test_an_undeclared_oversized_body_is_cut_off_early(
    origin: Origin, session: requests.Session
) -> None:
    chunk, chunks = bytes(64 * 1024), 800
    sent = Counter[str]()

    def endless(_: int) -> Response:
        def body() -> Iterable[bytes]:
            for _ in range(chunks):
                sent["chunks"] += 1
                yield chunk

        return Response(body(), content_type="video/mp4")

    origin.routes["/huge.mp4"] = endless

    error = _failure(origin.url("/huge.mp4"), session, max_bytes=1024 * 1024)

    assert error.transient is False
    assert "larger than 1.0 MiB" in error.message
    assert sent["chunks"] < chunks


def test_a_server_that_does_not_answer_in_time_is_a_transient_failure(
    origin: Origin, session: requests.Session
) -> None:
    def stalled(_: int) -> Response:
        origin.released.wait(timeout=5)
        return Response(b"too late")

    origin.routes["/slow.jpg"] = stalled

    with pytest.raises(CreativeUnavailable) as caught:
        fetch_creative(
            origin.url("/slow.jpg"),
            session=session,
            timeout=(1.0, 0.1),
            max_bytes=1000,
            retry=FetchRetry(attempts=2, first_wait=0.01, max_wait=0.01, jitter=0),
        )

    assert caught.value.transient is True
    assert caught.value.message.endswith("the server did not answer in time")
    assert origin.hits["/slow.jpg"] == 2


def test_a_refused_connection_is_a_transient_failure(
    session: requests.Session,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]

    error = _failure(f"http://127.0.0.1:{closed_port}/a.jpg", session)

    assert error.transient is True
    assert error.message.endswith("the connection failed")


def test_signed_query_strings_stay_out_of_messages_and_logs(
    origin: Origin, session: requests.Session
) -> None:
    signed = origin.url("/private.jpg") + "?Signature=s3cr3t&Expires=1"

    with capture_logs() as logs:
        error = _failure(signed, session)

    assert "s3cr3t" not in error.message
    assert error.url == origin.url("/private.jpg")
    assert not [log for log in logs if "s3cr3t" in repr(log)]


def test_an_unusable_address_is_a_permanent_failure(
    session: requests.Session,
) -> None:
    error = _failure("ftp://example.invalid/a.jpg", session)

    assert error.transient is False
    assert error.message.endswith("the address cannot be fetched")
