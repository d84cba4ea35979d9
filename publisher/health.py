"""`publisher health`: is this installation publishing? Three checks, one answer.

The database answers; its schema has every table and column this release uses, at
this release's alembic revision;
and a daemon polled successfully a moment ago (`worker_heartbeats`, written at the
end of each poll). The last check is what others miss: a process that is up but
whose poll loop is stuck (a lock, a hung call) stops writing its heartbeat, and
the check fails after `health.max_poll_age_seconds`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from publisher.db import db_now, missing_columns, missing_tables
from publisher.migrate import current_revision, head_revision
from publisher.settings import Settings
from publisher.tables import worker_heartbeats

beats = worker_heartbeats.c


@dataclass
class Check:
    ok: bool
    detail: str
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class Health:
    database: Check
    schema: Check
    poll: Check

    @property
    def ok(self) -> bool:
        return self.database.ok and self.schema.ok and self.poll.ok

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, **{name: asdict(c) for name, c in self.checks()}}

    def checks(self) -> list[tuple[str, Check]]:
        return [
            ("database", self.database),
            ("schema", self.schema),
            ("poll", self.poll),
        ]


def check_health(settings: Settings, engine: Engine, hostname: str | None) -> Health:
    """Run the checks; `hostname` None looks at the daemons of every host."""
    skipped = Check(False, "not checked: the database cannot be reached")
    shown = make_url(settings.database.url).render_as_string(hide_password=True)
    try:
        with engine.connect() as conn:
            db_now(conn)
    except DBAPIError as exc:
        first = str(exc.orig or exc).strip().splitlines()
        reason = first[0] if first else type(exc).__name__
        return Health(Check(False, f"cannot reach {shown}: {reason}"), skipped, skipped)
    database = Check(True, f"reachable at {shown}")
    try:
        tables, columns = missing_tables(engine), missing_columns(engine)
        with engine.connect() as conn:
            revision = current_revision(conn)
        schema = _schema_check(tables, columns, revision)
        poll = _poll_check(settings, engine, hostname, tables)
    except DBAPIError as exc:
        failed = Check(False, f"the database failed mid-check: {type(exc).__name__}")
        return Health(database, failed, failed)
    return Health(database, schema, poll)


def _schema_check(tables: list[str], columns: list[str], revision: str | None) -> Check:
    if tables or columns:
        lacking = ", ".join(tables + columns)
        return Check(
            False,
            f"the schema lacks {lacking}; run `publisher db init` to upgrade it",
            {"missing_tables": tables, "missing_columns": columns},
        )
    head = head_revision()
    if revision != head:
        # Tables and columns may be there while a CHECK constraint is still old.
        return Check(
            False,
            f"the schema is at revision {revision or 'none'}, this version needs "
            f"{head}; run `publisher db init` to upgrade it",
            {"revision": revision, "head": head},
        )
    return Check(True, "every table and column is present")


def _poll_check(
    settings: Settings, engine: Engine, hostname: str | None, missing: list[str]
) -> Check:
    limit = settings.health.max_poll_age_seconds
    if "worker_heartbeats" in missing:
        return Check(False, "no worker_heartbeats table")
    where = "any host" if hostname is None else f"host {hostname}"
    query = select(beats.worker, beats.last_poll_at).order_by(beats.last_poll_at.desc())
    if hostname is not None:
        query = query.where(beats.hostname == hostname)
    with engine.connect() as conn:
        now = db_now(conn)
        newest = conn.execute(query.limit(1)).one_or_none()
    if newest is None:
        return Check(False, f"no daemon on {where} has ever polled", {"limit_s": limit})
    age = (now - newest.last_poll_at).total_seconds()
    facts = {
        "worker": newest.worker,
        "last_poll_at": newest.last_poll_at.isoformat(),
        "age_s": round(age, 1),
        "limit_s": limit,
    }
    if age > limit:
        return Check(
            False,
            f"the last successful poll on {where} was {age:.0f} s ago "
            f"(health.max_poll_age_seconds is {limit:g}): the poll loop is stuck "
            "or no daemon runs",
            facts,
        )
    return Check(True, f"a daemon on {where} polled {age:.1f} s ago", facts)
