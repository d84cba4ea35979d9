"""The local media store and the loopback server that publishes it, over real HTTP."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from structlog.testing import capture_logs

from publisher.storage import LocalMediaStore, MediaServer, MediaStore

JPEG = b"\xff\xd8\xff\xe0 not really a jpeg \xff\xd9"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[MediaServer]:
    with MediaServer(tmp_path / "media") as running:
        yield running


@pytest.fixture
def store(tmp_path: Path, server: MediaServer) -> LocalMediaStore:
    return LocalMediaStore(tmp_path / "media", server.url)


def test_a_stored_file_is_served_back_with_its_type_and_length(
    store: LocalMediaStore,
) -> None:
    url = store.put("prepared/brand/post-1.jpg", JPEG, "image/jpeg")

    with requests.get(url, timeout=5) as response:
        assert response.status_code == 200
        assert response.content == JPEG
        assert response.headers["Content-Type"] == "image/jpeg"
        assert response.headers["Content-Length"] == str(len(JPEG))


def test_a_video_is_served_with_its_video_type(store: LocalMediaStore) -> None:
    url = store.put("reels/tour.mp4", b"\0\0\0\x18ftypisom", "video/mp4")

    with requests.head(url, timeout=5) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "video/mp4"


def test_urls_are_percent_encoded_ascii_and_still_resolve(
    store: LocalMediaStore, server: MediaServer
) -> None:
    url = store.put("Château d'Eau/vue #1 été.jpg", JPEG, "image/jpeg")

    assert url == (
        f"{server.url}/Ch%C3%A2teau%20d%27Eau/vue%20%231%20%C3%A9t%C3%A9.jpg"
    )
    assert url.isascii()
    with requests.get(url, timeout=5) as response:
        assert response.content == JPEG


def test_the_local_store_satisfies_the_media_store_protocol(
    store: LocalMediaStore,
) -> None:
    chosen: MediaStore = store

    assert chosen.put("a.jpg", JPEG, "image/jpeg").endswith("/a.jpg")


def test_a_put_replaces_the_file_whole_and_leaves_no_temporary_file(
    tmp_path: Path, store: LocalMediaStore
) -> None:
    with capture_logs() as logs:
        store.put("p/a.jpg", b"old", "image/jpeg")
        store.put("p/a.jpg", b"new", "image/jpeg")

    target = tmp_path / "media" / "p" / "a.jpg"
    assert target.read_bytes() == b"new"
    assert os.listdir(target.parent) == ["a.jpg"]
    assert target.stat().st_mode & 0o777 == 0o644
    assert [log["event"] for log in logs] == ["media_stored", "media_stored"]


@pytest.mark.parametrize(
    "key",
    [
        "../escape.jpg",
        "a/../../escape.jpg",
        "/etc/escape.jpg",
        "a//b.jpg",
        "./a.jpg",
        ".hidden.jpg",
        "a\\..\\b.jpg",
        "",
    ],
)
def test_keys_that_could_leave_the_store_are_refused(tmp_path: Path, key: str) -> None:
    store = LocalMediaStore(tmp_path / "media", "http://127.0.0.1:1")

    with pytest.raises(ValueError, match="media key") as caught:
        store.put(key, JPEG, "image/jpeg")

    assert repr(key) in str(caught.value)
    assert not (tmp_path / "escape.jpg").exists()


def test_a_symlink_inside_the_store_cannot_lead_a_write_elsewhere(
    tmp_path: Path,
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "link").symlink_to(outside)
    store = LocalMediaStore(tmp_path / "media", "http://127.0.0.1:1")

    with pytest.raises(ValueError, match="leads outside"):
        store.put("link/a.jpg", JPEG, "image/jpeg")
    with pytest.raises(ValueError, match="leads outside"):
        store.put("link/sub/a.jpg", JPEG, "image/jpeg")

    assert list(outside.iterdir()) == []


def test_a_key_whose_name_implies_another_type_is_refused(tmp_path: Path) -> None:
    store = LocalMediaStore(tmp_path / "media", "http://127.0.0.1:1")

    with pytest.raises(ValueError, match=r"served as image/png, not image/jpeg"):
        store.put("a.png", JPEG, "image/jpeg")


@pytest.mark.parametrize("base_url", ["ftp://host/media", "http://médias.example"])
def test_the_base_url_must_be_ascii_http(tmp_path: Path, base_url: str) -> None:
    with pytest.raises(ValueError, match="base URL"):
        LocalMediaStore(tmp_path, base_url)


def test_the_base_url_may_end_with_a_slash(tmp_path: Path) -> None:
    store = LocalMediaStore(tmp_path, "https://cdn.example/media/")

    assert store.url_for("a b.jpg") == "https://cdn.example/media/a%20b.jpg"


@pytest.mark.parametrize(
    "path",
    ["/missing.jpg", "/", "/prepared", "/prepared/", "/.secret.jpg", "/%2e%2e/x.jpg"],
)
def test_the_server_answers_404_for_anything_but_a_stored_file(
    tmp_path: Path, store: LocalMediaStore, server: MediaServer, path: str
) -> None:
    store.put("prepared/a.jpg", JPEG, "image/jpeg")
    (tmp_path / "media" / ".secret.jpg").write_bytes(b"hidden")
    (tmp_path / "x.jpg").write_bytes(b"outside")

    with requests.get(server.url + path, timeout=5) as response:
        assert response.status_code == 404
        assert JPEG not in response.content


def test_the_server_only_reads(store: LocalMediaStore, server: MediaServer) -> None:
    url = store.put("a.jpg", JPEG, "image/jpeg")

    with requests.put(url, data=b"overwrite", timeout=5) as response:
        assert response.status_code == 405


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", ""])
def test_the_server_refuses_non_loopback_hosts(tmp_path: Path, host: str) -> None:
    with pytest.raises(ValueError, match="not a loopback address") as caught:
        MediaServer(tmp_path, host=host)

    assert repr(host) in str(caught.value)


def test_the_server_has_no_url_before_it_starts_and_stops_for_good(
    tmp_path: Path,
) -> None:
    server = MediaServer(tmp_path, host="localhost")
    with pytest.raises(RuntimeError, match="not been started"):
        _ = server.url

    with server:
        url = server.url
        with requests.get(url + "/none.jpg", timeout=5) as response:
            assert response.status_code == 404

    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/none.jpg", timeout=5)
