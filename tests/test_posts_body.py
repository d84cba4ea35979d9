"""Every rule of the create and update bodies, and of who may create: a bad input
is refused naming the field and the rule, and leaves every table as it was."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import Engine, update

from publisher import posts, sample
from publisher.tables import (
    brand_assets,
    facebook_pages,
    template_instances,
    users,
)
from tests.posts_world import (
    ASSET,
    BRAND,
    INSTANCE,
    PAGE,
    UPDATED_POST,
    USER,
    engine,
    insert_spec_world,
    snapshot,
)

__all__ = ["engine"]

GOOD: dict[str, Any] = {
    "facebook_page": str(PAGE),
    "template_instance": str(INSTANCE),
    "caption": "Just listed #home",
    "due_at": 1783015574.688,
}


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> dict[str, UUID]:
    """The spec's world, and a second brand with its own page, creative and user."""
    with engine.begin() as conn:
        insert_spec_world(conn)
        other = sample.insert_brand(conn, "Other")
        template = sample.insert_template(conn, "other")
        instance = sample.insert_instance(conn, other, template, _file(conn, tmp_path))
        return {
            "brand": other,
            "user": sample.insert_user(conn, active_brand=other),
            "page": sample.insert_page(conn, other),
            "instance": instance,
            "asset": sample.insert_asset(conn, other, _file(conn, tmp_path)),
        }


def _file(conn: Any, media_dir: Path) -> UUID:
    return sample.insert_file(
        conn,
        media_dir,
        "https://cdn.example",
        b"x",
        name="f.png",
        mime="image/png",
    )


def with_(**changes: Any) -> dict[str, Any]:
    body = {**GOOD, **changes}
    return {k: v for k, v in body.items() if v is not ...}


def hashtags(n: int) -> str:
    return " ".join(f"#tag{i}" for i in range(n))


def mentions(n: int) -> str:
    return " ".join(f"@user{i}" for i in range(n))


BAD_BODIES: list[tuple[str, Any, str, str]] = [
    ("not an object", [GOOD], "body", "body_object"),
    (
        "old camelCase page",
        with_(facebook_page=..., facebookPage=str(PAGE)),
        "facebookPage",
        "unknown_field",
    ),
    (
        "old camelCase instance",
        with_(template_instance=..., templateInstance=str(INSTANCE)),
        "templateInstance",
        "unknown_field",
    ),
    (
        "old camelCase time",
        with_(due_at=..., dueAt=1783015574),
        "dueAt",
        "unknown_field",
    ),
    ("unknown field", with_(colour="red"), "colour", "unknown_field"),
    ("no page", with_(facebook_page=...), "facebook_page", "required"),
    ("page not a uuid", with_(facebook_page="page-1"), "facebook_page", "uuid_parsing"),
    ("both creatives", with_(asset=str(ASSET)), "asset", "one_creative"),
    ("no creative", with_(template_instance=...), "template_instance", "one_creative"),
    (
        "null creatives",
        with_(template_instance=None, asset=None),
        "template_instance",
        "one_creative",
    ),
    ("naive time", with_(due_at="2026-07-02T12:56:13"), "due_at", "due_at_offset"),
    ("unreadable time", with_(due_at="next tuesday"), "due_at", "due_at_format"),
    ("boolean time", with_(due_at=True), "due_at", "due_at_type"),
    ("object time", with_(due_at={"at": 1}), "due_at", "due_at_type"),
    ("time out of range", with_(due_at=1e20), "due_at", "due_at_range"),
    ("caption not text", with_(caption=42), "caption", "string_type"),
    ("caption null", with_(caption=None), "caption", "string_type"),
    ("caption too long", with_(caption="a" * 2201), "caption", "caption_length"),
    ("31 hashtags", with_(caption=hashtags(31)), "caption", "caption_hashtags"),
    ("21 mentions", with_(caption=mentions(21)), "caption", "caption_mentions"),
]


def _ids(cases: list[tuple[str, Any, str, str]]) -> list[str]:
    return [case[0] for case in cases]


def create(engine: Engine, body: Any) -> Any:
    return posts.create_post(engine, BRAND, USER, body)


def update_(engine: Engine, body: Any) -> Any:
    return posts.update_post(engine, BRAND, UPDATED_POST, body)


@pytest.mark.parametrize("call", [create, update_], ids=["create", "update"])
@pytest.mark.parametrize(
    ("name", "body", "field", "rule"), BAD_BODIES, ids=_ids(BAD_BODIES)
)
def test_bad_body_is_refused_and_changes_nothing(
    engine: Engine,
    world: dict[str, UUID],
    call: Callable[[Engine, Any], Any],
    name: str,
    body: Any,
    field: str,
    rule: str,
) -> None:
    before = snapshot(engine)

    with pytest.raises(posts.ValidationFailed) as caught:
        call(engine, body)

    assert caught.value.status == 400
    assert (field, rule) in [(p.field, p.rule) for p in caught.value.problems]
    assert snapshot(engine) == before
    answer = caught.value.to_json()
    assert answer["status"] == 400 and answer["errors"]


def test_camel_case_names_the_right_field(engine: Engine, world: Any) -> None:
    body = {
        "facebookPage": str(PAGE),
        "templateInstance": str(INSTANCE),
        "dueAt": 1783015574,
    }
    with pytest.raises(posts.ValidationFailed) as caught:
        create(engine, body)
    messages = {p.field: p.message for p in caught.value.problems}
    assert "'facebook_page'" in messages["facebookPage"]
    assert "'template_instance'" in messages["templateInstance"]
    assert "'due_at'" in messages["dueAt"]


