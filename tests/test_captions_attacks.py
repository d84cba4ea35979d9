"""Caption recommendations against a hostile model server: every answer that holds
no usable caption, every error status, timeout and dropped connection is a clear
error naming the field and the rule, the API key is never printed, and no post
row changes; every answer returned fits Instagram's rules."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from sqlalchemy import text

from publisher.posts.errors import ModelUnavailable
from publisher.rules import caption_problems
from tests.captions_world import CONFIGURED_MODEL, KEY, CaptionWorld, world
from tests.model_server import ModelServer, Reply, answer, completion

__all__ = ["world"]

pytestmark = pytest.mark.postgres


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
    world: CaptionWorld, body: Any
) -> None:
    world.model.script(Reply(body=body))
    world.refused(world.listing_post(), "model_empty", "model_answer")


def test_content_as_a_list_of_text_parts_is_read_or_refused_cleanly(
    world: CaptionWorld,
) -> None:
    """Some OpenAI-compatible servers answer `content` as parts; the text parts
    are the caption (a crash with AttributeError is not acceptable)."""
    post = world.listing_post()
    world.model.script(answer([{"type": "text", "text": "Harbor views. #JustListed"}]))
    try:
        result = world.recommend(post)
    except ModelUnavailable:
        return
    assert result["data"]["caption"] == "Harbor views. #JustListed"


def test_an_answer_without_a_model_name_still_names_the_configured_model(
    world: CaptionWorld,
) -> None:
    post = world.listing_post()
    body = completion("Harbor views.")
    del body["model"]
    world.model.script(Reply(body=body))
    assert world.recommend(post)["data"]["model"] == CONFIGURED_MODEL


NOT_JSON = {
    "invalid_json": Reply(body=b'{"choices": [', content_type="application/json"),
    "html_page": Reply(body=b"<html>login</html>", content_type="text/html"),
    "plain_text": Reply(body=b"Harbor views", content_type="text/plain"),
    "binary": Reply(body=bytes(range(256)), content_type="application/octet-stream"),
}


@pytest.mark.parametrize("reply", NOT_JSON.values(), ids=NOT_JSON.keys())
def test_a_body_that_is_not_a_completion_is_a_clear_error(
    world: CaptionWorld, reply: Reply
) -> None:
    world.model.script(reply)
    world.refused(world.listing_post(), "model_answer", "model_empty")


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
    world: CaptionWorld, status: int, rule: str
) -> None:
    """Hosted endpoints quote the key they refused, and a proxy may echo the
    request's headers; the message shown to the operator must not carry it."""
    echo = {"error": {"message": f"Incorrect API key provided: {KEY}", "code": None}}
    world.model.script(Reply(status=status, body=echo))
    refused = world.refused(world.listing_post(), rule)
    assert str(status) in str(refused.to_json())


def test_transient_errors_are_retried_then_answered(world: CaptionWorld) -> None:
    post = world.listing_post()
    busy = Reply(status=503, body={"error": "busy"})
    world.model.script([busy, Reply(status=429, body={}), answer("Harbor views.")])
    result = world.recommend(post, captions_max_retries=2)
    assert len(world.model.requests) == 3
    assert result["data"]["caption"] == "Harbor views."


def test_retries_stop_at_max_retries(world: CaptionWorld) -> None:
    world.model.script(Reply(status=500, body={}))
    refused = world.refused(world.listing_post(), "model_error", captions_max_retries=1)
    assert len(world.model.requests) == 2
    assert "2 tries" in str(refused.to_json())


def test_a_model_slower_than_the_timeout_is_a_timeout(world: CaptionWorld) -> None:
    world.model.script(answer("late", delay=3))
    world.refused(world.listing_post(), "model_timeout", captions_timeout_seconds=1)


def test_a_trickled_answer_longer_than_the_timeout_is_a_timeout(
    world: CaptionWorld,
) -> None:
    """`timeout_seconds` is how long to wait for the answer: a server sending a
    byte every 0.4 s never trips a per-read timeout, but must not hold the caller
    for many times the configured wait."""
    world.model.script(answer("Harbor views.", trickle=8, pause=0.4))
    world.refused(world.listing_post(), "model_timeout", captions_timeout_seconds=1)


def test_a_dropped_connection_is_unreachable(world: CaptionWorld) -> None:
    world.model.script(Reply(drop=True))
    world.refused(world.listing_post(), "model_unreachable")


def test_a_redirect_elsewhere_does_not_carry_the_key(world: CaptionWorld) -> None:
    post = world.listing_post()
    with ModelServer() as other:
        elsewhere = {"Location": f"{other.base_url}/chat/completions"}
        world.model.script(Reply(status=307, body={}, headers=elsewhere))
        with contextlib.suppress(ModelUnavailable):
            world.recommend(post)
        assert len(other.requests) <= 1
        for request in other.requests:
            assert KEY not in json.dumps(request.headers)


def _caption_of(world: CaptionWorld, said: str) -> dict[str, Any]:
    """The recommendation's data when the model answers `said`."""
    post = world.listing_post()
    world.model.script(answer(said))
    data = world.recommend(post)["data"]
    assert isinstance(data, dict)
    return data


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


@pytest.mark.parametrize("said", LONG.values(), ids=LONG.keys())
def test_any_answer_is_fitted_to_instagram_rules(
    world: CaptionWorld, said: str
) -> None:
    data = _caption_of(world, said)
    assert data["caption"] and not caption_problems(data["caption"])
    assert data["adjustments"]


WRAPPED = {
    "fence": "```text\nHarbor views. #JustListed\n```",
    "fence_no_lang": "```\nHarbor views. #JustListed\n```",
    "quotes": '"Harbor views. #JustListed"',
    "curly": "“Harbor views. #JustListed”",
    "label": "Caption: Harbor views. #JustListed",
    "label_and_quotes": 'Instagram caption: "Harbor views. #JustListed"',
    "preamble_and_fence": "Here is your caption:\n```\nHarbor views. #JustListed\n```",
}


def test_quotes_inside_the_caption_are_kept(world: CaptionWorld) -> None:
    """Only quotes wrapping the whole answer are the model's; a caption that
    starts and ends with two quoted phrases keeps both pairs."""
    said = '"Sold in 3 days!" and "Best agent ever!"'
    assert _caption_of(world, said)["caption"] == said


@pytest.mark.parametrize("said", WRAPPED.values(), ids=WRAPPED.keys())
def test_a_wrapped_answer_is_unwrapped(world: CaptionWorld, said: str) -> None:
    assert _caption_of(world, said)["caption"] == "Harbor views. #JustListed"


def test_a_base_url_without_v1_gets_an_error_naming_the_setting(
    world: CaptionWorld,
) -> None:
    """`http://127.0.0.1:11434` instead of `.../v1` is the usual slip with a
    local server: the client posts to `/chat/completions`, which answers 404.
    The operator should be told which setting to look at."""
    post = world.listing_post()
    refused = world.refused(post, "model_error", captions_base_url=world.model.url)
    assert [r.path for r in world.model.requests] == ["/chat/completions"]
    assert "base_url" in str(refused.to_json())


def test_no_database_connection_is_held_while_the_model_thinks(
    world: CaptionWorld,
) -> None:
    """While the model takes its time, the post can be locked and written by
    others (the worker, an editor): nothing waits on the recommendation."""
    post = world.listing_post()
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
        return answer("Harbor views.")

    world.model.script(reply)
    result = world.recommend(post)
    assert seen == [0]
    assert result["data"]["caption"] == "Harbor views."
