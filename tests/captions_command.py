"""`publisher posts caption` run as a subprocess against a caption world, and
checks of what it printed."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from tests.builders import run_cli
from tests.captions_world import CONFIGURED_MODEL, KEY, CaptionWorld


def caption_cli(
    world: CaptionWorld, *args: str, model: bool = True, **env: str
) -> subprocess.CompletedProcess[str]:
    """`publisher posts caption --brand <ours> ...` as an operator runs it, with
    the model server configured (`model=False`: none) and debug JSON logs;
    none of the caller's own PUBLISHER_ variables leaks into it."""
    values = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    values.update(
        PUBLISHER_DATABASE_URL=world.url,
        PUBLISHER_MEDIA_DIRECTORY=str(world.media_dir),
        PUBLISHER_MEDIA_BASE_URL=world.media.url,
        PUBLISHER_LOG_FORMAT="json",
        PUBLISHER_LOG_LEVEL="debug",
        PUBLISHER_CAPTIONS_API_KEY=KEY,
        PUBLISHER_CAPTIONS_MAX_RETRIES="0",
        PUBLISHER_CAPTIONS_TIMEOUT_SECONDS="10",
    )
    if model:
        values["PUBLISHER_CAPTIONS_BASE_URL"] = world.model.base_url
        values["PUBLISHER_CAPTIONS_MODEL"] = CONFIGURED_MODEL
    values.update(env)
    brand = ("--brand", str(world.brand))
    return run_cli(
        world.media_dir.parent, "posts", "caption", *brand, *args, env=values
    )


def assert_clean(done: subprocess.CompletedProcess[str]) -> None:
    """No stack trace and no API key (nor its tail) in what the command printed."""
    printed = done.stdout + done.stderr
    assert "Traceback" not in printed
    assert KEY not in printed and KEY[-8:] not in printed


def error_json(stderr: str) -> dict[str, Any]:
    """The error document among the JSON log lines on standard error."""
    start = stderr.index("{\n")
    error, _ = json.JSONDecoder().raw_decode(stderr[start:])
    assert isinstance(error, dict)
    return error
