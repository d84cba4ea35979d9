"""The module's answers against the spec's example bodies, field by field, on the
spec's own data (same ids, same timestamps), on PostgreSQL and on SQLite.

Where the spec disagrees with itself the test says so and checks our reading:
- the third post's `failed_at` is an ISO string ("2026-07-02T17:56:13.625Z") while
  every other timestamp in the document is epoch seconds; we answer epoch seconds;
- the list example is in ascending `created_at` order, while the default order is
  `-created_at`; the example is compared with `order="created_at"`;
- a just-created post's `updated_at` is one microsecond after its `created_at`
  (the platform stamps twice); we stamp both with one time;
- the updated post's `updated_at` is earlier than its `created_at` (the platform's
  test clock); we stamp the time we are given, which reproduces it.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from publisher import posts
from tests.posts_world import (
    ASSET_POST,
    BRAND,
    EXAMPLES,
    SPEC_NOW,
    TEMPLATE_POST,
    UPDATED_POST,
    USER,
    at,
    engine,
    insert_spec_world,
)

__all__ = ["engine"]

ALL = "social_post.template_instance,social_post.asset,social_post.owner"


def assert_fields(ours: Any, theirs: Any, where: str = "") -> None:
    """Equal field by field, naming the first field that differs."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), where
        assert set(ours) == set(theirs), (where, set(ours) ^ set(theirs))
        for key, value in theirs.items():
            assert_fields(ours[key], value, f"{where}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), where
        for index, (mine, spec) in enumerate(zip(ours, theirs, strict=True)):
            assert_fields(mine, spec, f"{where}[{index}]")
    else:
        assert ours == theirs, (where, ours, theirs)


def test_list_executed_matches_the_example(engine: Engine) -> None:
    with engine.begin() as conn:
        insert_spec_world(conn)
    expected = copy.deepcopy(EXAMPLES["list_executed"])
    failed = expected["data"][2]
    assert failed["failed_at"] == "2026-07-02T17:56:13.625Z"
    failed["failed_at"] = datetime.fromisoformat(failed["failed_at"]).timestamp()

    answer = posts.list_posts(
        engine,
        BRAND,
        status="executed",
        order="created_at",
        associations=[ALL],
        now=SPEC_NOW,
    )

    assert_fields(answer, expected)


def test_stats_executed_matches_the_example(engine: Engine) -> None:
    with engine.begin() as conn:
        insert_spec_world(conn)

    answer = posts.post_stats(engine, BRAND, status="executed")

    assert answer == EXAMPLES["stats_executed"]


def test_create_with_template_instance_matches_the_example(engine: Engine) -> None:
    with engine.begin() as conn:
        insert_spec_world(conn, with_posts=False)
    expected = copy.deepcopy(EXAMPLES["create_template_instance"])
    assert expected["data"]["updated_at"] == 1783014974.546729
    expected["data"]["updated_at"] = expected["data"]["created_at"]

    answer = posts.create_post(
        engine,
        BRAND,
        USER,
        EXAMPLES["create_template_instance_request"],
        associations=["social_post.template_instance", "social_post.owner"],
        post_id=TEMPLATE_POST,
        now=at(1783014974.546728),
    )

    # The owner's clock reads the creation time: "12:56 PM" as in the example.
    assert_fields(answer, expected)


def test_create_with_asset_matches_the_example(engine: Engine) -> None:
    with engine.begin() as conn:
        insert_spec_world(conn, with_posts=False)

    answer = posts.create_post(
        engine,
        BRAND,
        USER,
        EXAMPLES["create_asset_request"],
        post_id=ASSET_POST,
        now=at(1783014974.633868),
    )

    assert_fields(answer, EXAMPLES["create_asset"])


def test_update_matches_the_example(engine: Engine) -> None:
    with engine.begin() as conn:
        insert_spec_world(conn)

    answer = posts.update_post(
        engine,
        BRAND,
        UPDATED_POST,
        EXAMPLES["update_request"],
        now=SPEC_NOW,
    )

    assert_fields(answer, EXAMPLES["update"])
    again = posts.get_post(engine, BRAND, UPDATED_POST)
    assert again == answer
