"""Shared fixtures: a real PostgreSQL per test run, SQLite files, the simulator."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text

from publisher.db import init_schema
from publisher.settings import Settings, load_settings
from publisher.simulator.server import SimulatorServer
from publisher.storage import MediaServer
from tests.pg import Cluster, start_cluster

_database_numbers = itertools.count()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    cluster = start_cluster()
    try:
        admin = create_engine(cluster.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS publisher_template"))
            conn.execute(text("CREATE DATABASE publisher_template"))
        admin.dispose()
        template = create_engine(_database_url(cluster, "publisher_template"))
        try:
            init_schema(template)
        finally:
            template.dispose()
        yield cluster
    finally:
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
        monkeypatch.setenv("PUBLISHER_DATABASE_URL", f"sqlite:///{tmp_path}/p.db")
        for key, value in overrides.items():
            monkeypatch.setenv(f"PUBLISHER_{key.upper()}", str(value))
        return load_settings()

    return build


@dataclass
class GraphWorld:
    """A simulator and a media server on loopback, and settings that point at them."""

    simulator: SimulatorServer
    media: MediaServer
    media_dir: Path

    def control(self, path: str, body: object = None) -> Any:
        method = "GET" if body is None else "POST"
        response = requests.request(
            method, f"{self.simulator.url}/_sim/{path}", json=body, timeout=10
        )
        response.raise_for_status()
        return response.json()

    def publishes(self) -> list[dict[str, Any]]:
        data = self.control("publishes")["data"]
        assert isinstance(data, list)
        return data


@pytest.fixture
def graph_world(tmp_path: Path) -> Iterator[GraphWorld]:
    media_dir = tmp_path / "media"
    media_dir.mkdir()
    with SimulatorServer() as simulator, MediaServer(media_dir) as media:
        world = GraphWorld(simulator, media, media_dir)
        world.control("config", {"video_processing_seconds": 0.5})
        yield world


@pytest.fixture
def world_settings(
    graph_world: GraphWorld, make_settings: Callable[..., Settings]
) -> Callable[..., Settings]:
    """Settings for a worker talking to `graph_world` over HTTP, for a database URL."""

    def build(database_url: str, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "database_url": database_url,
            "graph_base_url": graph_world.simulator.url,
            "media_base_url": graph_world.media.url,
            "media_directory": graph_world.media_dir,
            "sandbox_mode": "off",
            "worker_poll_interval_seconds": 0.1,
            "worker_container_recheck_seconds": 0.2,
            "worker_container_recheck_max_seconds": 0.5,
            "log_format": "json",
        }
        values.update(overrides)
        return make_settings(**values)

    return build
