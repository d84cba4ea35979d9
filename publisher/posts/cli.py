"""`publisher posts ...`: the read/write module for operators, printing the JSON
the module returns. A refusal is printed as the module's error JSON on standard
error, and the exit code names its kind.

Exit codes: 0 done; 2 bad configuration; 5 the database cannot be reached;
6 invalid input (400); 7 forbidden (403); 8 not found (404); 9 conflict (409);
10 the caption model gave no usable answer (502).
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import OperationalError, ProgrammingError

from publisher.cli_settings import EXIT_UNAVAILABLE, settings_or_exit
from publisher.db import make_engine
from publisher.posts import caption, read, write
from publisher.posts.errors import PostsError, ValidationFailed
from publisher.posts.query import ORDER_FIELDS, STATUSES
from publisher.tables import MEDIUMS, metadata

EXIT_BY_STATUS = {400: 6, 403: 7, 404: 8, 409: 9, 502: 10}

_brand = click.option("--brand", required=True, help="The brand's id (uuid).")
_associations = click.option(
    "--associations",
    multiple=True,
    help="Nest social_post.template_instance, social_post.asset or "
    "social_post.owner; comma-separated or repeated.",
)
_data = click.option(
    "--data",
    help="The JSON body; read from standard input when absent.",
)


class _JsonUsage(click.Group):
    """Refuses a bad option of a `posts` command like any other invalid input: as
    the module's error JSON with exit code 6, not click's text with exit 2 (which
    this CLI means as bad configuration)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            click.echo(json.dumps(_usage_error(exc).to_json(), indent=2), err=True)
            ctx.exit(EXIT_BY_STATUS[ValidationFailed.status])


def _usage_error(exc: click.UsageError) -> PostsError:
    param = getattr(exc, "param", None)
    if param is None or param.name is None:
        return ValidationFailed.one("command", "usage", exc.format_message())
    rule = (
        "option_missing" if isinstance(exc, click.MissingParameter) else "option_value"
    )
    return ValidationFailed.one(param.name, rule, exc.format_message())


@click.group(cls=_JsonUsage)
def posts() -> None:
    """List, read and change posts with the Social Post API's semantics."""


@contextmanager
def _engine() -> Iterator[Engine]:
    """An engine from the settings; every refusal becomes JSON and an exit code."""
    settings = settings_or_exit()
    engine = make_engine(settings.database)
    try:
        yield engine
    except PostsError as exc:
        click.echo(json.dumps(exc.to_json(), indent=2), err=True)
        sys.exit(EXIT_BY_STATUS[exc.status])
    except (OperationalError, ProgrammingError) as exc:
        missing = _missing_tables(engine)
        if missing:
            shown = engine.url.render_as_string(hide_password=True)
            click.echo(
                f"publisher: the database {shown} has no {', '.join(missing)} "
                "table; run `publisher db init` first (or point "
                "PUBLISHER_DATABASE_URL at the right database)",
                err=True,
            )
            sys.exit(EXIT_UNAVAILABLE)
        if isinstance(exc, ProgrammingError):
            raise
        click.echo(f"publisher: cannot reach the database: {exc.orig}", err=True)
        sys.exit(EXIT_UNAVAILABLE)
    except KeyboardInterrupt:
        # Ctrl-C while waiting (for a caption model, say): the shell's code.
        click.echo("publisher: interrupted", err=True)
        sys.exit(128 + signal.SIGINT)
    finally:
        engine.dispose()


def _missing_tables(engine: Engine) -> list[str]:
    """The schema's tables the database lacks (a forgotten `db init` looks like
    an SQL error otherwise); none when it cannot even be asked."""
    try:
        present = set(inspect(engine).get_table_names())
    except OperationalError:
        return []
    return [name for name in metadata.tables if name not in present]


def _run(call: Callable[[Engine], Any]) -> None:
    with _engine() as engine:
        result = call(engine)
    if result is not None:
        click.echo(json.dumps(result, indent=2))


def _body(data: str | None) -> Any:
    """The body as standard JSON: Python's decoder would keep the last of repeated
    keys (so a caller's first value vanished) and take NaN and Infinity."""
    text = _utf8(data) if data is not None else _utf8(sys.stdin.buffer.read())
    try:
        return json.loads(
            text, object_pairs_hook=_unique_keys, parse_constant=_no_constant
        )
    except json.JSONDecodeError as exc:
        raise ValidationFailed.one("body", "json", f"not valid JSON ({exc})") from None


