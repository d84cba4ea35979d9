"""The Prometheus endpoint, scraped over HTTP after a run on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from publisher.db import db_now
from publisher.runtime import build_worker
from publisher.settings import Settings
from tests.builders import free_port, make_brand
from tests.conftest import GraphWorld

pytestmark = pytest.mark.postgres


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    response.raise_for_status()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_scraped_counters_match_the_run(
    pg_url: str, world_settings: Callable[..., Settings], graph_world: GraphWorld
) -> None:
    settings = world_settings(
        pg_url,
        metrics_port=free_port(),
        # One attempt at a time: the counts below are then the same on every run
        # (no page-busy turn, no usage pause from a reply racing a quota read).
        worker_concurrency=1,
        worker_retry_base_seconds=0.2,
        worker_retry_max_seconds=0.5,
    )
    worker = build_worker(settings)
    try:
        worker.start_services(settings)
        assert worker.metrics_port is not None
        brand = make_brand(worker.engine, graph_world)
        held = make_brand(worker.engine, graph_world)
        with worker.engine.connect() as conn:
            now = db_now(conn)
        brand.image_post(caption="one")
        brand.image_post(caption="two")
        brand.image_post(caption="too tall", width=1080, height=2600)
        brand.image_post(caption="stale", due_at=now - timedelta(hours=30))
        held.image_post(caption="token gone")
        graph_world.control("tokens/expire", {"access_token": held.token})
        graph_world.control(
            "faults",
            {
                "operation": "media_publish",
                "kind": "rate_limit",
                "minutes": 0,
                "account": brand.ig_user_id,
            },
        )

        _code, summary = worker.daemon.run_once(timeout=60)

        assert summary == {"published": 2, "failed": 1, "missed": 1, "pending": 1}
        got = _scrape(worker.metrics_port)
        attempts = sum(worker.daemon.outcomes.values())
    finally:
        worker.close()
    assert got[("publisher_posts_published_total", ())] == 2
    assert got[("publisher_posts_failed_total", (("reason", "preflight"),))] == 1
    assert got[("publisher_posts_missed_total", ())] == 1
    assert got[("publisher_posts_held_total", ())] == 1
    assert got[("publisher_posts_deferred_total", ())] == 1
    assert got[("publisher_posts_unconfirmed_total", ())] == 0
    assert got[("publisher_attempts_in_flight", ())] == 0
    assert got[("publisher_post_lateness_seconds_count", ())] == 2
    durations = sum(
        value
        for (name, _labels), value in got.items()
        if name == "publisher_attempt_duration_seconds_count"
    )
    assert durations == attempts == 5
    assert got[("publisher_last_successful_poll_timestamp_seconds", ())] > 0
    page = (("page", str(brand.page)),)
    assert got[("publisher_page_throttled_until_timestamp_seconds", page)] > 0
