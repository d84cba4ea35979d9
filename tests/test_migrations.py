"""`publisher db init` upgrades a database made by the first release, losing nothing.

The released database is built the way that release built it: on PostgreSQL by its
own DDL (`tests/data/schema_released.sql`, the release's `schema.sql`), on SQLite by
revision 0001 with the `alembic_version` table taken away again (the release had
none). The upgraded database must then equal a freshly created one.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, inspect, select, text, update
from sqlalchemy.exc import IntegrityError

from publisher import sample
from publisher.migrate import (
    RELEASED,
    alembic_config,
    current_revision,
    head_revision,
    schema_differences,
    upgrade_schema,
)
from publisher.tables import Stage, metadata, social_posts
from tests.builders import insert_owner, run_cli
from tests.pg import Cluster

RELEASED_DDL = Path(__file__).parent / "data" / "schema_released.sql"


@pytest.fixture
def fresh_pg_url(pg_cluster: Cluster) -> Iterator[str]:
    """An empty PostgreSQL database, for the freshly created schema to compare to."""
    admin = create_engine(pg_cluster.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS publisher_fresh"))
        conn.execute(text("CREATE DATABASE publisher_fresh"))
    yield pg_cluster.url.rsplit("/", 1)[0] + "/publisher_fresh"
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS publisher_fresh WITH (FORCE)"))
    admin.dispose()


def _released_postgres(engine: Engine, ddl_file: Path = RELEASED_DDL) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
        lines = ddl_file.read_text(encoding="utf-8").splitlines()
        ddl = "\n".join(line for line in lines if not line.startswith("--"))
        for statement in ddl.split(";\n"):
            if statement.strip():
                conn.exec_driver_sql(statement)


def _migrate_empty(engine: Engine, revision: str) -> None:
    """Run the revisions up to `revision` on an emptied database."""
    config = alembic_config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def _released_sqlite(engine: Engine) -> None:
    _migrate_empty(engine, RELEASED)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))


def _with_posts(engine: Engine, tmp_path: Path) -> list[Any]:
    """A brand, page, creative and three posts; returns the posts' rows."""
    with engine.begin() as conn:
        owner = insert_owner(conn, tmp_path)
        for caption in ("first", "second", "third"):
            sample.insert_post(
                conn,
                brand=owner.brand,
                user=owner.user,
                page=owner.page,
                due_at=None,
                caption=caption,
                asset=owner.asset,
                stage=Stage.FAILED.value if caption == "third" else "queued",
            )
    return _post_rows(engine)


def _post_rows(engine: Engine) -> list[Any]:
    released = [c for c in social_posts.c if c.name != "lateness_waived_at"]
    with engine.connect() as conn:
        return list(conn.execute(select(*released).order_by(social_posts.c.caption)))


def _shape(engine: Engine) -> dict[str, Any]:
    """Every table's columns, keys, checks and indexes, as the database reports."""
    with engine.connect() as conn:
        inspector = inspect(conn)
        shape: dict[str, Any] = {}
        for table in sorted(inspector.get_table_names()):
            shape[table] = {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"], c.get("default"))
                    for c in inspector.get_columns(table)
                ],
                "pk": inspector.get_pk_constraint(table),
                "fks": sorted(
                    (f["name"] or "", str(f)) for f in inspector.get_foreign_keys(table)
                ),
                "checks": sorted(
                    (c["name"] or "", c["sqltext"])
                    for c in inspector.get_check_constraints(table)
                ),
                "indexes": sorted(_index(i) for i in inspector.get_indexes(table)),
            }
        if conn.dialect.name == "sqlite":
            # Reflection does not show a partial index's WHERE on every version.
            shape["sqlite_indexes"] = sorted(
                conn.execute(
                    text(
                        "SELECT name, sql FROM sqlite_master "
                        "WHERE type = 'index' AND sql IS NOT NULL"
                    )
                ).all()
            )
    return shape


def _index(index: Any) -> tuple[str, ...]:
    options = {key: str(value) for key, value in index["dialect_options"].items()}
    return (
        index["name"],
        str(index["column_names"]),
        str(index["unique"]),
        str(options),
    )


