"""Alembic's environment: runs the revisions on the connection `publisher.migrate`
hands over, in that connection's transaction, in batch mode (needed on SQLite)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from publisher.tables import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection, target_metadata=metadata, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


_connection = context.config.attributes.get("connection")
if not isinstance(_connection, Connection):
    raise RuntimeError("publisher's migrations run through `publisher db init`")
_run(_connection)
