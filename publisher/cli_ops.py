"""The operator's commands for running it: `health` and `backfill`.

Registered on the main group by `cli.py`; the shared helpers (settings, exit
codes, database errors) are taken from there when a command runs.
"""

from __future__ import annotations

import json
import socket
import sys
from collections import Counter
from datetime import UTC, datetime
from uuid import UUID

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
)
from rich.prompt import Confirm
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from publisher.backfill import (
    Plan,
    PostState,
    Window,
    make_plan,
    requeue,
    states,
    unpublished,
)
from publisher.cli_settings import EXIT_CONFIG, settings_or_exit
from publisher.daemon import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_PENDING
from publisher.db import make_engine
from publisher.health import check_health
from publisher.observer import Observer
from publisher.queue import Queue
from publisher.runtime import build_worker
from publisher.sandbox import Sandbox
from publisher.settings import Settings

EXIT_UNHEALTHY = 1


class Moment(click.ParamType):  # type: ignore[type-arg]
    """A point in time: ISO 8601 with an offset, epoch seconds, or `now`."""

    name = "time"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        if text == "now":
            return datetime.now(UTC)
        try:
            return datetime.fromtimestamp(float(text), UTC)
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"{text!r} is neither ISO 8601 nor epoch seconds", param, ctx)
        if moment.tzinfo is None:
            # A date alone takes no offset in ISO 8601: the example adds a time.
            example = text if "T" in text or " " in text else f"{text}T00:00"
            self.fail(
                f"{text!r} has no offset; write it as e.g. {example}+00:00 "
                f"or {example}Z",
                param,
                ctx,
            )
        return moment.astimezone(UTC)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print what was checked as JSON.")
@click.option(
    "--any-host",
    is_flag=True,
    help="Accept a recent poll by a daemon on any host, not only this one.",
)
def health(as_json: bool, any_host: bool) -> None:
    """Exit 0 when the database answers, the schema is current and a daemon on
    this host polled recently (health.max_poll_age_seconds); 1 otherwise."""
    settings = settings_or_exit()
    engine = make_engine(settings.database)
    host = None if any_host else socket.gethostname()
    try:
        result = check_health(settings, engine, host)
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=2))
    else:
        for name, check in result.checks():
            click.echo(f"{name}: {'ok' if check.ok else 'FAIL'} - {check.detail}")
    sys.exit(0 if result.ok else EXIT_UNHEALTHY)


@click.command()
@click.option("--since", required=True, type=Moment(), help="Window start (due_at).")
@click.option("--until", required=True, type=Moment(), help="Window end, exclusive.")
@click.option("--brand", type=click.UUID, help="Only this brand's posts.")
@click.option("--page", type=click.UUID, help="Only this page's posts.")
@click.option("--include-failed", is_flag=True, help="Retry failed posts too.")
@click.option("--dry-run", is_flag=True, help="Show the plan and change nothing.")
@click.option("--yes", is_flag=True, help="Publish without asking (needed off a TTY).")
def backfill(
    since: datetime,
    until: datetime,
    brand: UUID | None,
    page: UUID | None,
    include_failed: bool,
    dry_run: bool,
    yes: bool,
) -> None:
    """Publish the posts due in a window that an outage left missed.

    Exit 0 when every post of the window ended published; 3 when some failed,
    were missed or are unconfirmed; 4 when some still wait; 130 interrupted.
    """
    from publisher.cli import _database_reachable, _fail, _require_schema

    if since >= until:
        _fail("--since must be before --until", EXIT_CONFIG)
    settings = settings_or_exit()
    window = Window(since, until, brand, page, include_failed)
    engine = make_engine(settings.database)
    out = Console(soft_wrap=True)
    try:
        _require_schema(engine, settings)
        with _database_reachable(settings):
            plan = make_plan(engine, window)
        _show_plan(out, plan)
        if dry_run:
            click.echo("dry run: nothing was changed")
            sys.exit(EXIT_OK)
        if plan.posts and not yes:
            if not sys.stdin.isatty():
                _fail(
                    f"refusing to publish {len(plan.posts)} post(s) without --yes: "
                    "standard input is not a terminal",
                    EXIT_CONFIG,
                )
            if not Confirm.ask(f"Publish {len(plan.posts)} post(s) now?"):
                _fail("backfill cancelled; nothing was changed", EXIT_CONFIG)
        interrupted = False
        if plan.posts:
            interrupted = _carry_out(settings, engine, plan)
        ended = states(engine, plan.ids)
        _show_summary(out, ended)
        left = unpublished(engine, window)
        if left:
            out.print(
                f"{left} post(s) of the window are not published "
                "(see `left out` above and the summary), so the exit code is not 0"
            )
    finally:
        engine.dispose()
    kinds = Counter(state.state for state in ended)
    if interrupted:
        sys.exit(EXIT_INTERRUPTED)
    if left == 0:
        sys.exit(EXIT_OK)
    if kinds["deferred"] or kinds["held"]:
        sys.exit(EXIT_PENDING)
    sys.exit(EXIT_FAILED)


def _carry_out(settings: Settings, engine: Engine, plan: Plan) -> bool:
    """Re-queue and publish the plan; True when it was interrupted."""
    from publisher.cli import _start_problems

    with _start_problems():
        worker = build_worker(settings, engine, only=frozenset(plan.ids))
    progress = Progress(
        TextColumn("backfill"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
    )
    task = progress.add_task("backfill", total=len(plan.ids))
    worker.observe(_ProgressListener(progress, task, worker.queue, plan.ids))
    try:
        with _start_problems():
            worker.start_services(settings, endpoint=False)
        with progress, _start_problems(), Sandbox(settings, worker.engine):
            # Re-queued only once everything has started: a sandbox port in use
            # (a sandbox daemon on the same SQLite file) changes nothing.
            requeue(engine, plan)
            timeout = settings.worker.once_timeout_seconds
            code, _summary = worker.daemon.run_until(plan.ids, timeout)
    finally:
        worker.close(flush_webhooks=True)
    return code == EXIT_INTERRUPTED


class _ProgressListener(Observer):
    """Moves the bar as planned posts end, whoever's attempt ended them."""

    def __init__(
        self, progress: Progress, task: TaskID, queue: Queue, ids: list[UUID]
    ) -> None:
        self.progress = progress
        self.task = task
        self.queue = queue
        self.ids = ids

    def attempt_ended(self, post: UUID, outcome: str, seconds: float) -> None:
        try:
            pending = self.queue.summarize(self.ids).get("pending", 0)
        except DBAPIError:
            return  # the bar waits for the next attempt; the run goes on
        self.progress.update(self.task, completed=len(self.ids) - pending)


def _show_plan(out: Console, plan: Plan) -> None:
    window = plan.window
    out.print(
        f"backfill window {window.since.isoformat()} to {window.until.isoformat()}: "
        f"{len(plan.posts)} post(s) to publish"
    )
    if plan.posts:
        table = Table("post", "page", "due at", "late by", "state", "failure")
        for post in plan.posts:
            table.add_row(
                str(post.id),
                post.page,
                post.due_at.isoformat(timespec="seconds"),
                plan.late_by(post),
                "re-queued earlier" if post.resumed else post.stage,
                post.failure or "",
            )
        out.print(table)
    for reason, count in sorted(plan.left_out.items()):
        out.print(f"left out: {count} {reason}")


def _show_summary(out: Console, ended: list[PostState]) -> None:
    counts = Counter(state.state for state in ended)
    out.print(
        "backfill summary: "
        + (", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "none")
    )
    for state in ended:
        if state.state != "published":
            out.print(f"  {state.id} {state.state}: {state.reason or ''}")
