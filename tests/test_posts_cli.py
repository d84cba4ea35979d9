"""Acceptance: `publisher posts ...` as a subprocess, on PostgreSQL and SQLite.

The CLI prints what the module returns; a refusal is the module's error JSON on
standard error with the exit code of its kind.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, update

from publisher import posts
from publisher.tables import social_posts
from tests.posts_world import (
    BRAND,
    EXAMPLES,
    PAGE,
    UPDATED_POST,
    USER,
    engine,
    insert_spec_world,
    posts_cli,
    snapshot,
)

__all__ = ["engine"]

pytestmark = pytest.mark.acceptance


@pytest.fixture
def cli(engine: Engine, any_url: str, tmp_path: Path) -> Any:
    with engine.begin() as conn:
        insert_spec_world(conn)
    return posts_cli(any_url, tmp_path)


def test_reads_print_what_the_module_returns(cli: Any, engine: Engine) -> None:
    listed = cli(
        "list",
        "--brand",
        str(BRAND),
        "--status",
        "executed",
        "--order",
        "created_at",
        "--limit",
        "2",
        "--start",
        "1",
    )
    stats = cli("stats", "--brand", str(BRAND))
    got = cli(
        "get",
        "--brand",
        str(BRAND),
        str(UPDATED_POST),
        "--associations",
        "social_post.asset",
    )

    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == posts.list_posts(
        engine, BRAND, status="executed", order="created_at", limit=2, start=1
    )
    assert json.loads(stats.stdout) == posts.post_stats(engine, BRAND)
    assert json.loads(got.stdout) == posts.get_post(
        engine, BRAND, UPDATED_POST, associations=["social_post.asset"]
    )


def test_owner_is_nested_on_request(cli: Any) -> None:
    listed = cli(
        "list",
        "--brand",
        str(BRAND),
        "--associations",
        "social_post.owner,social_post.template_instance",
    )

    data = json.loads(listed.stdout)["data"]
    assert data and all(item["owner"]["display_name"] == "John Doe" for item in data)
    assert all("asset" not in item for item in data)


def test_create_update_delete(cli: Any) -> None:
    body = json.dumps(EXAMPLES["create_asset_request"])

    created = cli("create", "--brand", str(BRAND), "--user", str(USER), stdin=body)
    assert created.returncode == 0, created.stderr
    post = json.loads(created.stdout)["data"]
    assert post["caption"] == "testAsset" and post["due_at"] == 1783014374.607

    changed = cli(
        "update",
        "--brand",
        str(BRAND),
        post["id"],
        "--data",
        json.dumps(EXAMPLES["update_request"]),
    )
    assert changed.returncode == 0, changed.stderr
    assert json.loads(changed.stdout)["data"]["due_at"] == 1783015574.688

    deleted = cli("delete", "--brand", str(BRAND), post["id"])
    assert (deleted.returncode, deleted.stdout) == (0, "")
    again = cli("delete", "--brand", str(BRAND), post["id"])
    assert again.returncode == 8
    assert _error(again)["code"] == "ResourceNotFound"


def _error(result: Any) -> dict[str, Any]:
    text = result.stderr
    answer = json.loads(text[text.index("{\n") :])
    assert isinstance(answer, dict)
    return answer


@pytest.mark.parametrize(
    ("args", "code", "field", "rule"),
    [
        (
            [
                "create",
                "--user",
                str(USER),
                "--data",
                json.dumps({"facebookPage": str(PAGE), "asset": None}),
            ],
            6,
            "facebookPage",
            "unknown_field",
        ),
        (["create", "--user", str(USER), "--data", "{not json"], 6, "body", "json"),
        (
            [
                "create",
                "--user",
                "ffffffff-0000-0000-0000-000000000000",
                "--data",
                json.dumps(EXAMPLES["create_asset_request"]),
            ],
            7,
            "user",
            "brand_member",
        ),
        (
            [
                "update",
                str(UPDATED_POST),
                "--data",
                json.dumps(
                    {**EXAMPLES["update_request"], "due_at": "2026-07-02 12:00"}
                ),
            ],
            6,
            "due_at",
            "due_at_offset",
        ),
        (["list", "--order", "caption"], 6, "order", "order_value"),
    ],
)
def test_refusals_are_json_with_an_exit_code(
    cli: Any, engine: Engine, args: list[str], code: int, field: str, rule: str
) -> None:
    before = snapshot(engine)

    result = cli(args[0], "--brand", str(BRAND), *args[1:])

    assert result.returncode == code, result.stderr
    assert (field, rule) in [(e["field"], e["rule"]) for e in _error(result)["errors"]]
    assert result.stdout == ""
    assert snapshot(engine) == before


def test_a_claimed_post_is_a_conflict(cli: Any, engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(social_posts)
            .where(social_posts.c.id == UPDATED_POST)
            .values(stage="publish_sent")
        )

    result = cli("delete", "--brand", str(BRAND), str(UPDATED_POST))

    assert result.returncode == 9
    assert _error(result)["errors"][0]["rule"] == "publish_sent"
