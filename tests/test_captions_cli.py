"""Acceptance: `publisher posts caption` as a subprocess against a real local model
server: the envelope, the exit codes, the built-in writer, and an API key that
never reaches the output or the (debug) logs."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from uuid import UUID, uuid4

import pytest

from publisher import sample
from publisher.rules import caption_problems
from tests.builders import run_cli
from tests.captions_world import (
    COLOURS,
    CaptionWorld,
    colour_index,
    sqlite_world,
    world,
)
from tests.model_server import MODEL_NAME

__all__ = ["sqlite_world", "world"]

pytestmark = pytest.mark.acceptance

KEY = "sk-live-cli-5f3a9c0d7e21b864"

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(world: CaptionWorld) -> Cli:
    return _cli(world)


def _cli(world: CaptionWorld) -> Cli:
    """The command with the model server configured (`model=False`: none) and
    debug logs; none of the caller's own PUBLISHER_ variables leaks into it."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    base.update(
        {
            "PUBLISHER_DATABASE_URL": world.url,
            "PUBLISHER_MEDIA_DIRECTORY": str(world.media_dir),
            "PUBLISHER_MEDIA_BASE_URL": world.media.url,
            "PUBLISHER_LOG_FORMAT": "json",
            "PUBLISHER_LOG_LEVEL": "debug",
            "PUBLISHER_CAPTIONS_API_KEY": KEY,
        }
    )

    def run(
        *args: str, model: bool = True, **env: str
    ) -> subprocess.CompletedProcess[str]:
        extra = dict(base)
        if model:
            extra["PUBLISHER_CAPTIONS_BASE_URL"] = world.model.base_url
            extra["PUBLISHER_CAPTIONS_MODEL"] = "vision-small"
        extra.update(env)
        return run_cli(world.media_dir.parent, "posts", "caption", *args, env=extra)

    return run


def _post(world: CaptionWorld) -> UUID:
    instance = world.instance(template_type="JustListed")
    world.listing(instance, colours=COLOURS[:2])
    return world.post(template_instance=instance)


def _assert_key_hidden(done: subprocess.CompletedProcess[str]) -> None:
    assert KEY not in done.stdout
    assert KEY not in done.stderr
    assert KEY[-8:] not in done.stdout + done.stderr


@pytest.mark.postgres
def test_success_prints_the_envelope_and_keeps_the_key_out_of_logs(
    world: CaptionWorld, cli: Cli
) -> None:
    post = _post(world)
    before = world.row(post)

    # The client's own debug logging asked for too: it stays quiet all the same.
    done = cli("--brand", str(world.brand), "--id", str(post), OPENAI_LOG="debug")

    assert done.returncode == 0, done.stderr
    envelope = json.loads(done.stdout)
    assert envelope["code"] == "OK"
    assert envelope["data"]["type"] == "social_post_caption"
    assert envelope["data"]["social_post"] == str(post)
    assert envelope["data"]["source"] == "model"
    assert envelope["data"]["model"] == MODEL_NAME
    assert envelope["data"]["images"] == 2
    (request,) = world.model.requests
    assert request.headers["authorization"] == f"Bearer {KEY}"
    events = [json.loads(line)["event"] for line in done.stderr.splitlines()]
    assert "caption_recommended" in events
    _assert_key_hidden(done)
    assert world.row(post) == before


@pytest.mark.postgres
def test_a_model_failure_exits_10_with_error_json(
    world: CaptionWorld, cli: Cli
) -> None:
    post = _post(world)
    before = world.row(post)
    world.model.script(always_status=503)

    done = cli(
        "--brand",
        str(world.brand),
        "--id",
        str(post),
        PUBLISHER_CAPTIONS_MAX_RETRIES="1",
    )

    assert done.returncode == 10, done.stderr
    assert done.stdout == ""
    error = _error_json(done.stderr)
    assert error["code"] == "ModelUnavailable"
    assert error["status"] == 502
    assert [(e["field"], e["rule"]) for e in error["errors"]] == [
        ("model", "model_error")
    ]
    assert len(world.model.requests) == 2
    _assert_key_hidden(done)
    assert world.row(post) == before


@pytest.mark.postgres
def test_an_unknown_post_exits_8(world: CaptionWorld, cli: Cli) -> None:
    done = cli("--brand", str(world.brand), "--id", str(uuid4()))

    assert done.returncode == 8, done.stderr
    error = _error_json(done.stderr)
    assert error["status"] == 404
    assert error["errors"][0]["field"] == "post"
    assert world.model.requests == []


@pytest.mark.postgres
def test_another_brands_listing_exits_6_naming_listing(
    world: CaptionWorld, cli: Cli
) -> None:
    post = _post(world)
    other = world.listing(brand=_other_brand(world), colours=())

    done = cli("--brand", str(world.brand), "--id", str(post), "--listing", str(other))

    assert done.returncode == 6, done.stderr
    error = _error_json(done.stderr)
    assert error["errors"][0]["field"] == "listing"
    assert world.model.requests == []


@pytest.mark.postgres
def test_without_a_model_the_builtin_writer_answers(
    world: CaptionWorld, cli: Cli
) -> None:
    instance = world.instance(name="Holiday card", template_type="Christmas")
    post = world.post(template_instance=instance)

    done = cli("--brand", str(world.brand), "--id", str(post), model=False)

    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)["data"]
    assert data["source"] == "builtin"
    assert data["model"] is None
    assert data["grounding"] == "creative"
    assert data["caption"].startswith("Merry Christmas from Harbor Realty!")
    assert caption_problems(data["caption"]) == []
    assert world.model.requests == []


def test_on_sqlite_both_writers_answer(sqlite_world: CaptionWorld) -> None:
    cli = _cli(sqlite_world)
    post = _post(sqlite_world)

    builtin = cli("--brand", str(sqlite_world.brand), "--id", str(post), model=False)
    model = cli("--brand", str(sqlite_world.brand), "--id", str(post))

    assert builtin.returncode == 0, builtin.stderr
    caption = json.loads(builtin.stdout)["data"]["caption"]
    assert caption.startswith("Just listed: 12 Harbor View Road")
    assert "4 bedrooms · 2.5 bathrooms · 2,380 sq ft" in caption
    assert model.returncode == 0, model.stderr
    assert json.loads(model.stdout)["data"]["images"] == 2
    (request,) = sqlite_world.model.requests
    assert request.facts["listing"]["bathrooms"] == 2.5
    assert [colour_index(url) for url in request.image_urls] == [0, 1]


def _other_brand(world: CaptionWorld) -> UUID:
    with world.engine.begin() as conn:
        return sample.insert_brand(conn, name="Other Realty")


def _error_json(stderr: str) -> dict[str, object]:
    """The error document among the JSON log lines on standard error."""
    start = stderr.index("{\n")
    error, _ = json.JSONDecoder().raw_decode(stderr[start:])
    assert isinstance(error, dict)
    return error
