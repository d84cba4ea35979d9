"""The operator's commands. Thin: each parses its flags and calls the parts.

Exit codes: 0 done; 1 unhealthy (`health`); 2 bad configuration or usage; 3 some
posts failed or were missed; 4 some posts are still waiting (held, deferred or
timed out); 5 the database cannot be reached at start; 130 interrupted.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import click
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from publisher.cli_ops import backfill, health
from publisher.cli_settings import EXIT_CONFIG, EXIT_UNAVAILABLE, settings_or_exit
from publisher.db import (
    init_schema,
    make_engine,
    missing_columns,
    missing_tables,
    schema_sql,
)
from publisher.logs import configure_logging
from publisher.migrate import (
    SchemaError,
    current_revision,
    head_revision,
    upgrade_schema,
)
from publisher.posts.cli import posts
from publisher.settings import Settings, SettingsError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="publisher")
def main() -> None:
    """Publish scheduled social posts to Instagram and Facebook Pages, exactly once.

    Settings come from config.yaml (or the file PUBLISHER_CONFIG names) and
    PUBLISHER_<SECTION>_<KEY> environment variables.
    """


@main.group()
def db() -> None:
    """Create, upgrade or show the database schema."""


@db.command("init")
def db_init() -> None:
    """Create the schema, or upgrade an older one to this version's; harmless twice.

    A database made by the first release (no alembic_version) is recognised as
    revision 0001 and upgraded. Stop the daemons first: see README, Upgrading.
    """
    settings = settings_or_exit()
    engine = make_engine(settings.database)
    try:
        with _database_reachable(settings), _schema_problems():
            done = upgrade_schema(engine)
    finally:
        engine.dispose()
    if done.before is None and not done.recognised:
        click.echo(f"created tables: {', '.join(done.created)}")
        return
    if done.recognised:
        click.echo(f"recognised an unversioned schema as revision {done.before}")
    if done.changed:
        click.echo(f"upgraded the schema from revision {done.before} to {done.after}")
    else:
        click.echo("schema already present; nothing to do")


@db.command("schema")
def db_schema() -> None:
    """Print the PostgreSQL DDL generated from the tables (what schema.sql holds)."""
    click.echo(schema_sql(), nl=False)


@main.command()
@click.option(
    "--once",
    is_flag=True,
    help="Process the posts due now, wait for them to end, and exit.",
)
@click.option(
    "--init-db",
    is_flag=True,
    help="Create or upgrade the schema first (as `publisher db init`).",
)
def run(once: bool, init_db: bool) -> None:
    """Run the publishing daemon (or one cron-like pass with --once)."""
    from publisher.runtime import build_worker
    from publisher.sandbox import Sandbox

    settings = settings_or_exit()
    with _start_problems():
        worker = build_worker(settings)
    try:
        if init_db:
            with _database_reachable(settings), _schema_problems():
                init_schema(worker.engine)
        _require_schema(worker.engine, settings)
        with _start_problems():
            worker.start_services(settings)
        with _start_problems(), Sandbox(settings, worker.engine) as sandbox:
            if once:
                timeout = settings.worker.once_timeout_seconds
                code, summary = worker.daemon.run_once(timeout)
                click.echo(_summary_line(summary))
            else:
                code = worker.daemon.serve(sandbox.side_jobs())
    finally:
        worker.close(flush_webhooks=once)
    sys.exit(code)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"publisher: {message}", err=True)
    sys.exit(code)


@contextmanager
def _start_problems() -> Iterator[None]:
    """Settings the sandbox cannot use stop the start with the key and the rule."""
    try:
        yield
    except SettingsError as exc:
        _fail(str(exc), EXIT_CONFIG)


@contextmanager
def _schema_problems() -> Iterator[None]:
    """A schema `db init` cannot upgrade is said so; the database is left as it was."""
    try:
        yield
    except SchemaError as exc:
        _fail(str(exc), EXIT_CONFIG)


@contextmanager
def _database_reachable(settings: Settings) -> Iterator[None]:
    """A database that cannot be reached at start is said so, without a traceback."""
    try:
        yield
    except OperationalError as exc:
        shown = make_url(settings.database.url).render_as_string(hide_password=True)
        _fail(
            f"cannot reach the database at {shown} (database.url): {exc.orig}",
            EXIT_UNAVAILABLE,
        )


def _require_schema(engine: Engine, settings: Settings) -> None:
    with _database_reachable(settings):
        missing = missing_tables(engine)
        columns = missing_columns(engine)
    if missing:
        _fail(
            f"the database lacks tables {', '.join(missing)}; "
            "run `publisher db init` first",
            EXIT_CONFIG,
        )
    if columns:
        _fail(
            f"the database lacks columns {', '.join(columns)} (made by an older "
            "release); run `publisher db init` to upgrade it",
            EXIT_CONFIG,
        )
    with _database_reachable(settings), engine.connect() as conn:
        revision = current_revision(conn)
    if revision != head_revision():
        _fail(
            f"the database schema is at revision {revision or 'none'}, this version "
            f"needs {head_revision()}; run `publisher db init` to upgrade it",
            EXIT_CONFIG,
        )


def _summary_line(summary: dict[str, int]) -> str:
    if not summary:
        return "no posts were due"
    return ", ".join(f"{count} {state}" for state, count in sorted(summary.items()))


@main.command()
def demo() -> None:
    """Publish sample posts on the embedded sandbox and show how each one ended."""
    from publisher.demo import run_demo

    settings = settings_or_exit()
    with _start_problems(), _database_reachable(settings):
        code = run_demo(settings)
    sys.exit(code)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8766, show_default=True, type=click.IntRange(0, 65535))
def simulate(host: str, port: int) -> None:
    """Serve the local Graph API simulator until interrupted."""
    from publisher.simulator.server import serve_forever

    configure_logging()
    try:
        serve_forever(
            host,
            port,
            on_ready=lambda url: click.echo(f"Graph simulator listening at {url}"),
        )
    except (OSError, ValueError) as exc:
        _fail(f"cannot serve the simulator on {host}:{port}: {exc}", EXIT_CONFIG)


main.add_command(posts)
main.add_command(health)
main.add_command(backfill)
