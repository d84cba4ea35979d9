"""The Graph simulator over real HTTP: publishing flows, Meta's rejections, tokens."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from publisher.simulator import SimulatorServer
from tests.test_simulator_support import (
    FB_ONLY_PAGE,
    FB_ONLY_TOKEN,
    IG_USER,
    OTHER_IG_USER,
    OTHER_TOKEN,
    PAGE,
    TOKEN,
    Graph,
    error_of,
    fresh_graph,
    make_media_files,
    serve_media,
)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory: Path = tmp_path_factory.mktemp("media")
    make_media_files(directory)
    with serve_media(directory) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer() as server:
        yield server


@pytest.fixture
def graph(simulator: SimulatorServer) -> Iterator[Graph]:
    client = fresh_graph(simulator.url)
    client.control("POST", "/config", {"video_processing_seconds": 0.3})
    yield client
    client.close()


def test_image_is_created_polled_published_and_read_back(
    graph: Graph, media: str
) -> None:
    container_id = graph.create(
        {"image_url": f"{media}/square.jpg", "caption": "Open house #home"}
    )
    assert container_id.isdigit()
    assert graph.status(container_id) == {
        "id": container_id,
        "status_code": "FINISHED",
        "status": "Finished: Media has been uploaded and it is ready to be published.",
    }

    published = graph.publish(container_id)
    assert published.status_code == 200
    media_id = published.json()["id"]
    assert media_id.isdigit()
    assert graph.status(container_id)["status_code"] == "PUBLISHED"

    fields = (
        "permalink,caption,media_type,media_product_type,shortcode,timestamp,username"
    )
    read = graph.get(f"/{media_id}", {"fields": fields}).json()
    assert read["id"] == media_id
    assert read["caption"] == "Open house #home"
    assert (read["media_type"], read["media_product_type"]) == ("IMAGE", "FEED")
    assert read["permalink"] == f"https://www.instagram.com/p/{read['shortcode']}/"
    assert read["timestamp"].endswith("+0000")
    assert read["username"] == "acme_homes"
    assert graph.get(f"/{media_id}", {"fields": "permalink"}).json().keys() == {
        "id",
        "permalink",
    }

    recent = graph.get(f"/{IG_USER}/media", {"fields": "id,caption,timestamp"})
    assert [item["id"] for item in recent.json()["data"]] == [media_id]
    [record] = graph.publishes()
    assert record["media_id"] == media_id
    assert record["container_id"] == container_id
    assert record["source_url"] == f"{media}/square.jpg"


@pytest.mark.parametrize("via", ["json", "form", "query"])
def test_parameters_arrive_in_any_of_the_three_places(
    graph: Graph, media: str, via: Any
) -> None:
    params = {"image_url": f"{media}/square.jpg", "caption": f"sent as {via}"}
    response = graph.post(f"/{IG_USER}/media", params, via=via)

    assert response.status_code == 200
    [container] = graph.control("GET", "/containers")["data"]
    assert container["caption"] == f"sent as {via}"


@pytest.mark.parametrize("prefix", ["", "/v19.0", "/v26.0"])
def test_any_version_prefix_or_none_is_accepted(
    graph: Graph, media: str, prefix: str
) -> None:
    response = graph.session.post(
        f"{graph.base_url}{prefix}/{IG_USER}/media",
        json={"image_url": f"{media}/square.jpg"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 200


def test_reel_is_in_progress_until_processed_then_publishes(
    graph: Graph, media: str
) -> None:
    container_id = graph.create(
        {"media_type": "REELS", "video_url": f"{media}/clip.mp4"}
    )
    assert graph.status(container_id) == {
        "id": container_id,
        "status_code": "IN_PROGRESS",
        "status": "In Progress: Media is still being processed.",
    }

    early = graph.publish(container_id)
    assert error_of(early) == (400, 9007, 2207027)
    assert early.json()["error"]["error_user_title"] == "Cannot publish"
    assert early.json()["error"]["error_user_msg"] == (
        "The media is not ready to be published. Please wait a moment."
    )

    graph.wait_for(container_id, "FINISHED")
    media_id = graph.publish(container_id).json()["id"]
    read = graph.get(
        f"/{media_id}", {"fields": "media_type,media_product_type,permalink"}
    )
    assert read.json()["media_type"] == "VIDEO"
    assert read.json()["media_product_type"] == "REELS"
    assert "/reel/" in read.json()["permalink"]


def test_stories_take_an_image_of_any_shape_or_a_video(
    graph: Graph, media: str
) -> None:
    image = graph.create({"media_type": "STORIES", "image_url": f"{media}/tall.jpg"})
    video = graph.create({"media_type": "STORIES", "video_url": f"{media}/clip.mp4"})

    media_id = graph.publish(image).json()["id"]
    read = graph.get(f"/{media_id}", {"fields": "media_type,media_product_type"})
    assert (read.json()["media_type"], read.json()["media_product_type"]) == (
        "IMAGE",
        "STORY",
    )
    assert graph.status(video)["status_code"] == "IN_PROGRESS"


@pytest.mark.parametrize("name", ["portrait.jpg", "wide.jpg"])
def test_feed_aspect_limits_are_inclusive(graph: Graph, media: str, name: str) -> None:
    graph.create({"image_url": f"{media}/{name}"})


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"image_url": "{media}/image.png"}, (36001, 2207005)),
        ({"image_url": "{media}/image.webp"}, (36001, 2207005)),
        ({"image_url": "{media}/disguised.jpg"}, (36001, 2207005)),
        ({"image_url": "{media}/not-an-image.jpg"}, (9004, 2207052)),
        ({"image_url": "{media}/missing.jpg"}, (9004, 2207052)),
        ({"image_url": "http://127.0.0.1:9/square.jpg"}, (9004, 2207052)),
        ({"image_url": "{media}/caf\u00e9.jpg"}, (9004, 2207052)),
        ({"image_url": "{media}/huge.jpg"}, (36000, 2207004)),
        ({"image_url": "{media}/too-wide.jpg"}, (36003, 2207009)),
        ({"image_url": "{media}/tall.jpg"}, (36003, 2207009)),
        ({"image_url": "{media}/square.jpg", "caption": "x" * 2201}, (36004, 2207010)),
        (
            {"image_url": "{media}/square.jpg", "caption": "#t " * 31},
            (100, 2207011),
        ),
        (
            {"image_url": "{media}/square.jpg", "caption": "@u " * 21},
            (100, 2207040),
        ),
        ({"media_type": "REELS", "video_url": "{media}/clip.avi"}, (352, 2207026)),
        (
            {"media_type": "STORIES", "video_url": "{media}/long-story.mp4"},
            (352, 2207026),
        ),
        ({"media_type": "CAROUSEL", "children": "1,2"}, (100, 2207023)),
        ({"media_type": "IMAGE", "image_url": "{media}/square.jpg"}, (100, 2207023)),
        ({"image_url": None}, (100, None)),
    ],
)
def test_container_creation_rejects_what_meta_rejects(
    graph: Graph, media: str, params: dict[str, Any], expected: tuple[int, int]
) -> None:
    filled = {key: value.format(media=media) for key, value in params.items() if value}
    response = graph.post(f"/{IG_USER}/media", filled)

    assert error_of(response) == (400, *expected)
    assert response.json()["error"]["message"].startswith(f"(#{expected[0]})")
    assert graph.control("GET", "/containers")["data"] == []


def test_the_caption_limits_themselves_are_allowed(graph: Graph, media: str) -> None:
    caption = "#t " * 30 + "@u " * 20
    graph.create({"image_url": f"{media}/square.jpg", "caption": caption})
    graph.create({"image_url": f"{media}/square.jpg", "caption": "x" * 2200})


def test_a_slow_media_host_times_the_download_out(graph: Graph, media: str) -> None:
    graph.control("POST", "/config", {"fetch_timeout": 0.2})

    response = graph.post(
        f"/{IG_USER}/media", {"image_url": f"{media}/slow/square.jpg"}
    )

    assert error_of(response) == (400, -2, 2207003)


def test_standalone_video_is_accepted_but_refused_at_publish(
    graph: Graph, media: str
) -> None:
    container_id = graph.create(
        {"media_type": "VIDEO", "video_url": f"{media}/clip.mp4"}
    )
    graph.wait_for(container_id, "FINISHED")

    assert error_of(graph.publish(container_id)) == (400, 100, 2207089)
    assert graph.publishes() == []


def test_publishing_quota_is_a_rolling_day(graph: Graph, media: str) -> None:
    graph.control(
        "POST",
        "/accounts",
        {
            "ig_user_id": IG_USER,
            "page_id": PAGE,
            "access_token": TOKEN,
            "quota_total": 2,
        },
    )
    containers = [
        graph.create({"image_url": f"{media}/square.jpg", "caption": f"post {n}"})
        for n in range(3)
    ]
    for container_id in containers[:2]:
        assert graph.publish(container_id).status_code == 200

    refused = graph.publish(containers[2])
    assert error_of(refused) == (400, 9, 2207042)
    limit = graph.get(
        f"/{IG_USER}/content_publishing_limit", {"fields": "quota_usage,config"}
    )
    assert limit.json() == {
        "data": [
            {"quota_usage": 2, "config": {"quota_total": 2, "quota_duration": 86400}}
        ]
    }
    bare = graph.get(f"/{IG_USER}/content_publishing_limit")
    assert bare.json() == {"data": [{"quota_usage": 2}]}

    graph.control("POST", "/clock", {"advance": 86400 + 1})
    fresh = graph.create({"image_url": f"{media}/square.jpg", "caption": "next day"})
    assert graph.publish(fresh).status_code == 200


def test_global_quota_applies_to_accounts_without_their_own(
    graph: Graph, media: str
) -> None:
    graph.control("POST", "/config", {"quota_total": 1})
    first = graph.create({"image_url": f"{media}/square.jpg", "caption": "one"})
    second = graph.create({"image_url": f"{media}/square.jpg", "caption": "two"})

    assert graph.publish(first).status_code == 200
    assert error_of(graph.publish(second)) == (400, 9, 2207042)


def test_containers_expire_after_a_day_of_simulated_time(
    graph: Graph, media: str
) -> None:
    container_id = graph.create({"image_url": f"{media}/square.jpg"})
    graph.control("POST", "/clock", {"advance": 24 * 3600})

    assert graph.status(container_id)["status_code"] == "EXPIRED"
    assert error_of(graph.publish(container_id)) == (400, -2, 2207020)


def test_a_published_container_never_makes_a_second_media(
    graph: Graph, media: str
) -> None:
    container_id = graph.create({"image_url": f"{media}/square.jpg"})
    assert graph.publish(container_id).status_code == 200

    again = graph.publish(container_id)

    assert error_of(again) == (400, 100, None)
    assert len(graph.publishes()) == 1


def test_concurrent_publishes_of_one_container_make_one_media(
    graph: Graph, media: str
) -> None:
    container_id = graph.create({"image_url": f"{media}/square.jpg"})

    def publish(_: int) -> int:
        client = Graph(graph.base_url)
        try:
            return client.publish(container_id).status_code
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(publish, range(8)))

    assert statuses == [200] + [400] * 7
    assert len(graph.publishes()) == 1


def test_publishing_an_unknown_container_is_24_2207008(graph: Graph) -> None:
    assert error_of(graph.publish("17840000999999999")) == (400, 24, 2207008)
    assert error_of(graph.post(f"/{IG_USER}/media_publish", {})) == (400, 100, None)


def test_tokens_missing_unknown_and_expired(graph: Graph, media: str) -> None:
    path = f"/{IG_USER}/content_publishing_limit"
    assert error_of(graph.get(path, token=None)) == (400, 190, None)
    assert error_of(graph.get(path, token="forged")) == (400, 190, 467)

    graph.control("POST", "/tokens/expire", {"access_token": TOKEN})
    expired = graph.get(path)
    assert error_of(expired) == (400, 190, 463)
    assert expired.json()["error"]["type"] == "OAuthException"

    # Registering the page again is how a re-authorized token comes back.
    graph.control(
        "POST",
        "/accounts",
        {"ig_user_id": IG_USER, "page_id": PAGE, "access_token": "token-renewed"},
    )
    assert graph.get(path, token="token-renewed").status_code == 200
    assert error_of(graph.get(path)) == (400, 190, 467)


def test_a_token_acts_only_on_its_own_account(graph: Graph, media: str) -> None:
    container_id = graph.create({"image_url": f"{media}/square.jpg"})

    foreign_edge = graph.post(
        f"/{OTHER_IG_USER}/media", {"image_url": f"{media}/square.jpg"}
    )
    assert error_of(foreign_edge) == (400, 10, None)
    foreign_node = graph.get(
        f"/{container_id}", {"fields": "status_code"}, token=OTHER_TOKEN
    )
    assert error_of(foreign_node) == (400, 100, 33)
    stolen = graph.post(
        f"/{OTHER_IG_USER}/media_publish",
        {"creation_id": container_id},
        token=OTHER_TOKEN,
    )
    assert error_of(stolen) == (400, 24, 2207008)


def test_request_shape_errors(graph: Graph, media: str) -> None:
    assert error_of(graph.get("/17840000999999999")) == (400, 100, 33)
    assert error_of(graph.get(f"/{IG_USER}/insights")) == (400, 2500, None)
    assert error_of(graph.get(f"/{IG_USER}/media_publish")) == (400, 100, 33)
    # "...?id=7" left unencoded inside image_url arrives as a parameter of its own.
    leaked = graph.post(
        f"/{IG_USER}/media",
        {"image_url": f"{media}/square.jpg", "id": "7"},
        via="query",
    )
    assert error_of(leaked) == (400, 2500, None)
    container_id = graph.create({"image_url": f"{media}/square.jpg"})
    assert error_of(graph.get(f"/{container_id}", {"fields": "colour"})) == (
        400,
        100,
        None,
    )
    assert graph.get(f"/{container_id}").json() == {"id": container_id}


def test_recent_media_is_newest_first_and_limited(graph: Graph, media: str) -> None:
    ids = []
    for n in range(3):
        container_id = graph.create(
            {"image_url": f"{media}/square.jpg", "caption": f"#{n}"}
        )
        ids.append(graph.publish(container_id).json()["id"])

    recent = graph.get(f"/{IG_USER}/media", {"fields": "id,caption", "limit": 2})

    assert recent.json()["data"] == [
        {"id": ids[2], "caption": "#2"},
        {"id": ids[1], "caption": "#1"},
    ]


def test_page_photo_is_published_and_has_a_permalink(graph: Graph, media: str) -> None:
    response = graph.post(
        f"/{PAGE}/photos", {"url": f"{media}/too-wide.jpg", "caption": "Listing"}
    )

    assert response.status_code == 200
    photo_id, post_id = response.json()["id"], response.json()["post_id"]
    page, _, number = post_id.partition("_")
    assert page == PAGE
    assert number.isdigit()
    assert photo_id.isdigit()
    link = graph.get(f"/{post_id}", {"fields": "permalink_url"})
    assert link.json() == {
        "id": post_id,
        "permalink_url": f"https://www.facebook.com/{PAGE}/posts/{number}",
    }
    [record] = graph.publishes()
    assert (record["platform"], record["page_id"], record["media_id"]) == (
        "facebook",
        PAGE,
        post_id,
    )


def test_page_posts_list_newest_first(graph: Graph, media: str) -> None:
    post_ids = [
        graph.post(
            f"/{PAGE}/photos", {"url": f"{media}/square.jpg", "caption": caption}
        ).json()["post_id"]
        for caption in ("First", "Second")
    ]

    listed = graph.get(f"/{PAGE}/posts", {"fields": "id,message,created_time"})

    assert [(p["id"], p["message"]) for p in listed.json()["data"]] == [
        (post_ids[1], "Second"),
        (post_ids[0], "First"),
    ]
    assert listed.json()["data"][0]["created_time"].endswith("+0000")


def test_page_photos_refuse_consecutive_duplicates_only(
    graph: Graph, media: str
) -> None:
    def post(caption: str) -> Any:
        return graph.post(
            f"/{FB_ONLY_PAGE}/photos",
            {"url": f"{media}/square.jpg", "caption": caption},
            token=FB_ONLY_TOKEN,
            via="form",
        )

    assert post("Same words").status_code == 200
    assert error_of(post("Same words")) == (400, 506, None)
    assert post("Other words").status_code == 200
    assert post("Same words").status_code == 200
    assert len(graph.publishes()) == 3


def test_page_photo_rules(graph: Graph, media: str) -> None:
    unpublished = graph.post(
        f"/{PAGE}/photos", {"url": f"{media}/square.jpg", "published": False}
    )
    assert unpublished.json().keys() == {"id"}
    assert graph.publishes() == []

    png = graph.post(f"/{PAGE}/photos", {"url": f"{media}/image.png"})
    assert error_of(png) == (400, 36001, 2207005)
    assert error_of(graph.post(f"/{PAGE}/photos", {})) == (400, 324, None)
    foreign = graph.post(f"/{FB_ONLY_PAGE}/photos", {"url": f"{media}/square.jpg"})
    assert error_of(foreign) == (400, 10, None)
