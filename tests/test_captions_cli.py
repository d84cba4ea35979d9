"""Acceptance: `publisher posts caption` as a subprocess against a real local model
server: the envelope, the exit codes, the built-in writer, and an API key that
never reaches the output or the (debug) logs."""

from __future__ import annotations

import json
from uuid import uuid4

import pytest

from publisher.rules import caption_problems
from tests.captions_command import assert_clean, caption_cli, error_json
from tests.captions_images import colour_index
from tests.captions_world import (
    KEY,
    CaptionWorld,
    sqlite_world,
    world,
)
from tests.model_server import MODEL_NAME, failure

__all__ = ["sqlite_world", "world"]

pytestmark = pytest.mark.acceptance


@pytest.mark.postgres
def test_success_prints_the_envelope_and_keeps_the_key_out_of_logs(
    world: CaptionWorld,
) -> None:
    post = world.listing_post()
    before = world.posts_rows()

    # The client's own debug logging asked for too: it stays quiet all the same.
    done = caption_cli(world, "--id", str(post), OPENAI_LOG="debug")

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
    assert_clean(done)
    assert world.posts_rows() == before


@pytest.mark.postgres
def test_a_model_failure_exits_10_with_error_json(world: CaptionWorld) -> None:
    post = world.listing_post()
    before = world.posts_rows()
    world.model.script(failure(503))

    done = caption_cli(world, "--id", str(post), PUBLISHER_CAPTIONS_MAX_RETRIES="1")

    assert done.returncode == 10, done.stderr
    assert done.stdout == ""
    error = error_json(done.stderr)
    assert error["code"] == "ModelUnavailable"
    assert error["status"] == 502
    assert [(e["field"], e["rule"]) for e in error["errors"]] == [
        ("model", "model_error")
    ]
    assert len(world.model.requests) == 2
    assert_clean(done)
    assert world.posts_rows() == before


@pytest.mark.postgres
def test_an_unknown_post_exits_8(world: CaptionWorld) -> None:
    done = caption_cli(world, "--id", str(uuid4()))

    assert done.returncode == 8, done.stderr
    error = error_json(done.stderr)
    assert error["status"] == 404
    assert error["errors"][0]["field"] == "post"
    assert world.model.requests == []


@pytest.mark.postgres
def test_another_brands_listing_exits_6_naming_listing(world: CaptionWorld) -> None:
    post = world.listing_post()
    other = world.listing(brand=world.other_brand())

    done = caption_cli(world, "--id", str(post), "--listing", str(other))

    assert done.returncode == 6, done.stderr
    error = error_json(done.stderr)
    assert error["errors"][0]["field"] == "listing"
    assert world.model.requests == []


@pytest.mark.postgres
def test_without_a_model_the_builtin_writer_answers(world: CaptionWorld) -> None:
    instance = world.instance(name="Holiday card", template_type="Christmas")
    post = world.post(instance)

    done = caption_cli(world, "--id", str(post), model=False)

    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)["data"]
    assert data["source"] == "builtin"
    assert data["model"] is None
    assert data["grounding"] == "creative"
    assert data["caption"].startswith("Merry Christmas from Harbor Realty!")
    assert caption_problems(data["caption"]) == []
    assert world.model.requests == []


def test_on_sqlite_both_writers_answer(sqlite_world: CaptionWorld) -> None:
    post = sqlite_world.listing_post()

    builtin = caption_cli(sqlite_world, "--id", str(post), model=False)
    model = caption_cli(sqlite_world, "--id", str(post))

    assert builtin.returncode == 0, builtin.stderr
    caption = json.loads(builtin.stdout)["data"]["caption"]
    assert caption.startswith("Just listed: 12 Harbor View Road")
    assert "4 bedrooms · 2.5 bathrooms · 2,380 sq ft" in caption
    assert model.returncode == 0, model.stderr
    assert json.loads(model.stdout)["data"]["images"] == 2
    (request,) = sqlite_world.model.requests
    assert request.facts["listing"]["bathrooms"] == 2.5
    assert [colour_index(url) for url in request.image_urls] == [0, 1]
