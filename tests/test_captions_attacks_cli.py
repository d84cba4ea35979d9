"""`publisher posts caption` run as a careless operator runs it: wrong options,
bad configuration, a failing model; JSON errors and exit codes, no stack trace,
no API key in the output even with debug logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.builders import free_port
from tests.captions_command import assert_clean, caption_cli, error_json
from tests.captions_world import KEY, CaptionWorld, world
from tests.model_server import Reply, completion

__all__ = ["world"]

pytestmark = pytest.mark.postgres


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
    world: CaptionWorld, args: list[str], field: str
) -> None:
    post = world.listing_post()
    before = world.posts_rows()
    done = caption_cli(world, *[arg.format(post=post) for arg in args], model=False)
    assert done.returncode == 6, done.stderr
    assert_clean(done)
    error = error_json(done.stderr)
    assert field in [p["field"] for p in error["errors"]], error
    assert world.posts_rows() == before


def test_cli_model_failure_is_exit_10_without_the_key_in_debug_logs(
    world: CaptionWorld,
) -> None:
    post = world.listing_post()
    echo = {"error": {"message": f"bad request from key {KEY}"}}
    world.model.script(Reply(status=500, body=echo))
    before = world.posts_rows()
    done = caption_cli(world, "--id", str(post))
    assert world.model.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert done.returncode == 10, done.stderr
    assert_clean(done)
    assert '"rule": "model_error"' in done.stderr
    assert world.posts_rows() == before


def test_cli_unreadable_answer_is_exit_10_not_a_traceback(
    world: CaptionWorld,
) -> None:
    post = world.listing_post()
    body = {**completion("x"), "choices": [{"index": 0, "message": None}]}
    world.model.script(Reply(body=body))
    done = caption_cli(world, "--id", str(post))
    assert_clean(done)
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
    world: CaptionWorld, env: dict[str, str]
) -> None:
    done = caption_cli(world, "--id", str(world.listing_post()), model=False, **env)
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert_clean(done)
    assert "captions" in done.stderr.lower()


def test_an_api_key_in_a_config_file_is_refused(
    world: CaptionWorld, tmp_path: Path
) -> None:
    config = tmp_path / "site.yaml"
    config.write_text("captions:\n  api_key: sk-in-a-file-0000\n")
    post = world.listing_post()
    done = caption_cli(
        world, "--id", str(post), model=False, PUBLISHER_CONFIG=str(config)
    )
    assert done.returncode == 2
    assert "sk-in-a-file-0000" not in done.stderr + done.stdout
    assert "PUBLISHER_CAPTIONS_API_KEY" in done.stderr


def test_credentials_in_the_base_url_are_not_printed(world: CaptionWorld) -> None:
    """An operator may write `http://user:password@host/v1` for a proxy; when the
    model cannot be reached, the message names the host, not the password."""
    url = f"http://proxyuser:hunter2pass@127.0.0.1:{free_port()}/v1"
    post = world.listing_post()
    refused = world.refused(post, "model_unreachable", captions_base_url=url)
    assert "hunter2pass" not in str(refused.to_json())


@pytest.mark.parametrize("suffix", ["/v1", "/v1/"])
def test_a_base_url_with_or_without_a_trailing_slash_reaches_chat_completions(
    world: CaptionWorld, suffix: str
) -> None:
    world.recommend(world.listing_post(), captions_base_url=world.model.url + suffix)
    assert [r.path for r in world.model.requests] == ["/v1/chat/completions"]


def test_cli_success_with_debug_logs_never_prints_the_key(
    world: CaptionWorld,
) -> None:
    done = caption_cli(world, "--id", str(world.listing_post()))
    assert done.returncode == 0, done.stderr
    assert_clean(done)
    assert json.loads(done.stdout)["data"]["source"] == "model"


def test_cli_listing_of_another_brand_is_exit_6(world: CaptionWorld) -> None:
    theirs = world.listing(brand=world.other_brand("Rival Realty"))
    post = world.listing_post()
    done = caption_cli(world, "--id", str(post), "--listing", str(theirs), model=False)
    assert done.returncode == 6, done.stderr
    assert_clean(done)
    assert '"rule": "listing_exists"' in done.stderr
