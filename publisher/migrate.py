"""Brings a database to this version's schema with alembic (`publisher db init`).

Three kinds of database meet `db init`: an empty one (the tables are created and the
newest revision stamped), one that alembic already keeps (upgraded to the newest
revision), and one made by the first release, which created tables without alembic.
The last is recognised by its shape as revision 0001, stamped, then upgraded; a
database without `alembic_version` that matches neither that release nor this
version is refused with what differs, and is left untouched.

Everything runs in one transaction, so a failed upgrade leaves the database as it
was (SQLite and PostgreSQL both have transactional DDL).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from importlib.resources import files

import structlog
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, inspect, text

from publisher.tables import Stage, metadata

RELEASED = "0001"
"""The revision of the schema the first release created without alembic."""

_RELEASED_TABLES = frozenset(metadata.tables) - {"webhook_outbox"}
# Any number will do, as long as it is the same for every `db init`.
_LOCK_KEY = 0x7075626C
# Alembic's commands install their context as a module-wide proxy, so two threads
# of one process upgrading (different databases) at once would trip over each other.
_ALEMBIC = threading.Lock()

logger = structlog.get_logger(__name__)
# Alembic's info lines are sentences, not events; `schema_upgraded` says what it did.
logging.getLogger("alembic").setLevel(logging.WARNING)


class SchemaError(Exception):
    """The database's schema is one this version cannot bring up to date."""


@dataclass(frozen=True)
class Upgrade:
    """What `upgrade_schema` did: `before` None means the database was empty."""

    before: str | None
    after: str
    created: list[str] = field(default_factory=list)
    recognised: bool = False

    @property
    def changed(self) -> bool:
        return self.before != self.after


def alembic_config() -> Config:
    """The configuration that finds the revisions inside the installed package."""
    config = Config()
    config.set_main_option("script_location", str(files("publisher") / "migrations"))
    return config


def head_revision() -> str:
    """The newest revision: the schema `publisher.tables` describes."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    """The revision alembic stamped on the database; None when it has none."""
    return MigrationContext.configure(conn).get_current_revision()


def upgrade_schema(engine: Engine) -> Upgrade:
    """Create, recognise or upgrade, so the database ends at the newest revision."""
    with _ALEMBIC:
        done = _upgrade(engine)
    logger.info(
        "schema_upgraded",
        before=done.before,
        after=done.after,
        recognised=done.recognised,
        created=done.created,
    )
    return done


def _upgrade(engine: Engine) -> Upgrade:
    config = alembic_config()
    head = head_revision()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Two `db init` at once would both create; the second waits here.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        config.attributes["connection"] = conn
        before = current_revision(conn)
        existing = set(inspect(conn).get_table_names()) & set(metadata.tables)
        if before is None:
            if not existing:
                metadata.create_all(conn)
                command.stamp(config, head)
                return Upgrade(None, head, created=list(metadata.tables))
            before = _recognise(conn, existing, head)
            command.stamp(config, before)
            recognised = True
        else:
            recognised = False
        if before != head:
            try:
                command.upgrade(config, head)
            except CommandError as exc:
                raise SchemaError(
                    f"the database is at revision {before}, which this version does "
                    f"not know (a newer publisher upgraded it?): {exc}"
                ) from exc
        created = [name for name in metadata.tables if name not in existing]
    return Upgrade(before, head, created, recognised)


def _recognise(conn: Connection, existing: set[str], head: str) -> str:
    """The revision an unstamped database is at, judged by what it holds."""
    lacking = sorted(_RELEASED_TABLES - existing)
    if lacking:
        raise SchemaError(
            "the database has some of publisher's tables but no alembic_version "
            f"and lacks {', '.join(lacking)}: it is not a schema any release made"
        )
    inspector = inspect(conn)
    columns = {c["name"] for c in inspector.get_columns("social_posts")}
    stage_checks = [
        str(c["sqltext"])
        for c in inspector.get_check_constraints("social_posts")
        if c["name"] == "ck_social_posts_stage"
    ]
    found = {
        "column social_posts.lateness_waived_at": "lateness_waived_at" in columns,
        "stage 'missed' in ck_social_posts_stage": any(
            f"'{Stage.MISSED.value}'" in check for check in stage_checks
        ),
    }
    outbox = "webhook_outbox" in existing
    if not any(found.values()):
        # The create_all `db init` of a version between the two made the outbox
        # alone; revision 0002 keeps such a table when it is this version's.
        if outbox and not _outbox_is_current(conn):
            raise SchemaError(
                "the database has no alembic_version and a webhook_outbox table "
                "unlike this version's: compare it with `publisher db schema`"
            )
        return RELEASED
    if all(found.values()) and outbox and not schema_differences(conn):
        return head
    found["table webhook_outbox"] = outbox
    present = [name for name, there in found.items() if there]
    absent = [name for name, there in found.items() if not there]
    raise SchemaError(
        "the database has no alembic_version and is half-way between the first "
        f"release and this version (has {', '.join(present) or 'nothing new'}; lacks "
        f"{', '.join(absent)}): bring it to one of the two by hand, then run "
        "`publisher db init` again"
    )


def _outbox_is_current(conn: Connection) -> bool:
    inspector = inspect(conn)
    columns = [c["name"] for c in inspector.get_columns("webhook_outbox")]
    indexes = {i["name"] for i in inspector.get_indexes("webhook_outbox")}
    table = metadata.tables["webhook_outbox"]
    return columns == list(table.columns.keys()) and indexes == {
        i.name for i in table.indexes
    }


def schema_differences(conn: Connection) -> list[object]:
    """What alembic's autogenerate finds between the database and the tables."""
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    differences: list[object] = compare_metadata(context, metadata)
    return differences
