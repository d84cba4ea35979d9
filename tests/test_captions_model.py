"""How a model's answers are handled, against a real local model server: retries of
timeouts and 5xx, clear errors when it still fails, an over-long answer fitted to
Instagram's rules, the key in the Authorization header. The post row is compared
whole before and after every call: a recommendation never writes it."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest

from publisher.rules import caption_problems, hashtag_count
from tests.builders import free_port
from tests.captions_world import CaptionWorld, world
from tests.model_server import Reply, answer, completion, failure

__all__ = ["world"]

pytestmark = pytest.mark.postgres


def test_a_model_that_times_out_is_retried_then_reported(world: CaptionWorld) -> None:
    post = world.listing_post()
    world.model.script(Reply(delay=5))

    refused = world.refused(
        post, "model_timeout", captions_timeout_seconds=0.5, captions_max_retries=1
    )

    problem = refused.problems[0]
    assert "did not answer within 0.5 s (2 tries)" in problem.message
    assert len(world.model.requests) == 2


def test_a_try_that_times_out_leaves_the_next_its_whole_timeout(
    world: CaptionWorld,
) -> None:
    """Each try gets `timeout_seconds`: the first one's wait is not taken from the
    second, which answers within its own."""
    post = world.listing_post()
    world.model.script([Reply(delay=5), answer("Second try.", delay=0.6)])

    got = world.recommend(post, captions_timeout_seconds=1, captions_max_retries=1)

    assert got["data"]["caption"] == "Second try."
    assert len(world.model.requests) == 2


def test_a_429_waits_for_its_retry_after_and_is_not_a_timeout(
    world: CaptionWorld,
) -> None:
    """A Retry-After longer than the timeout is a wait between tries, not a try
    that took too long."""
    post = world.listing_post()
    busy = Reply(status=429, body=failure(429).body, headers={"Retry-After": "2"})
    world.model.script([busy, answer("After the wait.")])

    started = time.monotonic()
    got = world.recommend(post, captions_timeout_seconds=1, captions_max_retries=1)

    assert got["data"]["caption"] == "After the wait."
    assert time.monotonic() - started >= 2
    assert len(world.model.requests) == 2


def test_an_answer_cut_off_at_the_length_limit_says_so(world: CaptionWorld) -> None:
    post = world.listing_post()
    body = completion("Sunlit rooms and a harbor")
    body["choices"][0]["finish_reason"] = "length"
    world.model.script(Reply(body=body))

    got = world.recommend(post)

    assert got["data"]["caption"] == "Sunlit rooms and a harbor"
    assert got["data"]["adjustments"] == [
        "the model stopped at its length limit, so the caption may end early"
    ]


def test_a_503_is_retried_and_the_next_answer_is_used(world: CaptionWorld) -> None:
    post = world.listing_post()
    world.model.script([failure(503), answer("Harbor views, four bedrooms.")])

    got = world.recommend(post, captions_max_retries=2)

    assert got["data"]["caption"] == "Harbor views, four bedrooms."
    assert got["data"]["source"] == "model"
    sent = world.model.requests
    assert len(sent) == 2
    assert sent[0].body == sent[1].body


def test_a_model_that_always_answers_500_is_reported(world: CaptionWorld) -> None:
    post = world.listing_post()
    world.model.script(failure(500))

    refused = world.refused(post, "model_error", captions_max_retries=1)

    problem = refused.problems[0]
    assert "answered 500 (2 tries)" in problem.message
    assert "scripted failure 500" in problem.message
    assert len(world.model.requests) == 2


def test_an_over_long_answer_with_40_hashtags_is_fitted(world: CaptionWorld) -> None:
    post = world.listing_post()
    words = " ".join(["Bright rooms and a deep garden by the harbor."] * 60)
    tags = " ".join(f"#tag{n}" for n in range(40))
    world.model.script(answer(f"{words}\n\n{tags}"))

    got = world.recommend(post)

    caption = got["data"]["caption"]
    assert caption_problems(caption) == []
    assert len(caption) <= 2200
    assert hashtag_count(caption) <= 30
    adjustments = got["data"]["adjustments"]
    assert "kept the first 30 of 40 hashtags" in adjustments
    assert any(a.startswith("cut from ") for a in adjustments), adjustments
    assert caption.startswith("Bright rooms and a deep garden by the harbor.")


def test_an_empty_answer_is_reported(world: CaptionWorld) -> None:
    post = world.listing_post()
    world.model.script(answer(""))

    world.refused(post, "model_empty")


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b"<html><body>Sign in to the proxy</body></html>", "text/html"),
        (b"{not json", "application/json"),
        (b'{"object": "list", "data": []}', "application/json"),
        (b'{"choices": [{"index": 0}]}', "application/json"),
        (b'{"choices": [{"message": {"content": 42}}]}', "application/json"),
    ],
)
def test_an_answer_that_is_no_chat_completion_is_reported(
    world: CaptionWorld, raw: bytes, content_type: str
) -> None:
    post = world.listing_post()
    world.model.script(Reply(body=raw, content_type=content_type))

    refused = world.refused(post, "model_answer")

    assert "not understood" in refused.problems[0].message


def test_a_completion_without_text_is_an_empty_answer(world: CaptionWorld) -> None:
    post = world.listing_post()
    world.model.script(
        Reply(body=b'{"model": "m", "choices": [{"message": {"role": "assistant"}}]}')
    )

    world.refused(post, "model_empty")


def test_an_answer_in_a_fence_with_a_label_is_tidied(world: CaptionWorld) -> None:
    post = world.listing_post()
    world.model.script(answer('```\nCaption: "Welcome home to the harbor."\n```'))

    got = world.recommend(post)

    assert got["data"]["caption"] == "Welcome home to the harbor."


def test_an_answer_a_post_could_not_store_is_cleaned(world: CaptionWorld) -> None:
    post = world.listing_post()
    # Sent as the JSON escapes \u0000 and \ud83d, as a server may send them.
    world.model.script(answer("Harbor\x00 views \ud83d and a deep garden."))

    got = world.recommend(post)

    caption = got["data"]["caption"]
    assert caption == "Harbor views  and a deep garden."
    caption.encode("utf-8")


def test_the_key_goes_out_as_a_bearer_token(world: CaptionWorld) -> None:
    post = world.listing_post()

    world.recommend(post, captions_api_key="sk-test-0123456789abcdef")

    (request,) = world.model.requests
    assert request.headers["authorization"] == "Bearer sk-test-0123456789abcdef"
    assert b"sk-test-0123456789abcdef" not in request.body


def test_a_refused_key_is_reported_without_retrying(world: CaptionWorld) -> None:
    post = world.listing_post()
    world.model.script(failure(401))

    refused = world.refused(
        post, "model_key", captions_api_key="sk-wrong-key", captions_max_retries=2
    )

    problem = refused.problems[0]
    assert "PUBLISHER_CAPTIONS_API_KEY" in problem.message
    assert "sk-wrong-key" not in problem.message
    assert len(world.model.requests) == 1


def test_an_unreachable_model_is_reported(world: CaptionWorld) -> None:
    post = world.listing_post()
    nowhere = f"http://127.0.0.1:{free_port()}/v1"

    world.refused(post, "model_unreachable", captions_base_url=nowhere)


def test_a_password_in_the_base_url_is_not_in_the_error(world: CaptionWorld) -> None:
    post = world.listing_post()
    world.model.script(failure(500))
    port = urlsplit(world.model.base_url).port
    with_password = f"http://relay:hunter2-secret@127.0.0.1:{port}/v1"

    refused = world.refused(post, "model_error", captions_base_url=with_password)

    message = refused.problems[0].message
    assert message.startswith(f"the model at 127.0.0.1:{port} answered 500")
    assert "hunter2" not in message


def test_without_a_model_the_builtin_writer_answers_and_says_so(
    world: CaptionWorld,
) -> None:
    post = world.listing_post()

    first = world.recommend(post, model=False)
    second = world.recommend(post, model=False)

    assert world.model.requests == []
    assert first == second
    data = first["data"]
    assert data["source"] == "builtin"
    assert data["model"] is None
    assert data["images"] == 0
    assert data["caption"].startswith(
        "Just listed: 12 Harbor View Road, Portland, ME 04101"
    )
    assert "$849,000" in data["caption"]
    assert caption_problems(data["caption"]) == []
