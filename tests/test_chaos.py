"""Chaos, the small version of bench/chaos.py: real `publisher run` daemons on
PostgreSQL, SIGKILLed at each labelled point of the pipeline (a few runs each) and
at random moments with three daemons, checked against the simulator's publish log.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.points import POINT_NAMES
from tests.chaos.runner import HARNESS, RANDOM, Plan, run_plan, table
from tests.pg import Cluster

pytestmark = [pytest.mark.postgres, pytest.mark.acceptance]


@pytest.mark.timeout(600)
def test_kills_at_every_point_never_publish_twice_or_lose_a_post(
    pg_cluster: Cluster, tmp_path: Path
) -> None:
    plan = Plan(runs_per_point=2, posts_per_run=2, rounds=3, round_posts=8, lanes=2)

    figures = run_plan(plan, pg_cluster.url, tmp_path, say=lambda _line: None)

    report = table(figures)
    assert HARNESS not in figures, figures[HARNESS].problems
    for name in [*POINT_NAMES, RANDOM]:
        f = figures[name]
        assert f.runs == (plan.rounds if name == RANDOM else plan.runs_per_point)
        assert (f.duplicates, f.lost, f.stuck) == (0, 0, 0), (f.problems, report)
    # Every labelled kill left posts that another daemon had to take over.
    for name in POINT_NAMES:
        assert len(figures[name].takeovers) == plan.runs_per_point * plan.posts_per_run
