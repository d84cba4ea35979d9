"""Caption recommendations against a hostile model server: every answer that holds
no usable caption, every error status, timeout and dropped connection is a clear
error naming the field and the rule, the API key is never printed, and no post
row changes; every answer returned fits Instagram's rules."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from publisher import posts
from publisher.posts.errors import ModelUnavailable
from publisher.rules import caption_problems
from publisher.settings import Settings
from tests.attack_model_server import AttackModelServer, Reply, completion
from tests.builders import free_port
from tests.captions_attack_world import (
    KEY,
    World,
    listing_post,
    model_settings,
    refused,
    world,
)

__all__ = ["model_settings", "world"]

Build = Callable[..., Settings]


# Answers in the shape of a completion that hold no caption a person could use.
UNUSABLE = {
    "empty": completion(""),
    "whitespace": completion("  \n\t \n"),
    "null_content": completion(None),
    "empty_fence": completion("```\n\n```"),
    "empty_quotes": completion('""'),
    "no_choices_key": {"id": "x", "object": "chat.completion", "model": "m"},
    "empty_choices": {**completion("x"), "choices": []},
    "null_message": {**completion("x"), "choices": [{"index": 0, "message": None}]},
    "choices_not_a_list": {**completion("x"), "choices": "hello"},
    "content_a_number": completion(12345),
    "content_an_object": completion({"caption": {"nested": True}}),
    "a_json_list": [1, 2, 3],
}


@pytest.mark.parametrize("body", UNUSABLE.values(), ids=UNUSABLE.keys())
def test_an_answer_without_a_usable_caption_is_a_clear_error(
    world: World, model_settings: Build, body: Any
) -> None:
    post = listing_post(world)
    with AttackModelServer(Reply(body=body)) as server:
        settings = model_settings(f"{server.url}/v1")
        refused(world, settings, post, "model_empty", "model_answer")


def test_content_as_a_list_of_text_parts_is_read_or_refused_cleanly(
    world: World, model_settings: Build
) -> None:
    """Some OpenAI-compatible servers answer `content` as parts; the text parts
    are the caption (a crash with AttributeError is not acceptable)."""
    post = listing_post(world)
    parts = [{"type": "text", "text": "Harbor views. #JustListed"}]
    with AttackModelServer(Reply(body=completion(parts))) as server:
        settings = model_settings(f"{server.url}/v1")
        try:
            result = posts.recommend_caption(
                world.engine, world.brand, post, settings=settings
            )
        except ModelUnavailable:
            return
    assert result["data"]["caption"] == "Harbor views. #JustListed"


def test_an_answer_without_a_model_name_still_names_the_configured_model(
    world: World, model_settings: Build
) -> None:
    post = listing_post(world)
    body = completion("Harbor views.")
    del body["model"]
    with AttackModelServer(Reply(body=body)) as server:
        result = posts.recommend_caption(
            world.engine,
            world.brand,
            post,
            settings=model_settings(f"{server.url}/v1"),
        )
    assert result["data"]["model"] == "attack-model"


NOT_JSON = {
    "invalid_json": Reply(body=b'{"choices": [', content_type="application/json"),
    "html_page": Reply(body=b"<html>login</html>", content_type="text/html"),
    "plain_text": Reply(body=b"Harbor views", content_type="text/plain"),
    "binary": Reply(body=bytes(range(256)), content_type="application/octet-stream"),
}


@pytest.mark.parametrize("reply", NOT_JSON.values(), ids=NOT_JSON.keys())
def test_a_body_that_is_not_a_completion_is_a_clear_error(
    world: World, model_settings: Build, reply: Reply
) -> None:
    post = listing_post(world)
    with AttackModelServer(reply) as server:
        settings = model_settings(f"{server.url}/v1")
        before = world.posts_rows()
        with pytest.raises(ModelUnavailable) as caught:
            posts.recommend_caption(world.engine, world.brand, post, settings=settings)
    assert caught.value.problems[0].field == "model"
    assert caught.value.problems[0].rule in {"model_answer", "model_empty"}
    assert world.posts_rows() == before


STATUSES = [
    (400, "model_error"),
    (401, "model_key"),
    (403, "model_key"),
    (404, "model_error"),
    (413, "model_error"),
    (429, "model_error"),
    (500, "model_error"),
    (503, "model_error"),
]


@pytest.mark.parametrize(("status", "rule"), STATUSES)
def test_an_error_status_is_named_and_never_echoes_the_key(
    world: World, model_settings: Build, status: int, rule: str
) -> None:
    """Hosted endpoints quote the key they refused, and a proxy may echo the
    request's headers; the message shown to the operator must not carry it."""
    post = listing_post(world)
    echo = {"error": {"message": f"Incorrect API key provided: {KEY}", "code": None}}
    with AttackModelServer(Reply(status=status, body=echo)) as server:
        message = refused(world, model_settings(f"{server.url}/v1"), post, rule)
    assert str(status) in message


