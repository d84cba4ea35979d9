"""Hostile input to the read/write module and its CLI, on PostgreSQL and SQLite.

Each case here once crashed with a traceback or was taken silently in a way the
caller did not mean; each must now be refused naming the field and the rule, and
leave every table exactly as it was.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text, update

from publisher import posts
from publisher.tables import files
from tests.builders import PUBLISHER, run_cli
from tests.posts_world import (
    ASSET,
    ASSET_FILE,
    BRAND,
    INSTANCE,
    INSTANCE_FILE,
    PAGE,
    UPDATED_POST,
    USER,
    engine,
    insert_spec_world,
    posts_cli,
    snapshot,
)

__all__ = ["engine"]

GOOD: dict[str, Any] = {
    "facebook_page": str(PAGE),
    "template_instance": str(INSTANCE),
    "caption": "Just listed",
    "due_at": 1783015574.688,
}


@pytest.fixture
def world(engine: Engine) -> Engine:
    with engine.begin() as conn:
        insert_spec_world(conn)
    return engine


def _create(engine: Engine, body: Any) -> Any:
    return posts.create_post(engine, BRAND, USER, body)


def _update(engine: Engine, body: Any) -> Any:
    return posts.update_post(engine, BRAND, UPDATED_POST, body)


def _refused(engine: Engine, call: Any, field: str, rule: str) -> posts.PostsError:
    """Run `call`, which must be refused for `field`/`rule` and change nothing."""
    before = snapshot(engine)
    with pytest.raises(posts.ValidationFailed) as caught:
        call()
    found = [(p.field, p.rule) for p in caught.value.problems]
    assert (field, rule) in found, found
    assert snapshot(engine) == before
    return caught.value


# An instant whose year stays in range as written but leaves Python's range
# (1..9999) once moved to UTC: the conversion itself used to raise OverflowError.
EDGE_TIMES = ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"]


@pytest.mark.parametrize("call", [_create, _update], ids=["create", "update"])
@pytest.mark.parametrize("due_at", EDGE_TIMES)
def test_a_time_out_of_range_in_utc_is_refused(
    world: Engine, call: Any, due_at: str
) -> None:
    _refused(
        world, lambda: call(world, {**GOOD, "due_at": due_at}), "due_at", "due_at_range"
    )


def test_the_last_representable_utc_time_is_kept(world: Engine) -> None:
    created = _create(world, {**GOOD, "due_at": "9999-12-31T23:59:59+00:00"})

    assert created["data"]["due_at"] == 253402300799.0


# NUL cannot be stored in a PostgreSQL text column (psycopg raised DataError) and
# a lone surrogate cannot be encoded as UTF-8 on either backend (UnicodeEncodeError);
# SQLite took the NUL silently. JSON can carry both ("\u0000", "\ud800").
UNSTORABLE = {"nul": "Sold\x00!", "lone surrogate": "Sold \ud83d!"}


@pytest.mark.parametrize("call", [_create, _update], ids=["create", "update"])
@pytest.mark.parametrize("caption", UNSTORABLE.values(), ids=UNSTORABLE.keys())
def test_a_caption_that_cannot_be_stored_is_refused(
    world: Engine, call: Any, caption: str
) -> None:
    _refused(
        world,
        lambda: call(world, {**GOOD, "caption": caption}),
        "caption",
        "caption_characters",
    )


def test_a_whole_emoji_is_kept(world: Engine) -> None:
    caption = "Sold \U0001f3e1! e\u0301 \U0001f468\u200d\U0001f469\u200d\U0001f467"

    assert _create(world, {**GOOD, "caption": caption})["data"]["caption"] == caption


BIGGEST = 2**63 - 1  # the largest OFFSET/LIMIT both backends take (a signed int64)
BAD_PAGING: list[tuple[str, dict[str, Any], str, str]] = [
    ("start over int64", {"start": BIGGEST + 1}, "start", "start_max"),
    ("limit over int64", {"limit": BIGGEST + 1}, "limit", "limit_max"),
    ("huge start", {"start": 10**30}, "start", "start_max"),
    ("float limit", {"limit": 1.5}, "limit", "limit_type"),
    ("nan limit", {"limit": float("nan")}, "limit", "limit_type"),
    ("string start", {"start": "10"}, "start", "start_type"),
    ("boolean limit", {"limit": True}, "limit", "limit_type"),
]


@pytest.mark.parametrize(
    ("name", "params", "field", "rule"), BAD_PAGING, ids=[c[0] for c in BAD_PAGING]
)
def test_paging_out_of_range_or_of_the_wrong_type_is_refused(
    world: Engine, name: str, params: dict[str, Any], field: str, rule: str
) -> None:
    _refused(world, lambda: posts.list_posts(world, BRAND, **params), field, rule)


def test_the_largest_start_and_limit_are_answered(world: Engine) -> None:
    page = posts.list_posts(world, BRAND, start=BIGGEST, limit=BIGGEST)

    assert page["data"] == []
    assert page["info"] == {"count": 0, "total": 4}


@pytest.fixture
def cli(world: Engine, any_url: str, tmp_path: Path) -> Any:
    return posts_cli(any_url, tmp_path)


def _cli_refused(
    engine: Engine, cli: Any, args: list[str], field: str, rule: str, stdin: str = ""
) -> dict[str, Any]:
    before = snapshot(engine)
    result = cli(*args, stdin=stdin)
    assert result.returncode == 6, result.stderr
    assert result.stdout == ""
    error: dict[str, Any] = json.loads(result.stderr)
    assert (field, rule) in [(e["field"], e["rule"]) for e in error["errors"]]
    assert snapshot(engine) == before
    return error


# json.loads keeps the last of repeated keys, so a body naming `caption` twice
# was taken with its second value, silently.
REPEATED = (
    f'{{"facebook_page": "{PAGE}", "template_instance": "{INSTANCE}", '
    '"caption": "first", "caption": "second"}'
)


@pytest.mark.acceptance
@pytest.mark.parametrize("verb", ["create", "update"])
def test_a_repeated_body_field_is_refused(world: Engine, cli: Any, verb: str) -> None:
    target = ["--user", str(USER)] if verb == "create" else [str(UPDATED_POST)]

    error = _cli_refused(
        world,
        cli,
        [verb, "--brand", str(BRAND), *target, "--data", REPEATED],
        "caption",
        "duplicate_field",
    )

    assert "caption" in error["message"]


@pytest.mark.acceptance
def test_json_that_is_not_standard_is_refused(world: Engine, cli: Any) -> None:
    body = json.dumps(GOOD).replace("1783015574.688", "NaN")

    _cli_refused(
        world,
        cli,
        ["create", "--brand", str(BRAND), "--user", str(USER)],
        "body",
        "json",
        stdin=body,
    )


# click's own refusals (a bad --limit, an unknown --status, a missing --brand)
# were its usage text with exit 2, which the CLI documents as bad configuration.
USAGE: list[tuple[list[str], str, str]] = [
    (["list", "--brand", str(BRAND), "--limit", "1.5"], "limit", "option_value"),
    (["list", "--brand", str(BRAND), "--start", "NaN"], "start", "option_value"),
    (["list", "--brand", str(BRAND), "--status", "bogus"], "status", "option_value"),
    (["stats", "--status", "executed"], "brand", "option_missing"),
    (["get", "--brand", str(BRAND)], "post", "option_missing"),
    (["list", "--brand", str(BRAND), "--colour", "red"], "command", "usage"),
]


@pytest.mark.acceptance
@pytest.mark.parametrize(
    ("args", "field", "rule"), USAGE, ids=[" ".join(u[0][:1] + u[0][3:]) for u in USAGE]
)
def test_usage_errors_are_json_with_the_invalid_input_code(
    world: Engine, cli: Any, args: list[str], field: str, rule: str
) -> None:
    _cli_refused(world, cli, args, field, rule)


# A service calling the module: `Iterable[str]` admits a plain string, which was
# split into characters ("'s' is not one of ..."); a non-boolean `video` was taken
# as truthy and silently filtered; a non-string order raised AttributeError.
def test_a_single_string_is_one_list_value(world: Engine) -> None:
    one = posts.list_posts(
        world, BRAND, mediums="Social", associations="social_post.owner,"
    )
    listed = posts.list_posts(
        world, BRAND, mediums=["Social"], associations=["social_post.owner"]
    )

    assert one == listed
    assert one["info"]["total"] > 0
    assert all("owner" in post for post in one["data"])


BAD_PARAMETERS: list[tuple[str, dict[str, Any], str, str]] = [
    ("video as text", {"video": "false"}, "video", "video_type"),
    ("video as number", {"video": 0}, "video", "video_type"),
    ("order as number", {"order": 5}, "order", "order_value"),
    ("status as None", {"status": None}, "status", "status_value"),
    ("mediums as None", {"mediums": None}, "mediums", "mediums_type"),
    (
        "associations of numbers",
        {"associations": [1]},
        "associations",
        "associations_type",
    ),
]


@pytest.mark.parametrize(
    ("name", "params", "field", "rule"),
    BAD_PARAMETERS,
    ids=[c[0] for c in BAD_PARAMETERS],
)
def test_a_parameter_of_the_wrong_type_is_refused(
    world: Engine, name: str, params: dict[str, Any], field: str, rule: str
) -> None:
    _refused(world, lambda: posts.list_posts(world, BRAND, **params), field, rule)


def test_an_import_reusing_a_taken_id_is_a_conflict(world: Engine) -> None:
    """`post_id` keeps the platform's id on import; an id already used (by this
    brand or any other) raised IntegrityError with the SQL in its text."""
    before = snapshot(world)

    with pytest.raises(posts.Conflict) as caught:
        posts.create_post(world, BRAND, USER, GOOD, post_id=UPDATED_POST)

    assert [(p.field, p.rule) for p in caught.value.problems] == [
        ("post_id", "post_id_taken")
    ]
    assert "social_posts" not in str(caught.value)
    assert snapshot(world) == before


@pytest.mark.acceptance
def test_a_database_without_the_schema_says_to_run_db_init(
    any_url: str, tmp_path: Path
) -> None:
    """Forgetting `publisher db init` was "cannot reach the database: no such
    table" on SQLite and a ProgrammingError traceback on PostgreSQL."""
    admin = create_engine(any_url)
    with admin.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS social_posts"))
    admin.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    env.update({"PUBLISHER_DATABASE_URL": any_url, "PUBLISHER_LOG_FORMAT": "json"})

    result = run_cli(tmp_path, "posts", "stats", "--brand", str(BRAND), env=env)

    assert result.returncode == 5, result.stderr
    assert "publisher db init" in result.stderr
    assert "Traceback" not in result.stderr


