"""The targets' calls to the transport, and how they read the replies.

A recording stand-in for GraphTransport answers with canned bodies, so these tests
pin paths, forms and parsing; the simulator tests cover the same code over HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from publisher.platforms import (
    Account,
    AmbiguousError,
    ContainerStatus,
    FacebookPageTarget,
    GraphTransport,
    InstagramTarget,
    MediaKind,
    MediaSummary,
    MissingInstagramAccountError,
    PublishingTarget,
    Quota,
    TransientError,
    make_target,
)

ACCOUNT = Account(page_id="page1", ig_user_id="17841", access_token="tok")


@dataclass
class Call:
    method: str
    operation: str
    path: str
    fields: dict[str, str]
    usage_key: str | None


@dataclass
class RecordingTransport:
    reply: dict[str, Any] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)

    def get(
        self,
        operation: str,
        path: str,
        token: str,
        params: dict[str, str] | None = None,
        *,
        usage_key: str | None = None,
    ) -> dict[str, Any]:
        assert token == ACCOUNT.access_token
        self.calls.append(Call("GET", operation, path, dict(params or {}), usage_key))
        return self.reply

    def post(
        self,
        operation: str,
        path: str,
        token: str,
        data: dict[str, str],
        *,
        usage_key: str | None = None,
    ) -> dict[str, Any]:
        assert token == ACCOUNT.access_token
        self.calls.append(Call("POST", operation, path, dict(data), usage_key))
        return self.reply


def targets(reply: dict[str, Any]) -> tuple[RecordingTransport, GraphTransport]:
    fake = RecordingTransport(reply)
    return fake, cast(GraphTransport, fake)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (MediaKind.FEED_IMAGE, {"image_url": "http://m/a.jpg", "caption": "Hi"}),
        (
            MediaKind.REELS,
            {"video_url": "http://m/a.jpg", "caption": "Hi", "media_type": "REELS"},
        ),
        (
            MediaKind.STORY_IMAGE,
            {"image_url": "http://m/a.jpg", "media_type": "STORIES"},
        ),
        (
            MediaKind.STORY_VIDEO,
            {"video_url": "http://m/a.jpg", "media_type": "STORIES"},
        ),
    ],
)
def test_create_container_form_by_media_kind(
    kind: MediaKind, expected: dict[str, str]
) -> None:
    fake, transport = targets({"id": "c1"})

    container = InstagramTarget(transport).create_container(
        ACCOUNT, "http://m/a.jpg", kind, "Hi"
    )

    assert container == "c1"
    [call] = fake.calls
    assert (call.method, call.operation, call.path) == (
        "POST",
        "create_container",
        "17841/media",
    )
    assert call.fields == expected
    assert call.usage_key == "page1"


def test_a_page_without_instagram_account_fails_permanently() -> None:
    _, transport = targets({"id": "c1"})
    account = Account(page_id="page1", ig_user_id=None, access_token="tok")

    with pytest.raises(MissingInstagramAccountError):
        InstagramTarget(transport).create_container(
            account, "http://m/a.jpg", MediaKind.FEED_IMAGE, "Hi"
        )


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            {"status_code": "FINISHED", "status": "Finished: ready", "id": "c1"},
            ContainerStatus("FINISHED", "Finished: ready"),
        ),
        (
            {
                "status_code": "ERROR",
                "status": "Error: Media upload has failed with error code 2207082",
            },
            ContainerStatus(
                "ERROR",
                "Error: Media upload has failed with error code 2207082",
                2207082,
            ),
        ),
        (
            {"status_code": "", "status": "Error: Media download has failed."},
            ContainerStatus("ERROR", "Error: Media download has failed."),
        ),
        ({"id": "c1"}, ContainerStatus("IN_PROGRESS", "")),
        (
            {"status_code": "in_progress", "status": "In progress: Media is..."},
            ContainerStatus("IN_PROGRESS", "In progress: Media is..."),
        ),
    ],
)
def test_container_status_parsing(
    reply: dict[str, Any], expected: ContainerStatus
) -> None:
    fake, transport = targets(reply)

    assert InstagramTarget(transport).container_status(ACCOUNT, "c1") == expected
    assert fake.calls[0].path == "c1"
    assert fake.calls[0].fields == {"fields": "status_code,status"}


def test_publish_sends_the_creation_id() -> None:
    fake, transport = targets({"id": "m1"})

    media = InstagramTarget(transport).publish(
        ACCOUNT, container_id="c1", media_url="http://m/a.jpg", caption="Hi"
    )

    assert media == "m1"
    [call] = fake.calls
    assert (call.operation, call.path, call.fields) == (
        "media_publish",
        "17841/media_publish",
        {"creation_id": "c1"},
    )


def test_a_publish_reply_without_an_id_is_ambiguous() -> None:
    _, transport = targets({})

    with pytest.raises(AmbiguousError):
        InstagramTarget(transport).publish(
            ACCOUNT, container_id="c1", media_url="u", caption=""
        )


def test_instagram_permalink() -> None:
    fake, transport = targets({"permalink": "https://www.instagram.com/p/Abc/"})
    target = InstagramTarget(transport)

    assert target.permalink(ACCOUNT, "m1") == "https://www.instagram.com/p/Abc/"
    assert fake.calls[0].fields == {"fields": "permalink"}
    fake.reply = {"id": "m1"}
    assert target.permalink(ACCOUNT, "m1") is None


def test_publishing_quota() -> None:
    reply = {
        "data": [
            {"quota_usage": 2, "config": {"quota_total": 50, "quota_duration": 86400}}
        ]
    }
    fake, transport = targets(reply)

    quota = InstagramTarget(transport).publishing_quota(ACCOUNT)

    assert quota == Quota(usage=2, total=50, duration_seconds=86400)
    assert fake.calls[0].path == "17841/content_publishing_limit"
    assert fake.calls[0].fields == {"fields": "quota_usage,config"}


def test_a_quota_reply_without_config_is_transient() -> None:
    _, transport = targets({"data": [{"quota_usage": 2}]})

    with pytest.raises(TransientError):
        InstagramTarget(transport).publishing_quota(ACCOUNT)


def test_instagram_recent_media_parses_meta_timestamps() -> None:
    reply = {
        "data": [
            {"id": "m2", "caption": "Hi", "timestamp": "2026-12-03T10:00:00+0000"},
            {"id": "m1", "timestamp": "garbled"},
        ]
    }
    fake, transport = targets(reply)

    media = InstagramTarget(transport).recent_media(ACCOUNT, limit=2)

    assert media == [
        MediaSummary("m2", "Hi", datetime(2026, 12, 3, 10, tzinfo=UTC)),
        MediaSummary("m1", None, None),
    ]
    assert media[0].timestamp is not None
    assert media[0].timestamp.utcoffset() is not None
    assert fake.calls[0].path == "17841/media"
    assert fake.calls[0].fields == {"fields": "id,caption,timestamp", "limit": "2"}


@pytest.mark.parametrize(
    ("reply", "expected"),
    [({"id": "ph1", "post_id": "page1_p1"}, "page1_p1"), ({"id": "ph1"}, "ph1")],
)
def test_facebook_publish_posts_a_photo(reply: dict[str, Any], expected: str) -> None:
    fake, transport = targets(reply)

    post = FacebookPageTarget(transport).publish(
        ACCOUNT, container_id=None, media_url="http://m/a.jpg", caption="Hi"
    )

    assert post == expected
    [call] = fake.calls
    assert (call.operation, call.path, call.usage_key) == (
        "page_photos",
        "page1/photos",
        "page1",
    )
    assert call.fields == {
        "url": "http://m/a.jpg",
        "caption": "Hi",
        "published": "true",
    }


def test_facebook_permalink_and_recent_posts() -> None:
    fake, transport = targets({"permalink_url": "https://www.facebook.com/p1"})
    target = FacebookPageTarget(transport)

    assert target.permalink(ACCOUNT, "page1_p1") == "https://www.facebook.com/p1"
    assert fake.calls[0].fields == {"fields": "permalink_url"}

    fake.reply = {
        "data": [
            {
                "id": "page1_p1",
                "message": "Hi",
                "created_time": "2026-12-03T10:00:00+0000",
            }
        ]
    }
    posts = target.recent_media(ACCOUNT, limit=3)

    assert posts == [
        MediaSummary("page1_p1", "Hi", datetime(2026, 12, 3, 10, tzinfo=UTC))
    ]
    assert fake.calls[1].path == "page1/posts"
    assert fake.calls[1].fields == {"fields": "id,message,created_time", "limit": "3"}


def test_facebook_has_no_containers_and_no_quota() -> None:
    _, transport = targets({})
    target = FacebookPageTarget(transport)

    assert target.uses_containers is False
    assert target.publishing_quota(ACCOUNT) is None
    with pytest.raises(TypeError, match="no containers"):
        target.create_container(ACCOUNT, "u", MediaKind.FEED_IMAGE, "")
    with pytest.raises(TypeError, match="no containers"):
        target.container_status(ACCOUNT, "c1")


def test_make_target() -> None:
    _, transport = targets({})

    instagram: PublishingTarget = make_target("instagram", transport)
    facebook: PublishingTarget = make_target("facebook", transport)

    assert (instagram.name, instagram.uses_containers) == ("instagram", True)
    assert (facebook.name, facebook.uses_containers) == ("facebook", False)
    with pytest.raises(ValueError, match="'tiktok'"):
        make_target("tiktok", transport)
