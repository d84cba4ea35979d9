"""list, get and stats: every filter, order, paging edge and association set, on
PostgreSQL and SQLite, over the spec's data plus drafts, videos, a deleted post,
a second user and a second brand."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import Engine, insert

from publisher import posts, sample
from publisher.tables import brand_assets, files, social_posts
from tests.posts_world import (
    ASSET,
    ASSET_POST,
    BRAND,
    FAILED_POST,
    INSTANCE,
    PAGE,
    SPEC_NOW,
    TEMPLATE_POST,
    UPDATED_POST,
    USER,
    engine,
    insert_spec_world,
)

__all__ = ["engine"]

ASSOCIATIONS = (
    "social_post.template_instance",
    "social_post.asset",
    "social_post.owner",
)


@dataclass
class World:
    draft: UUID
    story_video: UUID
    video_asset_post: UUID
    deleted: UUID
    colleague: UUID
    other_brand: UUID
    other_user: UUID
    other_post: UUID


def _post(conn: Any, minutes: int, **values: Any) -> UUID:
    post_id = uuid4()
    stamp = SPEC_NOW + timedelta(minutes=minutes)
    row: dict[str, Any] = {
        "id": post_id,
        "brand": BRAND,
        "created_by": USER,
        "facebook_page": PAGE,
        "caption": f"post {minutes}",
        "created_at": stamp,
        "updated_at": stamp + timedelta(seconds=30),
        "due_at": stamp + timedelta(hours=1),
        **values,
    }
    conn.execute(insert(social_posts).values(**row))
    return post_id


@pytest.fixture
def world(engine: Engine) -> World:
    with engine.begin() as conn:
        insert_spec_world(conn)
        colleague = sample.insert_user(conn, first_name="Ann", active_brand=BRAND)
        story = sample.insert_template(
            conn, "story", medium="InstagramStory", video=True
        )
        video_file = uuid4()
        conn.execute(
            insert(files).values(
                id=video_file,
                path="v.mp4",
                name="v.mp4",
                url="https://cdn.example/v.mp4",
                mime="video/mp4",
                created_at=SPEC_NOW,
            )
        )
        story_instance = sample.insert_instance(conn, BRAND, story, video_file)
        video_asset = uuid4()
        conn.execute(
            insert(brand_assets).values(
                id=video_asset,
                brand=BRAND,
                file=video_file,
                medium="Social",
                created_at=SPEC_NOW,
            )
        )
        draft = _post(conn, 1, template_instance=INSTANCE, due_at=None)
        story_video = _post(
            conn, 2, template_instance=story_instance, created_by=colleague
        )
        video_asset_post = _post(conn, 3, asset=video_asset)
        deleted = _post(conn, 4, asset=ASSET, deleted_at=SPEC_NOW)

        other_brand = sample.insert_brand(conn, "Other")
        other_user = sample.insert_user(conn, active_brand=other_brand)
        other_page = sample.insert_page(conn, other_brand)
        other_template = sample.insert_template(conn, "other", medium="Email")
        other_instance = sample.insert_instance(
            conn, other_brand, other_template, video_file
        )
        other_post = _post(
            conn,
            5,
            brand=other_brand,
            created_by=other_user,
            facebook_page=other_page,
            template_instance=other_instance,
            executed_at=SPEC_NOW,
        )
    return World(
        draft,
        story_video,
        video_asset_post,
        deleted,
        colleague,
        other_brand,
        other_user,
        other_post,
    )


def ids(answer: dict[str, Any]) -> list[UUID]:
    return [UUID(item["id"]) for item in answer["data"]]


EXECUTED = {TEMPLATE_POST, ASSET_POST, FAILED_POST}


@pytest.mark.parametrize("status", ["executed", "scheduled", "draft", "any"])
def test_status_filter(engine: Engine, world: World, status: str) -> None:
    scheduled = {UPDATED_POST, world.story_video, world.video_asset_post}
    expected = {
        "executed": EXECUTED,
        "scheduled": scheduled,
        "draft": {world.draft},
        "any": EXECUTED | scheduled | {world.draft},
    }[status]

    answer = posts.list_posts(engine, BRAND, status=status)

    assert set(ids(answer)) == expected
    assert answer["info"] == {"count": len(expected), "total": len(expected)}
    assert world.deleted not in ids(answer)


def test_user_filter(engine: Engine, world: World) -> None:
    assert ids(posts.list_posts(engine, BRAND, user=world.colleague)) == [
        world.story_video
    ]
    assert len(ids(posts.list_posts(engine, BRAND, user=USER))) == 6
    assert ids(posts.list_posts(engine, BRAND, user=world.other_user)) == []


def test_video_filter(engine: Engine, world: World) -> None:
    videos = {world.story_video, world.video_asset_post}
    assert set(ids(posts.list_posts(engine, BRAND, video=True))) == videos
    others = set(ids(posts.list_posts(engine, BRAND, video=False)))
    assert others == EXECUTED | {UPDATED_POST, world.draft}


@pytest.mark.parametrize(
    ("mediums", "expected"),
    [
        (["Email"], {ASSET_POST, UPDATED_POST}),
        (["InstagramStory"], {"story"}),
        (["Email", "InstagramStory"], {ASSET_POST, UPDATED_POST, "story"}),
        (["Email,InstagramStory"], {ASSET_POST, UPDATED_POST, "story"}),
        (["Letter"], set()),
    ],
)
def test_mediums_filter(
    engine: Engine, world: World, mediums: list[str], expected: set[Any]
) -> None:
    wanted = {world.story_video if item == "story" else item for item in expected}
    assert set(ids(posts.list_posts(engine, BRAND, mediums=mediums))) == wanted


@pytest.mark.parametrize(
    "order",
    [
        f"{sign}{name}"
        for name in ("created_at", "updated_at", "due_at", "executed_at")
        for sign in ("", "-")
    ],
)
def test_order(engine: Engine, world: World, order: str) -> None:
    data = posts.list_posts(engine, BRAND, order=order)["data"]
    name = order.removeprefix("-")
    present = [item for item in data if item[name] is not None]
    missing = [item for item in data if item[name] is None]

    # Missing values come last whatever the direction; ties fall back to the id.
    assert data == present + missing
    keys = [item[name] for item in present]
    assert keys == sorted(keys, reverse=order.startswith("-"))
    for group in (present, missing):
        for first, second in itertools.pairwise(group):
            if first[name] == second[name]:
                assert first["id"] < second["id"]


def test_default_order_is_newest_first(engine: Engine, world: World) -> None:
    data = posts.list_posts(engine, BRAND)["data"]
    stamps = [item["created_at"] for item in data]
    assert stamps == sorted(stamps, reverse=True)


@pytest.mark.parametrize(
    ("start", "limit", "expected"),
    [
        (10, 1, slice(0, 0)),
        (0, 1, slice(0, 1)),
        (2, 3, slice(2, 5)),
        (6, 5, slice(6, 7)),
    ],
)
def test_paging(
    engine: Engine, world: World, start: int, limit: int, expected: slice
) -> None:
    everything = ids(posts.list_posts(engine, BRAND))

    answer = posts.list_posts(engine, BRAND, start=start, limit=limit)

    assert ids(answer) == everything[expected]
    assert answer["info"] == {"count": len(everything[expected]), "total": 7}


@pytest.mark.parametrize(
    "chosen",
    [
        combo
        for size in range(len(ASSOCIATIONS) + 1)
        for combo in itertools.combinations(ASSOCIATIONS, size)
    ],
)
def test_associations(engine: Engine, world: World, chosen: tuple[str, ...]) -> None:
    answer = posts.list_posts(engine, BRAND, associations=chosen, order="created_at")

    for item in answer["data"]:
        for association in ASSOCIATIONS:
            key = association.split(".")[1]
            assert (key in item) == (association in chosen), (key, chosen)
        if "social_post.template_instance" in chosen:
            nested = item["template_instance"]
            assert (nested is None) == (item["id"] in _asset_posts(world))
            if nested:
                assert nested["type"] == "template_instance"
                assert nested["file"]["type"] == "file"
        if "social_post.asset" in chosen:
            nested = item["asset"]
            assert (nested is None) == (item["id"] not in _asset_posts(world))
            if nested:
                assert nested["type"] == "brand_asset"
                assert nested["file"]["type"] == "file"
        if "social_post.owner" in chosen:
            assert item["owner"]["id"] == item["created_by"]
            assert item["owner"]["type"] == "user"


def _asset_posts(world: World) -> set[str]:
    return {str(i) for i in (ASSET_POST, UPDATED_POST, world.video_asset_post)}


def test_get_nests_associations_and_hides_deleted(engine: Engine, world: World) -> None:
    got = posts.get_post(
        engine, BRAND, world.story_video, associations=["social_post.owner"]
    )["data"]
    assert got["owner"]["display_name"] == "Ann Doe"
    assert got["owner"]["abbreviated_display_name"] == "Ann"
    assert "asset" not in got

    with pytest.raises(posts.NotFound) as caught:
        posts.get_post(engine, BRAND, world.deleted)
    assert caught.value.status == 404


def test_stats_per_medium_and_status(engine: Engine, world: World) -> None:
    assert posts.post_stats(engine, BRAND) == {
        "type": "social_post_stats",
        "Email": "2",
        "Social": "4",
        "InstagramStory": "1",
    }
    assert posts.post_stats(engine, BRAND, status="draft") == {
        "type": "social_post_stats",
        "Social": "1",
    }
    assert posts.post_stats(engine, BRAND, user=world.colleague) == {
        "type": "social_post_stats",
        "InstagramStory": "1",
    }


def test_another_brand_is_never_read_or_counted(engine: Engine, world: World) -> None:
    assert ids(posts.list_posts(engine, world.other_brand)) == [world.other_post]
    assert ids(posts.list_posts(engine, world.other_brand, user=USER)) == []
    assert posts.post_stats(engine, world.other_brand) == {
        "type": "social_post_stats",
        "Email": "1",
    }
    for post in (TEMPLATE_POST, ASSET_POST, UPDATED_POST, world.draft):
        with pytest.raises(posts.NotFound):
            posts.get_post(engine, world.other_brand, post)
    with pytest.raises(posts.NotFound):
        posts.get_post(engine, BRAND, world.other_post)
    assert world.other_post not in ids(posts.list_posts(engine, BRAND))


def test_a_post_pointing_at_another_brands_creative_does_not_show_it(
    engine: Engine, world: World
) -> None:
    # Only a direct write could make such a row; the module still never nests it.
    with engine.begin() as conn:
        stray = _post(
            conn,
            9,
            brand=world.other_brand,
            created_by=world.other_user,
            facebook_page=PAGE,
            asset=ASSET,
        )
    got = posts.get_post(
        engine, world.other_brand, stray, associations=["social_post.asset"]
    )
    assert got["data"]["asset"] is None
    assert posts.post_stats(engine, world.other_brand)["Email"] == "1"


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"status": "done"}, "status"),
        ({"order": "caption"}, "order"),
        ({"order": "--created_at"}, "order"),
        ({"mediums": ["Fax"]}, "mediums"),
        ({"associations": ["social_post.page"]}, "associations"),
        ({"start": -1}, "start"),
        ({"limit": 0}, "limit"),
        ({"user": "me"}, "user"),
    ],
)
def test_bad_list_parameters_name_the_field(
    engine: Engine, world: World, arguments: dict[str, Any], field: str
) -> None:
    with pytest.raises(posts.ValidationFailed) as caught:
        posts.list_posts(engine, BRAND, **arguments)
    assert caught.value.status == 400
    assert [p.field for p in caught.value.problems] == [field]


def test_bad_brand_and_status_of_stats(engine: Engine, world: World) -> None:
    with pytest.raises(posts.ValidationFailed) as caught:
        posts.post_stats(engine, "not-a-brand")
    assert caught.value.problems[0].field == "brand"
    with pytest.raises(posts.ValidationFailed):
        posts.post_stats(engine, BRAND, status="sent")
