"""`publisher posts caption` run as a careless operator runs it: wrong options,
bad configuration, a failing model; JSON errors and exit codes, no stack trace,
no API key in the output even with debug logs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from publisher import posts, sample
from publisher.settings import Settings
from tests.attack_model_server import AttackModelServer, Reply, completion
from tests.builders import free_port
from tests.captions_attack_world import (
    KEY,
    World,
    caption_cli,
    listing_post,
    model_settings,
    refused,
    world,
)

__all__ = ["model_settings", "world"]

Build = Callable[..., Settings]


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
    post = listing_post(world)
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
    post = listing_post(world)
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
    post = listing_post(world)
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
    post = listing_post(world)
    done = caption_cli(
        world, tmp_path, "--brand", str(world.brand), "--id", str(post), **env
    )
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    _no_trace(done)
    assert "captions" in done.stderr.lower()


def test_an_api_key_in_a_config_file_is_refused(world: World, tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    config.write_text("captions:\n  api_key: sk-in-a-file-0000\n")
    post = listing_post(world)
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
    post = listing_post(world)
    url = f"http://proxyuser:hunter2pass@127.0.0.1:{free_port()}/v1"
    message = refused(world, model_settings(url), post, "model_unreachable")
    assert "hunter2pass" not in message


@pytest.mark.parametrize("suffix", ["/v1", "/v1/"])
def test_a_base_url_with_or_without_a_trailing_slash_reaches_chat_completions(
    world: World, model_settings: Build, suffix: str
) -> None:
    post = listing_post(world)
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
    post = listing_post(world)
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

    with world.engine.begin() as conn:
        other = sample.insert_brand(conn, "Rival Realty")
    theirs = world.listing(brand=other)
    post = listing_post(world)
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
