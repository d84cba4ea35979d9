"""InstagramTarget and FacebookPageTarget end to end against the Graph simulator.

The simulator downloads media URLs the way Meta does, so the creatives are served
from a loopback http.server.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from PIL import Image

from publisher.platforms import (
    Account,
    AmbiguousError,
    AuthError,
    ErrorKind,
    FacebookPageTarget,
    GraphTransport,
    InstagramTarget,
    MediaKind,
    NotReadyError,
    PermanentError,
    RateLimitedError,
    RetrySettings,
    container_failure_kind,
)
from publisher.simulator.server import SimulatorServer

ACCOUNT = Account(page_id="1001", ig_user_id="17841001", access_token="sim-token")
FAST_RETRY = RetrySettings(3, 0.01, 0.02, 0.0)


def _image(size: tuple[int, int], image_format: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(buffer, image_format)
    return buffer.getvalue()


MEDIA = {
    "/square.jpg": ("image/jpeg", _image((1080, 1080), "JPEG")),
    "/tall.jpg": ("image/jpeg", _image((300, 1000), "JPEG")),
    "/logo.png": ("image/png", _image((1080, 1080), "PNG")),
}


class _MediaHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        found = MEDIA.get(self.path)
        if found is None:
            self.send_error(404)
            return
        content_type, data = found
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the test output to the tests' own


@pytest.fixture(scope="module")
def media_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _MediaHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class Sim:
    url: str
    control: requests.Session
    transport: GraphTransport

    def send(self, path: str, body: dict[str, Any]) -> Any:
        with self.control.post(f"{self.url}/_sim/{path}", json=body) as response:
            assert response.status_code in (200, 201), response.text
            return response.json()

    def read(self, path: str) -> Any:
        with self.control.get(f"{self.url}/_sim/{path}") as response:
            assert response.status_code == 200, response.text
            return response.json()


@pytest.fixture
def sim() -> Iterator[Sim]:
    with (
        SimulatorServer() as server,
        requests.Session() as control,
        GraphTransport(server.url, "v25.0", 2.0, 5.0, retry=FAST_RETRY) as transport,
    ):
        harness = Sim(server.url, control, transport)
        harness.send(
            "accounts",
            {
                "ig_user_id": ACCOUNT.ig_user_id,
                "page_id": ACCOUNT.page_id,
                "access_token": ACCOUNT.access_token,
                "username": "harbour_homes",
            },
        )
        yield harness


def _finished_container(
    target: InstagramTarget, media_url: str, caption: str = "Open house"
) -> str:
    container = target.create_container(
        ACCOUNT, f"{media_url}/square.jpg", MediaKind.FEED_IMAGE, caption
    )
    assert target.container_status(ACCOUNT, container).code == "FINISHED"
    return container


def test_instagram_feed_image_end_to_end(sim: Sim, media_url: str) -> None:
    target = InstagramTarget(sim.transport)

    container = _finished_container(target, media_url, caption="Open house #sunday")
    media_id = target.publish(
        ACCOUNT, container_id=container, media_url="", caption="Open house #sunday"
    )

    assert target.container_status(ACCOUNT, container).code == "PUBLISHED"
    link = target.permalink(ACCOUNT, media_id)
    assert link is not None
    assert link.startswith("https://")
    [recent] = target.recent_media(ACCOUNT, limit=5)
    assert (recent.media_id, recent.caption) == (media_id, "Open house #sunday")
    assert recent.timestamp is not None
    assert recent.timestamp.utcoffset() is not None
    quota = target.publishing_quota(ACCOUNT)
    assert quota is not None
    assert quota.usage == 1
    assert quota.remaining == quota.total - 1
    assert len(sim.read("publishes")["data"]) == 1


def test_a_story_is_published_without_a_caption(sim: Sim, media_url: str) -> None:
    target = InstagramTarget(sim.transport)

    container = target.create_container(
        ACCOUNT, f"{media_url}/square.jpg", MediaKind.STORY_IMAGE, "ignored"
    )
    media_id = target.publish(ACCOUNT, container_id=container, media_url="", caption="")

    assert target.recent_media(ACCOUNT) == []  # Meta lists stories apart
    [recent] = target.recent_media(ACCOUNT, stories=True)
    assert recent.media_id == media_id
    assert not recent.caption


def test_publishing_before_processing_ends_is_not_ready(
    sim: Sim, media_url: str
) -> None:
    target = InstagramTarget(sim.transport)
    sim.send("config", {"image_processing_seconds": 30})

    container = target.create_container(
        ACCOUNT, f"{media_url}/square.jpg", MediaKind.FEED_IMAGE, "Soon"
    )
    assert target.container_status(ACCOUNT, container).code == "IN_PROGRESS"
    with pytest.raises(NotReadyError):
        target.publish(ACCOUNT, container_id=container, media_url="", caption="Soon")

    sim.send("clock", {"advance": 31})
    assert target.publish(ACCOUNT, container_id=container, media_url="", caption="")


@pytest.mark.parametrize(
    ("path", "subcode", "brand_message"),
    [
        ("/logo.png", 2207005, "Instagram only accepts JPEG images"),
        (
            "/tall.jpg",
            2207009,
            "The image's aspect ratio is outside Instagram's 4:5 to 1.91:1 range",
        ),
    ],
)
def test_spec_violations_fail_permanently(
    sim: Sim, media_url: str, path: str, subcode: int, brand_message: str
) -> None:
    target = InstagramTarget(sim.transport)

    with pytest.raises(PermanentError) as caught:
        target.create_container(
            ACCOUNT, f"{media_url}{path}", MediaKind.FEED_IMAGE, "Hi"
        )

    assert caught.value.subcode == subcode
    assert caught.value.brand_message == brand_message


def test_a_failed_container_names_its_subcode(sim: Sim, media_url: str) -> None:
    target = InstagramTarget(sim.transport)
    sim.send("faults", {"operation": "create_container", "kind": "container_error"})

    container = target.create_container(
        ACCOUNT, f"{media_url}/square.jpg", MediaKind.FEED_IMAGE, "Hi"
    )
    status = target.container_status(ACCOUNT, container)

    assert (status.code, status.subcode) == ("ERROR", 2207082)
    assert container_failure_kind(status) is ErrorKind.CONTAINER


def test_a_code_2_after_publishing_is_ambiguous_and_reconcilable(
    sim: Sim, media_url: str
) -> None:
    target = InstagramTarget(sim.transport)
    container = _finished_container(target, media_url)
    sim.send("faults", {"operation": "media_publish", "kind": "apply_then_code_2"})

    with pytest.raises(AmbiguousError):
        target.publish(ACCOUNT, container_id=container, media_url="", caption="")

    # The container is the handle: it shows the post went out.
    assert target.container_status(ACCOUNT, container).code == "PUBLISHED"
    assert len(target.recent_media(ACCOUNT)) == 1


def test_a_lost_publish_reply_is_ambiguous_and_sent_once(
    sim: Sim, media_url: str
) -> None:
    target = InstagramTarget(sim.transport)
    container = _finished_container(target, media_url)
    sim.send("faults", {"operation": "media_publish", "kind": "lost_reply"})

    with pytest.raises(AmbiguousError):
        target.publish(ACCOUNT, container_id=container, media_url="", caption="")

    calls = [c for c in sim.read("calls")["data"] if c["operation"] == "media_publish"]
    assert len(calls) == 1


def test_a_transient_status_read_is_retried(sim: Sim, media_url: str) -> None:
    target = InstagramTarget(sim.transport)
    container = target.create_container(
        ACCOUNT, f"{media_url}/square.jpg", MediaKind.FEED_IMAGE, "Hi"
    )
    sim.send(
        "faults", {"operation": "container_status", "kind": "http_500", "times": 2}
    )

    assert target.container_status(ACCOUNT, container).code == "FINISHED"

    calls = [
        c for c in sim.read("calls")["data"] if c["operation"] == "container_status"
    ]
    assert len(calls) == 3


def test_an_expired_token_is_an_auth_error(sim: Sim, media_url: str) -> None:
    target = InstagramTarget(sim.transport)
    sim.send("tokens/expire", {"access_token": ACCOUNT.access_token})

    with pytest.raises(AuthError) as caught:
        target.create_container(
            ACCOUNT, f"{media_url}/square.jpg", MediaKind.FEED_IMAGE, "Hi"
        )

    assert caught.value.code == 190
    assert "reconnect the account" in caught.value.brand_message


def test_a_throttle_is_rate_limited_and_not_retried(sim: Sim) -> None:
    target = InstagramTarget(sim.transport)
    sim.send(
        "faults",
        {"operation": "publishing_limit", "kind": "rate_limit", "code": 80002},
    )

    with pytest.raises(RateLimitedError) as caught:
        target.publishing_quota(ACCOUNT)

    assert caught.value.code == 80002
    calls = [
        c for c in sim.read("calls")["data"] if c["operation"] == "publishing_limit"
    ]
    assert len(calls) == 1


def test_usage_headers_reach_the_transport(sim: Sim, media_url: str) -> None:
    target = InstagramTarget(sim.transport)
    sim.send("config", {"usage_threshold": 0, "usage_calls_per_hour": 4})

    target.publishing_quota(ACCOUNT)

    usage = sim.transport.last_usage(ACCOUNT.page_id)
    assert usage is not None
    assert usage.percent == 25
    assert not usage.throttled


def test_facebook_page_photo_end_to_end(sim: Sim, media_url: str) -> None:
    target = FacebookPageTarget(sim.transport)

    post_id = target.publish(
        ACCOUNT,
        container_id=None,
        media_url=f"{media_url}/square.jpg",
        caption="Just listed",
    )

    assert post_id.startswith(f"{ACCOUNT.page_id}_")
    link = target.permalink(ACCOUNT, post_id)
    assert link is not None
    assert link.startswith("https://")
    assert len(sim.read("publishes")["data"]) == 1


def test_facebook_recent_posts_list_the_published_photo(
    sim: Sim, media_url: str
) -> None:
    target = FacebookPageTarget(sim.transport)
    post_id = target.publish(
        ACCOUNT,
        container_id=None,
        media_url=f"{media_url}/square.jpg",
        caption="Just listed",
    )

    [recent] = target.recent_media(ACCOUNT)

    assert (recent.media_id, recent.caption) == (post_id, "Just listed")
    assert recent.timestamp is not None


def test_a_lost_page_photo_reply_is_ambiguous(sim: Sim, media_url: str) -> None:
    target = FacebookPageTarget(sim.transport)
    sim.send("faults", {"operation": "page_photos", "kind": "lost_reply"})

    with pytest.raises(AmbiguousError):
        target.publish(
            ACCOUNT, container_id=None, media_url=f"{media_url}/square.jpg", caption=""
        )