# The creative's own row was checked but not its file: with the file deleted, the
# post was accepted and the worker later failed it with nothing to publish.
@pytest.mark.parametrize("call", [_create, _update], ids=["create", "update"])
@pytest.mark.parametrize(
    ("field", "file"),
    [("template_instance", INSTANCE_FILE), ("asset", ASSET_FILE)],
    ids=["template_instance", "asset"],
)
def test_a_creative_whose_file_was_deleted_is_refused(
    world: Engine, call: Any, field: str, file: Any
) -> None:
    with world.begin() as conn:
        conn.execute(
            update(files)
            .where(files.c.id == file)
            .values(deleted_at=text("CURRENT_TIMESTAMP"))
        )
    body = {
        **GOOD,
        "template_instance": None,
        field: str(INSTANCE if field == "template_instance" else ASSET),
    }

    _refused(world, lambda: call(world, body), field, f"{field}_file")


def test_disconnecting_a_page_twice_is_not_found(world: Engine) -> None:
    posts.disconnect_page(world, BRAND, PAGE)
    before = snapshot(world)

    with pytest.raises(posts.NotFound):
        posts.disconnect_page(world, BRAND, PAGE)

    assert snapshot(world) == before


def _spellings(post: Any) -> list[str]:
    text_ = str(post)
    return [text_.upper(), "{" + text_ + "}", "urn:uuid:" + text_, post.hex]