def _utf8(raw: str | bytes) -> str:
    """The body's text, refused when its bytes are not UTF-8 (a Latin-1 file, say).
    An argument arrives with such bytes escaped as lone surrogates; they would
    otherwise pass as text and be blamed on whichever field held them."""
    try:
        if isinstance(raw, bytes):
            return raw.decode("utf-8")
        raw.encode("utf-8")
        return raw
    except (UnicodeDecodeError, UnicodeEncodeError) as exc:
        raise ValidationFailed.one(
            "body", "utf8", f"not valid UTF-8 (at position {exc.start})"
        ) from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValidationFailed.one(
                key, "duplicate_field", f"'{key}' is given more than once in the body"
            )
        found[key] = value
    return found


def _no_constant(name: str) -> Any:
    raise ValidationFailed.one(
        "body", "json", f"not valid JSON ({name} is not a JSON value)"
    )


@posts.command("list")
@_brand
@click.option("--user", help="Only posts created by this user.")
@click.option("--status", type=click.Choice(STATUSES), default="any", show_default=True)
@click.option("--start", type=int, default=0, show_default=True, help="Rows to skip.")
@click.option("--limit", type=int, help="At most this many rows.")
@click.option("--video/--no-video", default=None, help="Only video (or non-video).")
@click.option("--mediums", multiple=True, help=f"Any of {', '.join(MEDIUMS)}.")
@click.option(
    "--order",
    default="-created_at",
    show_default=True,
    help=f"One of {', '.join(ORDER_FIELDS)}; a leading '-' sorts descending.",
)
@_associations
def list_command(
    brand: str,
    user: str | None,
    status: str,
    start: int,
    limit: int | None,
    video: bool | None,
    mediums: tuple[str, ...],
    order: str,
    associations: tuple[str, ...],
) -> None:
    """A page of the brand's posts, with the total."""
    _run(
        lambda engine: read.list_posts(
            engine,
            brand,
            user=user,
            status=status,
            start=start,
            limit=limit,
            video=video,
            mediums=mediums,
            order=order,
            associations=associations,
        )
    )


@posts.command("stats")
@_brand
@click.option("--user", help="Only posts created by this user.")
@click.option("--status", type=click.Choice(STATUSES), default="any", show_default=True)
def stats_command(brand: str, user: str | None, status: str) -> None:
    """How many of the brand's posts there are per medium."""
    _run(lambda engine: read.post_stats(engine, brand, user=user, status=status))


@posts.command("get")
@_brand
@click.argument("post")
@_associations
def get_command(brand: str, post: str, associations: tuple[str, ...]) -> None:
    """One post of the brand."""
    _run(lambda engine: read.get_post(engine, brand, post, associations=associations))


@posts.command("create")
@_brand
@click.option("--user", required=True, help="The user creating the post (uuid).")
@_data
@_associations
def create_command(
    brand: str, user: str, data: str | None, associations: tuple[str, ...]
) -> None:
    """Create a post from a JSON body.

    The body holds facebook_page, template_instance or asset, caption and due_at
    (epoch seconds or ISO 8601 with an offset; absent or null makes a draft).
    """
    _run(
        lambda engine: write.create_post(
            engine, brand, user, _body(data), associations=associations
        )
    )


@posts.command("update")
@_brand
@click.argument("post")
@_data
@_associations
def update_command(
    brand: str, post: str, data: str | None, associations: tuple[str, ...]
) -> None:
    """Replace a post's page, creative, caption and time (PUT semantics)."""
    _run(
        lambda engine: write.update_post(
            engine, brand, post, _body(data), associations=associations
        )
    )


@posts.command("delete")
@_brand
@click.argument("post")
def delete_command(brand: str, post: str) -> None:
    """Soft-delete a post; prints nothing (the API's 204)."""
    _run(lambda engine: write.delete_post(engine, brand, post))


@posts.command("caption")
@_brand
@click.option("--id", "post", required=True, help="The post's id (uuid).")
@click.option(
    "--listing",
    help="A listing of the brand to ground the caption in, instead of (or when "
    "there is none) the one the post's template instance was made for.",
)
def caption_command(brand: str, post: str, listing: str | None) -> None:
    """Recommend a caption for a post; the post itself is not changed.

    The model configured under `captions` writes it from the listing's facts and
    photos, or from the creative and its template; without one, the built-in
    writer composes it from the same facts.
    """
    _run(lambda engine: caption.recommend_caption(engine, brand, post, listing))
