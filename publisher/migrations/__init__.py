"""Alembic revisions of the schema; run by `publisher.migrate`."""