def test_every_problem_is_named_at_once(engine: Engine, world: Any) -> None:
    body = {"facebook_page": "x", "caption": "a" * 2201, "due_at": "soon"}
    with pytest.raises(posts.ValidationFailed) as caught:
        create(engine, body)
    assert {p.rule for p in caught.value.problems} == {
        "uuid_parsing",
        "due_at_format",
        "one_creative",
        "caption_length",
    }


def _make_revoked(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(facebook_pages)
            .where(facebook_pages.c.id == PAGE)
            .values(revoked=True)
        )


def _delete(table: Any, row: UUID) -> Callable[[Engine], None]:
    def run(engine: Engine) -> None:
        with engine.begin() as conn:
            conn.execute(
                update(table)
                .where(table.c.id == row)
                .values(deleted_at=datetime.now(UTC))
            )

    return run


REFERENCES: list[tuple[str, Callable[[Engine], None] | None, Any, str, str]] = [
    (
        "unknown page",
        None,
        with_(facebook_page=str(uuid4())),
        "facebook_page",
        "page_connected",
    ),
    ("revoked page", _make_revoked, GOOD, "facebook_page", "page_connected"),
    (
        "deleted page",
        _delete(facebook_pages, PAGE),
        GOOD,
        "facebook_page",
        "page_connected",
    ),
    (
        "unknown instance",
        None,
        with_(template_instance=str(uuid4())),
        "template_instance",
        "template_instance_exists",
    ),
    (
        "deleted instance",
        _delete(template_instances, INSTANCE),
        GOOD,
        "template_instance",
        "template_instance_exists",
    ),
    (
        "unknown asset",
        None,
        with_(template_instance=..., asset=str(uuid4())),
        "asset",
        "asset_exists",
    ),
    (
        "deleted asset",
        _delete(brand_assets, ASSET),
        with_(template_instance=..., asset=str(ASSET)),
        "asset",
        "asset_exists",
    ),
]


@pytest.mark.parametrize("call", [create, update_], ids=["create", "update"])
@pytest.mark.parametrize(
    ("name", "prepare", "body", "field", "rule"),
    REFERENCES,
    ids=[case[0] for case in REFERENCES],
)
def test_references_must_be_live_rows_of_the_brand(
    engine: Engine,
    world: Any,
    call: Callable[[Engine, Any], Any],
    name: str,
    prepare: Callable[[Engine], None] | None,
    body: Any,
    field: str,
    rule: str,
) -> None:
    if prepare:
        prepare(engine)
    before = snapshot(engine)

    with pytest.raises(posts.ValidationFailed) as caught:
        call(engine, body)

    assert [(p.field, p.rule) for p in caught.value.problems] == [(field, rule)]
    assert snapshot(engine) == before


@pytest.mark.parametrize("call", [create, update_], ids=["create", "update"])
@pytest.mark.parametrize("kind", ["page", "instance", "asset"])
def test_another_brands_rows_cannot_be_used(
    engine: Engine, world: dict[str, UUID], call: Callable[..., Any], kind: str
) -> None:
    body = {
        "page": with_(facebook_page=str(world["page"])),
        "instance": with_(template_instance=str(world["instance"])),
        "asset": with_(template_instance=..., asset=str(world["asset"])),
    }[kind]
    before = snapshot(engine)

    with pytest.raises(posts.ValidationFailed) as caught:
        call(engine, body)

    # Same answer as for an id that exists nowhere: nothing is told about others.
    assert "in brand " + str(BRAND) in str(caught.value)
    assert snapshot(engine) == before


@pytest.mark.parametrize("who", ["other brand", "unknown", "deleted"])
def test_create_needs_a_user_of_the_brand(
    engine: Engine, world: dict[str, UUID], who: str
) -> None:
    user = {"other brand": world["user"], "unknown": uuid4(), "deleted": USER}[who]
    if who == "deleted":
        _delete(users, USER)(engine)
    before = snapshot(engine)

    with pytest.raises(posts.Forbidden) as caught:
        posts.create_post(engine, BRAND, user, GOOD)

    assert caught.value.status == 403
    assert caught.value.problems[0].field == "user"
    assert snapshot(engine) == before


@pytest.mark.parametrize(
    ("changes", "due_at"),
    [
        ({"caption": "a" * 2200}, 1783015574.688),
        ({"caption": hashtags(30) + " " + mentions(20)}, 1783015574.688),
        ({"due_at": "2026-07-02T12:56:13-05:00"}, 1783014973.0),
        ({"due_at": "2026-07-02T17:56:13.5Z"}, 1783014973.5),
        ({"due_at": 1783014973}, 1783014973.0),
        ({"due_at": None}, None),
        ({"due_at": ...}, None),
    ],
)
def test_accepted_bodies(
    engine: Engine, world: Any, changes: dict[str, Any], due_at: float | None
) -> None:
    created = create(engine, with_(**changes))["data"]
    assert created["due_at"] == due_at
    listed = posts.list_posts(
        engine, BRAND, status="draft" if due_at is None else "any"
    )
    assert created["id"] in [item["id"] for item in listed["data"]]
    assert created["created_at"] <= datetime.now(UTC).timestamp() + 1
