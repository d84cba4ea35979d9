"""Settings: defaults from config.yaml, file and environment overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher.settings import SettingsError, load_settings


def test_defaults_are_the_sandbox() -> None:
    settings = load_settings()

    assert settings.database.url.startswith("sqlite:///")
    assert settings.sandbox_on
    assert settings.graph_url == "http://127.0.0.1:8766"
    assert settings.media_url == "http://127.0.0.1:8765"
    assert settings.graph.version == "v25.0"


def test_postgres_turns_the_sandbox_off_and_needs_a_media_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PUBLISHER_DATABASE_URL", "postgresql://u@db:5432/p")

    with pytest.raises(SettingsError, match=r"media\.base_url .* is required"):
        _ = load_settings().media_url

    monkeypatch.setenv("PUBLISHER_MEDIA_BASE_URL", "https://media.example.com/p/")
    settings = load_settings()
    assert not settings.sandbox_on
    assert settings.graph_url == "https://graph.facebook.com"
    assert settings.media_url == "https://media.example.com/p"


def test_sandbox_host_must_be_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLISHER_SANDBOX_HOST", "0.0.0.0")

    with pytest.raises(SettingsError, match=r"sandbox\.host .*loopback"):
        load_settings()


def test_environment_overrides_any_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLISHER_DATABASE_URL", "postgresql://u@db:5432/p")
    monkeypatch.setenv("PUBLISHER_GRAPH_BASE_URL", "https://graph.example.test")
    monkeypatch.setenv("PUBLISHER_MEDIA_BASE_URL", "https://media.example.test")
    monkeypatch.setenv("PUBLISHER_WORKER_CONCURRENCY", "3")

    settings = load_settings()

    assert settings.database.url == "postgresql+psycopg://u@db:5432/p"
    assert settings.graph_url == "https://graph.example.test"
    assert settings.worker.concurrency == 3


def test_config_file_changes_only_its_keys(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("worker:\n  lease_seconds: 120\n")
    monkeypatch.setenv("PUBLISHER_CONFIG", str(path))

    settings = load_settings()

    assert settings.worker.lease_seconds == 120
    assert settings.worker.concurrency == 8


def test_environment_wins_over_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("worker:\n  lease_seconds: 120\n")
    monkeypatch.setenv("PUBLISHER_CONFIG", str(path))
    monkeypatch.setenv("PUBLISHER_WORKER_LEASE_SECONDS", "30")

    assert load_settings().worker.lease_seconds == 30


@pytest.mark.parametrize(
    ("variable", "value", "names"),
    [
        ("PUBLISHER_WORKER_CONCURRENCY", "0", "worker.concurrency"),
        ("PUBLISHER_WORKER_POLL_INTERVAL_SECONDS", "soon", "poll_interval_seconds"),
        ("PUBLISHER_DATABASE_URL", "mysql://x/y", "database.url"),
        ("PUBLISHER_GRAPH_BASE_URL", "not a url", "graph.base_url"),
        ("PUBLISHER_SANDBOX_MODE", "maybe", "sandbox.mode"),
        ("PUBLISHER_LOG_FORMAT", "xml", "log.format"),
    ],
)
def test_bad_value_names_key_and_rule(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, names: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(SettingsError) as caught:
        load_settings()

    assert names in str(caught.value)
    assert variable in str(caught.value)


def test_unknown_variable_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLISHER_DATABSE_URL", "sqlite:///x.db")

    with pytest.raises(SettingsError, match="PUBLISHER_DATABSE_URL"):
        load_settings()


def test_unknown_key_in_file_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("worker:\n  concurency: 3\n")
    monkeypatch.setenv("PUBLISHER_CONFIG", str(path))

    with pytest.raises(SettingsError) as caught:
        load_settings()

    message = str(caught.value)
    assert "worker.concurency: no such key in section worker" in message
    assert "concurrency" in message
    assert "PUBLISHER_WORKER_CONCURENCY" not in message


def test_missing_config_file_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLISHER_CONFIG", "/nonexistent/publisher.yaml")

    with pytest.raises(SettingsError, match=r"/nonexistent/publisher\.yaml"):
        load_settings()
