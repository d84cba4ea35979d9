"""Caption recommendations against a hostile model server, a careless operator's
configuration and command line: every failure is a clear error naming the field
and the rule, no stack trace reaches the user, the API key is never printed, and
no post row changes."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from publisher import posts
from publisher.posts.errors import ModelUnavailable
from publisher.rules import caption_problems
from publisher.settings import Settings
from tests.attack_model_server import AttackModelServer, Reply, completion
from tests.builders import free_port
from tests.captions_attack_world import (
    KEY,
    World,
    caption_cli,
    model_settings,
    world,
)

__all__ = ["model_settings", "world"]

Build = Callable[..., Settings]


def _listing_post(world: World) -> Any:
    instance = world.instance()
    world.listing(instance, photos=2)
    return world.post(instance)


def _refused(world: World, settings: Settings, post: Any, rule: str) -> str:
    """The recommendation must fail as `model`/`rule`, keep the key out of the
    message and leave every post row as it was; returns the message."""
    before = world.posts_rows()
    with pytest.raises(ModelUnavailable) as caught:
        posts.recommend_caption(world.engine, world.brand, post, settings=settings)
    found = [(p.field, p.rule) for p in caught.value.problems]
    assert found == [("model", rule)], found
    message = json.dumps(caught.value.to_json())
    assert KEY not in message
    assert world.posts_rows() == before
    return message


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
    post = _listing_post(world)
    with AttackModelServer(Reply(body=body)) as server:
        settings = model_settings(f"{server.url}/v1")
        _refused(world, settings, post, "model_empty")


def test_content_as_a_list_of_text_parts_is_read_or_refused_cleanly(
    world: World, model_settings: Build
) -> None:
    """Some OpenAI-compatible servers answer `content` as parts; the text parts
    are the caption (a crash with AttributeError is not acceptable)."""
    post = _listing_post(world)
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
    post = _listing_post(world)
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
    post = _listing_post(world)
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
    post = _listing_post(world)
    echo = {"error": {"message": f"Incorrect API key provided: {KEY}", "code": None}}
    with AttackModelServer(Reply(status=status, body=echo)) as server:
        message = _refused(world, model_settings(f"{server.url}/v1"), post, rule)
    assert str(status) in message


def test_transient_errors_are_retried_then_answered(
    world: World, model_settings: Build
) -> None:
    post = _listing_post(world)
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
    post = _listing_post(world)
    with AttackModelServer(Reply(status=500, body={})) as server:
        settings = model_settings(f"{server.url}/v1", captions_max_retries=1)
        message = _refused(world, settings, post, "model_error")
        assert len(server.requests) == 2
    assert "2 tries" in message


def test_a_model_slower_than_the_timeout_is_a_timeout(
    world: World, model_settings: Build
) -> None:
    post = _listing_post(world)
    with AttackModelServer(Reply(delay=3, body=completion("late"))) as server:
        settings = model_settings(f"{server.url}/v1", captions_timeout_seconds=1)
        _refused(world, settings, post, "model_timeout")


def test_a_trickled_answer_longer_than_the_timeout_is_a_timeout(
    world: World, model_settings: Build
) -> None:
    """`timeout_seconds` is how long to wait for the answer: a server sending a
    byte every 0.4 s never trips a per-read timeout, but must not hold the caller
    for many times the configured wait."""
    post = _listing_post(world)
    slow = Reply(body=completion("Harbor views."), trickle=8, pause=0.4)
    with AttackModelServer(slow) as server:
        settings = model_settings(f"{server.url}/v1", captions_timeout_seconds=1)
        _refused(world, settings, post, "model_timeout")


def test_a_dropped_connection_is_unreachable(
    world: World, model_settings: Build
) -> None:
    post = _listing_post(world)
    with AttackModelServer(Reply(drop=True)) as server:
        _refused(world, model_settings(f"{server.url}/v1"), post, "model_unreachable")


def test_nothing_listening_is_unreachable(world: World, model_settings: Build) -> None:
    post = _listing_post(world)
    url = f"http://127.0.0.1:{free_port()}/v1"
    _refused(world, model_settings(url), post, "model_unreachable")


def test_a_redirect_elsewhere_does_not_carry_the_key(
    world: World, model_settings: Build
) -> None:
    post = _listing_post(world)
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
    post = _listing_post(world)
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
    post = _listing_post(world)
    with AttackModelServer(Reply(body=completion(answer))) as server:
        result = posts.recommend_caption(
            world.engine, world.brand, post, settings=model_settings(f"{server.url}/v1")
        )
    assert result["data"]["caption"] == answer


@pytest.mark.parametrize("answer", WRAPPED.values(), ids=WRAPPED.keys())
def test_a_wrapped_answer_is_unwrapped(
    world: World, model_settings: Build, answer: str
) -> None:
    post = _listing_post(world)
    with AttackModelServer(Reply(body=completion(answer))) as server:
        result = posts.recommend_caption(
            world.engine, world.brand, post, settings=model_settings(f"{server.url}/v1")
        )
    assert result["data"]["caption"] == "Harbor views. #JustListed"


# --- the command line, as an operator runs it ----------------------------------


def _no_trace(done: Any) -> None:
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    assert KEY not in done.stderr and KEY not in done.stdout


CLI_MISTAKES = {
    "no_id": ([], "post"),
    "empty_id": (["--id", ""], "post"),
    "bad_id": (["--id", "not-a-uuid"], "post"),
    "empty_listing": (["--id", "{post}", "--listing", ""], "listing"),
    "bad_listing": (["--id", "{post}", "--listing", "12"], "listing"),
    "unknown_option": (["--id", "{post}", "--model", "gpt"], "command"),
    "extra_argument": (["--id", "{post}", "surplus"], "command"),
}


@pytest.mark.parametrize(("args", "field"), CLI_MISTAKES.values(), ids=CLI_MISTAKES)
def test_cli_mistakes_are_json_errors_naming_the_field(
    world: World, tmp_path: Path, args: list[str], field: str
) -> None:
    post = _listing_post(world)
    before = world.posts_rows()
    filled = [arg.format(post=post) for arg in args]
    done = caption_cli(world, tmp_path, "--brand", str(world.brand), *filled)
    assert done.returncode == 6, done.stderr
    _no_trace(done)
    error = json.loads(done.stderr[done.stderr.index("{") :])
    assert field in [p["field"] for p in error["errors"]], error
    assert world.posts_rows() == before


def test_cli_model_failure_is_exit_10_without_the_key_in_debug_logs(
    world: World, tmp_path: Path
) -> None:
    post = _listing_post(world)
    echo = {"error": {"message": f"bad request from key {KEY}"}}
    with AttackModelServer(Reply(status=500, body=echo)) as server:
        before = world.posts_rows()
        done = caption_cli(
            world,
            tmp_path,
            "--brand",
            str(world.brand),
            "--id",
            str(post),
            PUBLISHER_CAPTIONS_BASE_URL=f"{server.url}/v1",
            PUBLISHER_CAPTIONS_MODEL="attack-model",
        )
        assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert done.returncode == 10, done.stderr
    _no_trace(done)
    assert '"rule": "model_error"' in done.stderr
    assert world.posts_rows() == before


def test_cli_unreadable_answer_is_exit_10_not_a_traceback(
    world: World, tmp_path: Path
) -> None:
    post = _listing_post(world)
    body = {**completion("x"), "choices": [{"index": 0, "message": None}]}
    with AttackModelServer(Reply(body=body)) as server:
        done = caption_cli(
            world,
            tmp_path,
            "--brand",
            str(world.brand),
            "--id",
            str(post),
            PUBLISHER_CAPTIONS_BASE_URL=f"{server.url}/v1",
            PUBLISHER_CAPTIONS_MODEL="attack-model",
        )
    _no_trace(done)
    assert done.returncode == 10, done.stderr


BAD_CONFIG = {
    "url_without_model": {"PUBLISHER_CAPTIONS_BASE_URL": "http://127.0.0.1:9/v1"},
    "timeout_zero": {"PUBLISHER_CAPTIONS_TIMEOUT_SECONDS": "0"},
    "timeout_negative": {"PUBLISHER_CAPTIONS_TIMEOUT_SECONDS": "-1"},
    "timeout_nan": {"PUBLISHER_CAPTIONS_TIMEOUT_SECONDS": "nan"},
    "timeout_inf": {"PUBLISHER_CAPTIONS_TIMEOUT_SECONDS": "inf"},
    "timeout_words": {"PUBLISHER_CAPTIONS_TIMEOUT_SECONDS": "a minute"},
    "retries_negative": {"PUBLISHER_CAPTIONS_MAX_RETRIES": "-1"},
    "not_http": {
        "PUBLISHER_CAPTIONS_BASE_URL": "file:///etc/passwd",
        "PUBLISHER_CAPTIONS_MODEL": "m",
    },
    "empty_model": {
        "PUBLISHER_CAPTIONS_BASE_URL": "http://127.0.0.1:9/v1",
        "PUBLISHER_CAPTIONS_MODEL": "",
    },
}


@pytest.mark.parametrize("env", BAD_CONFIG.values(), ids=BAD_CONFIG.keys())
def test_bad_caption_config_stops_with_exit_2_naming_the_key(
    world: World, tmp_path: Path, env: dict[str, str]
) -> None:
    post = _listing_post(world)
    done = caption_cli(
        world, tmp_path, "--brand", str(world.brand), "--id", str(post), **env
    )
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    _no_trace(done)
    assert "captions" in done.stderr.lower()


def test_an_api_key_in_a_config_file_is_refused(world: World, tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    config.write_text("captions:\n  api_key: sk-in-a-file-0000\n")
    post = _listing_post(world)
    done = caption_cli(
        world,
        tmp_path,
        "--brand",
        str(world.brand),
        "--id",
        str(post),
        PUBLISHER_CONFIG=str(config),
    )
    assert done.returncode == 2
    assert "sk-in-a-file-0000" not in done.stderr + done.stdout
    assert "PUBLISHER_CAPTIONS_API_KEY" in done.stderr


def test_credentials_in_the_base_url_are_not_printed(
    world: World, model_settings: Build
) -> None:
    """An operator may write `http://user:password@host/v1` for a proxy; when the
    model cannot be reached, the message names the host, not the password."""
    post = _listing_post(world)
    url = f"http://proxyuser:hunter2pass@127.0.0.1:{free_port()}/v1"
    message = _refused(world, model_settings(url), post, "model_unreachable")
    assert "hunter2pass" not in message


@pytest.mark.parametrize("suffix", ["/v1", "/v1/"])
def test_a_base_url_with_or_without_a_trailing_slash_reaches_chat_completions(
    world: World, model_settings: Build, suffix: str
) -> None:
    post = _listing_post(world)
    with AttackModelServer() as server:
        posts.recommend_caption(
            world.engine,
            world.brand,
            post,
            settings=model_settings(server.url + suffix),
        )
        assert [r.path for r in server.requests] == ["/v1/chat/completions"]


def test_cli_success_with_debug_logs_never_prints_the_key(
    world: World, tmp_path: Path
) -> None:
    post = _listing_post(world)
    with AttackModelServer() as server:
        done = caption_cli(
            world,
            tmp_path,
            "--brand",
            str(world.brand),
            "--id",
            str(post),
            PUBLISHER_CAPTIONS_BASE_URL=f"{server.url}/v1",
            PUBLISHER_CAPTIONS_MODEL="attack-model",
        )
    assert done.returncode == 0, done.stderr
    _no_trace(done)
    assert json.loads(done.stdout)["data"]["source"] == "model"


def test_cli_listing_of_another_brand_is_exit_6(world: World, tmp_path: Path) -> None:
    from publisher import sample

    with world.engine.begin() as conn:
        other = sample.insert_brand(conn, "Rival Realty")
    theirs = world.listing(brand=other)
    post = _listing_post(world)
    done = caption_cli(
        world,
        tmp_path,
        "--brand",
        str(world.brand),
        "--id",
        str(post),
        "--listing",
        str(theirs),
    )
    assert done.returncode == 6, done.stderr
    _no_trace(done)
    assert '"rule": "listing_exists"' in done.stderr
