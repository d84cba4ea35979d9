"""Settings of the operations parts: lateness, webhooks, metrics; and the wording
of a missed post's failure."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from publisher.lateness import duration_text, missed_failure
from publisher.settings import SettingsError, load_settings


def test_operations_defaults() -> None:
    settings = load_settings()

    assert settings.worker.max_lateness_seconds == 86400
    assert settings.metrics.port is None
    assert settings.webhooks.url is None
    assert settings.health.max_poll_age_seconds > settings.worker.poll_interval_seconds


def test_a_webhook_url_needs_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLISHER_WEBHOOKS_URL", "https://hooks.example.com/p")

    with pytest.raises(SettingsError, match="PUBLISHER_WEBHOOKS_SECRET must hold"):
        load_settings()

    monkeypatch.setenv("PUBLISHER_WEBHOOKS_SECRET", "s3cret-value")
    settings = load_settings()
    assert settings.webhooks.secret is not None
    assert "s3cret-value" not in repr(settings)


def test_the_webhook_secret_is_refused_in_a_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "publisher.yaml"
    path.write_text(
        "webhooks:\n  url: https://hooks.example.com/p\n  secret: in-the-file\n"
    )
    monkeypatch.setenv("PUBLISHER_CONFIG", str(path))

    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert "webhooks.secret must not be in a file" in str(refused.value)
    assert "in-the-file" not in str(refused.value)


def test_lateness_must_be_positive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLISHER_WORKER_MAX_LATENESS_SECONDS", "0")

    with pytest.raises(SettingsError, match=r"worker\.max_lateness_seconds"):
        load_settings()


def test_metrics_port_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLISHER_METRICS_PORT", "70000")

    with pytest.raises(SettingsError, match=r"metrics\.port"):
        load_settings()


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(days=3, hours=2, minutes=5), "3 days 2 hours"),
        (timedelta(hours=25), "1 day 1 hour"),
        (timedelta(minutes=90), "1 hour 30 minutes"),
        (timedelta(seconds=59), "59 seconds"),
        (timedelta(0), "0 seconds"),
    ],
)
def test_durations_read_as_people_say_them(span: timedelta, text: str) -> None:
    assert duration_text(span) == text


def test_the_missed_failure_says_how_late() -> None:
    message = missed_failure(timedelta(days=3, hours=2), timedelta(hours=24))

    assert message.startswith("Not published: it was 3 days 2 hours late")
    assert "1 day a post may be late" in message