def test_other_spellings_of_an_id_name_the_same_post(world: Engine) -> None:
    for spelling in _spellings(UPDATED_POST):
        got = posts.get_post(world, str(BRAND).upper(), spelling)
        assert got["data"]["id"] == str(UPDATED_POST)


ODD_IDS = ["", " ", "null", "1", "0" * 33, str(UPDATED_POST) + "x", "\x00", "\ud800"]
CALLS = {
    "list": lambda e, x: posts.list_posts(e, x),
    "list user": lambda e, x: posts.list_posts(e, BRAND, user=x),
    "stats": lambda e, x: posts.post_stats(e, x),
    "stats user": lambda e, x: posts.post_stats(e, BRAND, user=x),
    "get": lambda e, x: posts.get_post(e, BRAND, x),
    "create brand": lambda e, x: posts.create_post(e, x, USER, GOOD),
    "create user": lambda e, x: posts.create_post(e, BRAND, x, GOOD),
    "update": lambda e, x: posts.update_post(e, BRAND, x, GOOD),
    "delete": lambda e, x: posts.delete_post(e, BRAND, x),
    "disconnect": lambda e, x: posts.disconnect_page(e, BRAND, x),
}


@pytest.mark.parametrize("name", CALLS)
def test_an_id_that_is_no_uuid_is_refused_by_every_call(
    world: Engine, name: str
) -> None:
    field = {"list": "brand", "stats": "brand", "create brand": "brand"}.get(
        name, "user" if "user" in name else "page" if name == "disconnect" else "post"
    )
    for odd in ODD_IDS:
        _refused(world, lambda odd=odd: CALLS[name](world, odd), field, "uuid")


def _bytes_cli(any_url: str, tmp_path: Path, *args: bytes, stdin: bytes) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    env.update({"PUBLISHER_DATABASE_URL": any_url, "PUBLISHER_LOG_FORMAT": "json"})
    return subprocess.run(
        [PUBLISHER.encode(), b"posts", *args],
        cwd=tmp_path,
        env=env,
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
    )


# A body that is not UTF-8 (a Latin-1 file piped in) was decoded with escapes and
# refused as a caption with "a lone surrogate ... UTF-16 pair", or not at all
# where the bytes fell in a field that is not checked.
@pytest.mark.acceptance
@pytest.mark.parametrize("via", ["stdin", "data"])
def test_a_body_that_is_not_utf8_is_refused(
    world: Engine, any_url: str, tmp_path: Path, via: str
) -> None:
    body = json.dumps({**GOOD, "caption": "Maison \xe0 vendre"}).encode()
    body = body.replace(b"\\u00e0", b"\xe0")
    assert b"\xe0" in body
    args = [b"create", b"--brand", str(BRAND).encode(), b"--user", str(USER).encode()]
    if via == "data":
        args += [b"--data", body]
    before = snapshot(world)

    result = _bytes_cli(any_url, tmp_path, *args, stdin=body if via == "stdin" else b"")

    assert result.returncode == 6, result.stderr
    error = json.loads(result.stderr)
    assert [(e["field"], e["rule"]) for e in error["errors"]] == [("body", "utf8")]
    assert snapshot(world) == before