def _cli_env(tmp_path: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
    env["PUBLISHER_DATABASE_URL"] = url
    env["PUBLISHER_MEDIA_DIRECTORY"] = str(tmp_path / "media")
    return env


def _with_outbox(engine: Engine) -> list[Any]:
    """What the create_all `db init` of a later version did to a released database:
    the new table alone, with one event in it. Returns the outbox's rows."""
    outbox = metadata.tables["webhook_outbox"]
    with engine.begin() as conn:
        outbox.create(conn)
        conn.execute(
            outbox.insert().values(
                id=uuid4(),
                event="post_failed",
                page=uuid4(),
                brand=uuid4(),
                occurred_at=datetime.now(UTC),
                next_attempt_at=datetime.now(UTC),
            )
        )
    with engine.connect() as conn:
        return list(conn.execute(select(outbox)))


@pytest.mark.parametrize("outbox", [False, True], ids=["released", "with_outbox"])
@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_db_init_upgrades_a_released_database(
    backend: str, outbox: bool, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if backend == "postgres":
        url = request.getfixturevalue("pg_url")
        fresh_url = request.getfixturevalue("fresh_pg_url")
    else:
        url, fresh_url = f"sqlite:///{tmp_path}/old.db", f"sqlite:///{tmp_path}/new.db"
    engine, fresh = create_engine(url), create_engine(fresh_url)
    try:
        (_released_postgres if backend == "postgres" else _released_sqlite)(engine)
        before = _with_posts(engine, tmp_path)
        events = _with_outbox(engine) if outbox else []
        env = _cli_env(tmp_path, url)

        upgraded = run_cli(tmp_path, "db", "init", env=env)
        again = run_cli(tmp_path, "db", "init", env=env)

        assert upgraded.returncode == 0, upgraded.stderr
        assert upgraded.stdout.splitlines() == [
            f"recognised an unversioned schema as revision {RELEASED}",
            f"upgraded the schema from revision {RELEASED} to {head_revision()}",
        ]
        assert again.returncode == 0, again.stderr
        assert again.stdout.strip() == "schema already present; nothing to do"
        assert _post_rows(engine) == before
        with engine.connect() as conn:
            assert list(conn.execute(select(metadata.tables["webhook_outbox"]))) == (
                events
            )
        with engine.connect() as conn:
            assert current_revision(conn) == head_revision()
            assert schema_differences(conn) == [], "upgraded schema differs"
            waived = conn.execute(select(social_posts.c.lateness_waived_at)).scalars()
            assert list(waived) == [None, None, None]
        first = before[0].id
        with engine.begin() as conn:
            conn.execute(
                update(social_posts)
                .where(social_posts.c.id == first)
                .values(stage=Stage.MISSED.value)
            )
            stage = select(social_posts.c.stage).where(social_posts.c.id == first)
            assert conn.execute(stage).scalar_one() == Stage.MISSED.value
        with (
            pytest.raises(IntegrityError, match=r"ck_social_posts_stage|CHECK"),
            engine.begin() as conn,
        ):
            conn.execute(update(social_posts).values(stage="lost"))
        upgrade_schema(fresh)
        assert _shape(engine) == _shape(fresh)
    finally:
        engine.dispose()
        fresh.dispose()


def test_revision_0001_is_the_released_ddl(pg_url: str, fresh_pg_url: str) -> None:
    released, migrated = create_engine(pg_url), create_engine(fresh_pg_url)
    try:
        _released_postgres(released)
        _migrate_empty(migrated, RELEASED)
        with migrated.begin() as conn:
            conn.execute(text("DROP TABLE alembic_version"))

        assert _shape(migrated) == _shape(released)
    finally:
        released.dispose()
        migrated.dispose()


def test_the_migrations_build_what_the_tables_say(
    any_url: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A change to publisher/tables.py without a revision fails here."""
    migrated = create_engine(any_url)
    if migrated.dialect.name == "sqlite":
        created = create_engine(f"sqlite:///{tmp_path}/created.db")
    else:
        created = create_engine(request.getfixturevalue("fresh_pg_url"))
    try:
        _migrate_empty(migrated, "head")
        upgrade_schema(created)
        with migrated.connect() as conn:
            differences = schema_differences(conn)
        assert differences == [], (
            "publisher/tables.py differs from the schema the migrations build: add a "
            f"revision in publisher/migrations/versions/ for {differences}"
        )
        # Autogenerate does not compare CHECK constraints; the catalogs do.
        assert _shape(migrated) == _shape(created), (
            "the migrations build another schema than publisher/tables.py "
            "(a CHECK constraint?): add a revision in publisher/migrations/versions/"
        )
    finally:
        migrated.dispose()
        created.dispose()


def test_run_and_health_send_a_released_database_to_db_init(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/old.db"
    engine = create_engine(url)
    _released_sqlite(engine)
    _with_outbox(engine)
    engine.dispose()
    env = _cli_env(tmp_path, url)

    run = run_cli(tmp_path, "run", "--once", env=env)
    health = run_cli(tmp_path, "health", "--json", env=env)

    assert run.returncode == 2
    assert "lacks columns social_posts.lateness_waived_at" in run.stderr
    assert "run `publisher db init` to upgrade it" in run.stderr
    assert health.returncode == 1
    schema = json.loads(health.stdout)["schema"]
    assert "run `publisher db init` to upgrade it" in schema["detail"]


def test_a_database_behind_by_revision_alone_is_not_healthy(tmp_path: Path) -> None:
    """Its tables and columns may all be there while a CHECK is still the old one."""
    url = f"sqlite:///{tmp_path}/behind.db"
    engine = create_engine(url)
    upgrade_schema(engine)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE alembic_version SET version_num = :old"), {"old": RELEASED}
        )
    engine.dispose()
    env = _cli_env(tmp_path, url)

    run = run_cli(tmp_path, "run", "--once", env=env)
    health = run_cli(tmp_path, "health", "--json", env=env)

    assert run.returncode == 2
    assert f"at revision {RELEASED}, this version needs {head_revision()}" in run.stderr
    schema = json.loads(health.stdout)["schema"]
    assert schema["ok"] is False
    assert schema["facts"] == {"revision": RELEASED, "head": head_revision()}


def test_an_older_revision_is_upgraded_without_recognising(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/kept.db"
    engine = create_engine(url)
    _migrate_empty(engine, RELEASED)
    engine.dispose()

    result = run_cli(tmp_path, "db", "init", env=_cli_env(tmp_path, url))

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"upgraded the schema from revision {RELEASED} to {head_revision()}"
    ]


def test_threads_upgrading_their_own_databases_at_once_all_succeed(
    tmp_path: Path,
) -> None:
    """Alembic keeps its context module-wide; the chaos harness and any service
    that sets up several databases from threads upgrade side by side."""
    engines = [create_engine(f"sqlite:///{tmp_path}/db{n}.db") for n in range(6)]
    for engine in engines[::2]:
        _migrate_empty(engine, RELEASED)
    start = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def upgrade(engine: Engine) -> None:
        start.wait()
        try:
            upgrade_schema(engine)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=upgrade, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    for engine in engines:
        with engine.connect() as conn:
            assert current_revision(conn) == head_revision()
        engine.dispose()


def test_an_unversioned_current_schema_is_stamped_and_left(tmp_path: Path) -> None:
    """What `psql -f schema.sql`, or a create_all of this version, leaves."""
    url = f"sqlite:///{tmp_path}/bare.db"
    engine = create_engine(url)
    metadata.create_all(engine)
    engine.dispose()

    result = run_cli(tmp_path, "db", "init", env=_cli_env(tmp_path, url))

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"recognised an unversioned schema as revision {head_revision()}",
        "schema already present; nothing to do",
    ]


def test_a_database_made_from_schema_sql_is_stamped(
    pg_url: str, tmp_path: Path
) -> None:
    engine = create_engine(pg_url)
    _released_postgres(engine, Path(__file__).parent.parent / "schema.sql")
    engine.dispose()

    result = run_cli(tmp_path, "db", "init", env=_cli_env(tmp_path, pg_url))

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"recognised an unversioned schema as revision {head_revision()}",
        "schema already present; nothing to do",
    ]


def test_a_half_upgraded_unversioned_database_is_refused_untouched(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/half.db"
    engine = create_engine(url)
    _released_sqlite(engine)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE social_posts ADD COLUMN lateness_waived_at"))
    before = _shape(engine)

    result = run_cli(tmp_path, "db", "init", env=_cli_env(tmp_path, url))

    assert result.returncode == 2
    assert "half-way" in result.stderr
    assert "has column social_posts.lateness_waived_at" in result.stderr
    assert "lacks stage 'missed' in ck_social_posts_stage, table webhook_outbox" in (
        result.stderr
    )
    assert _shape(engine) == before
    engine.dispose()
