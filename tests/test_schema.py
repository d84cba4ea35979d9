"""The schema: schema.sql is generated from the tables; `db init` is idempotent."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect
from sqlalchemy.exc import IntegrityError

from publisher import sample
from publisher.db import init_schema, schema_sql
from publisher.tables import metadata, social_posts
from tests.builders import insert_owner

ROOT = Path(__file__).resolve().parent.parent


def test_schema_sql_matches_the_tables() -> None:
    committed = (ROOT / "schema.sql").read_text(encoding="utf-8")

    assert committed == schema_sql(), (
        "schema.sql has drifted from publisher/tables.py: "
        "run `publisher db schema > schema.sql`"
    )


def test_schema_uses_timestamptz_and_a_partial_claim_index() -> None:
    ddl = schema_sql()

    assert "TIMESTAMP WITHOUT TIME ZONE" not in ddl
    assert "TIMESTAMP WITH TIME ZONE" in ddl
    assert (
        "CREATE INDEX ix_social_posts_claimable ON social_posts (due_at) WHERE" in ddl
    )


@pytest.mark.postgres
def test_init_twice_is_harmless(any_url: str) -> None:
    engine = create_engine(any_url)
    try:
        first = init_schema(engine)
        second = init_schema(engine)
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()

    assert second == []
    assert set(metadata.tables) <= tables
    assert first == [] or set(first) <= set(metadata.tables)


@pytest.mark.postgres
def test_a_post_has_exactly_one_creative(any_url: str, tmp_path: Path) -> None:
    engine = create_engine(any_url)
    init_schema(engine)
    try:
        with engine.begin() as conn:
            owner = insert_owner(conn, tmp_path)
            template = sample.insert_template(conn, "t")
            instance = sample.insert_instance(conn, owner.brand, template, owner.file)
        for creative in ({}, {"asset": owner.asset, "template_instance": instance}):
            with (
                pytest.raises(IntegrityError, match="one_creative"),
                engine.begin() as conn,
            ):
                sample.insert_post(
                    conn,
                    brand=owner.brand,
                    user=owner.user,
                    page=owner.page,
                    due_at=None,
                    **creative,
                )
        with engine.connect() as conn:
            assert conn.execute(social_posts.select()).all() == []
    finally:
        engine.dispose()
