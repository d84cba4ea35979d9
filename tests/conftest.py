"""Shared fixtures: a real PostgreSQL per test run, SQLite files, the simulator."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from publisher.db import init_schema
from publisher.settings import Settings, load_settings
from tests.pg import Cluster, start_cluster

_database_numbers = itertools.count()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    cluster = start_cluster()
    admin = create_engine(cluster.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS publisher_template"))
        conn.execute(text("CREATE DATABASE publisher_template"))
    admin.dispose()
    template = create_engine(_database_url(cluster, "publisher_template"))
    init_schema(template)
    template.dispose()
    yield cluster
    cluster.stop()


def _database_url(cluster: Cluster, name: str) -> str:
    return cluster.url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> Iterator[str]:
    """A fresh database with the schema, cloned from a template; dropped after."""
    name = f"publisher_test_{next(_database_numbers)}"
    admin = create_engine(pg_cluster.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name} TEMPLATE publisher_template"))
    yield _database_url(pg_cluster, name)
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/publisher.db"


@pytest.fixture(params=["postgres", "sqlite"])
def any_url(request: pytest.FixtureRequest) -> str:
    """Runs the test once on PostgreSQL and once on SQLite."""
    name = "pg_url" if request.param == "postgres" else "sqlite_url"
    url = request.getfixturevalue(name)
    assert isinstance(url, str)
    return url


@pytest.fixture
def make_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Callable[..., Settings]:
    """Settings from the bundled defaults, with `section_key=value` overrides."""

    def build(**overrides: object) -> Settings:
        monkeypatch.setenv("PUBLISHER_MEDIA_DIRECTORY", str(tmp_path / "media"))
        for key, value in overrides.items():
            monkeypatch.setenv(f"PUBLISHER_{key.upper()}", str(value))
        return load_settings()

    return build