def test_transient_errors_are_retried_then_answered(
    world: World, model_settings: Build
) -> None:
    post = listing_post(world)
    script = [Reply(status=503, body={"error": "busy"}), Reply(status=429, body={})]

    def reply(number: int) -> Reply:
        if number < len(script):
            return script[number]
        return Reply(body=completion("Harbor views."))

    with AttackModelServer(reply) as server:
        settings = model_settings(f"{server.url}/v1", captions_max_retries=2)
        result = posts.recommend_caption(
            world.engine, world.brand, post, settings=settings
        )
        assert len(server.requests) == 3
    assert result["data"]["caption"] == "Harbor views."


def test_retries_stop_at_max_retries(world: World, model_settings: Build) -> None:
    post = listing_post(world)
    with AttackModelServer(Reply(status=500, body={})) as server:
        settings = model_settings(f"{server.url}/v1", captions_max_retries=1)
        message = refused(world, settings, post, "model_error")
        assert len(server.requests) == 2
    assert "2 tries" in message


def test_a_model_slower_than_the_timeout_is_a_timeout(
    world: World, model_settings: Build
) -> None:
    post = listing_post(world)
    with AttackModelServer(Reply(delay=3, body=completion("late"))) as server:
        settings = model_settings(f"{server.url}/v1", captions_timeout_seconds=1)
        refused(world, settings, post, "model_timeout")


def test_a_trickled_answer_longer_than_the_timeout_is_a_timeout(
    world: World, model_settings: Build
) -> None:
    """`timeout_seconds` is how long to wait for the answer: a server sending a
    byte every 0.4 s never trips a per-read timeout, but must not hold the caller
    for many times the configured wait."""
    post = listing_post(world)
    slow = Reply(body=completion("Harbor views."), trickle=8, pause=0.4)
    with AttackModelServer(slow) as server:
        settings = model_settings(f"{server.url}/v1", captions_timeout_seconds=1)
        refused(world, settings, post, "model_timeout")


def test_a_dropped_connection_is_unreachable(
    world: World, model_settings: Build
) -> None:
    post = listing_post(world)
    with AttackModelServer(Reply(drop=True)) as server:
        refused(world, model_settings(f"{server.url}/v1"), post, "model_unreachable")


def test_nothing_listening_is_unreachable(world: World, model_settings: Build) -> None:
    post = listing_post(world)
    url = f"http://127.0.0.1:{free_port()}/v1"
    refused(world, model_settings(url), post, "model_unreachable")


def test_a_redirect_elsewhere_does_not_carry_the_key(
    world: World, model_settings: Build
) -> None:
    post = listing_post(world)
    with AttackModelServer() as other:
        moved = Reply(
            status=307,
            body={},
            headers={"Location": f"{other.url}/v1/chat/completions"},
        )
        with AttackModelServer(moved) as server:
            settings = model_settings(f"{server.url}/v1")
            with contextlib.suppress(ModelUnavailable):
                posts.recommend_caption(
                    world.engine, world.brand, post, settings=settings
                )
        assert len(other.requests) <= 1
        for request in other.requests:
            assert KEY not in json.dumps(request.headers)


LONG = {
    "100k_chars": "Harbor views and more. " * 4500,
    "100_hashtags": " ".join(f"#tag{n}" for n in range(100)),
    "40_hashtags_and_long": "Light-filled cape. " * 150
    + " ".join(f"#home{n}" for n in range(40)),
    "no_spaces": "x" * 100_000,
    "emoji_at_the_limit": "a" * 2198 + "🏡🏡🏡",
    "30_mentions": " ".join(f"@agent{n}" for n in range(30)),
    "doubled_at_mentions": " ".join(f"@@agent{n}" for n in range(25)),
    "hashtags_glued": "#a" * 60,
}


@pytest.mark.parametrize("answer", LONG.values(), ids=LONG.keys())
def test_any_answer_is_fitted_to_instagram_rules(
    world: World, model_settings: Build, answer: str
) -> None:
    post = listing_post(world)
    with AttackModelServer(Reply(body=completion(answer))) as server:
        before = world.posts_rows()
        result = posts.recommend_caption(
            world.engine, world.brand, post, settings=model_settings(f"{server.url}/v1")
        )
    caption = result["data"]["caption"]
    assert caption and not caption_problems(caption)
    assert result["data"]["adjustments"]
    assert world.posts_rows() == before


WRAPPED = {
    "fence": "```text\nHarbor views. #JustListed\n```",
    "fence_no_lang": "```\nHarbor views. #JustListed\n```",
    "quotes": '"Harbor views. #JustListed"',
    "curly": "“Harbor views. #JustListed”",
    "label": "Caption: Harbor views. #JustListed",
    "label_and_quotes": 'Instagram caption: "Harbor views. #JustListed"',
    "preamble_and_fence": "Here is your caption:\n```\nHarbor views. #JustListed\n```",
}


def test_quotes_inside_the_caption_are_kept(
    world: World, model_settings: Build
) -> None:
    """Only quotes wrapping the whole answer are the model's; a caption that
    starts and ends with two quoted phrases keeps both pairs."""
    answer = '"Sold in 3 days!" and "Best agent ever!"'
    post = listing_post(world)
    with AttackModelServer(Reply(body=completion(answer))) as server:
        result = posts.recommend_caption(
            world.engine, world.brand, post, settings=model_settings(f"{server.url}/v1")
        )
    assert result["data"]["caption"] == answer


@pytest.mark.parametrize("answer", WRAPPED.values(), ids=WRAPPED.keys())
def test_a_wrapped_answer_is_unwrapped(
    world: World, model_settings: Build, answer: str
) -> None:
    post = listing_post(world)
    with AttackModelServer(Reply(body=completion(answer))) as server:
        result = posts.recommend_caption(
            world.engine, world.brand, post, settings=model_settings(f"{server.url}/v1")
        )
    assert result["data"]["caption"] == "Harbor views. #JustListed"


def test_a_base_url_without_v1_gets_an_error_naming_the_setting(
    world: World, model_settings: Build
) -> None:
    """`http://127.0.0.1:11434` instead of `.../v1` is the usual slip with a
    local server: the client posts to `/chat/completions`, which answers 404.
    The operator should be told which setting to look at."""
    post = listing_post(world)
    missing = Reply(status=404, body={"error": {"message": "404 page not found"}})
    with AttackModelServer(missing) as server:
        message = refused(world, model_settings(server.url), post, "model_error")
        assert [r.path for r in server.requests] == ["/chat/completions"]
    assert "base_url" in message


def test_no_database_connection_is_held_while_the_model_thinks(
    world: World, model_settings: Build
) -> None:
    """While the model takes its time, the post can be locked and written by
    others (the worker, an editor): nothing waits on the recommendation."""
    post = listing_post(world)
    seen: list[Any] = []

    def reply(number: int) -> Reply:
        with world.engine.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '1s'"))
            seen.append(
                conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE state LIKE "
                        "'idle in transaction%' AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
            )
            conn.execute(
                text("SELECT id FROM social_posts WHERE id = :p FOR UPDATE NOWAIT"),
                {"p": post},
            )
        return Reply(body=completion("Harbor views."))

    with AttackModelServer(reply) as server:
        result = posts.recommend_caption(
            world.engine, world.brand, post, settings=model_settings(f"{server.url}/v1")
        )
    assert seen == [0]
    assert result["data"]["caption"] == "Harbor views."
