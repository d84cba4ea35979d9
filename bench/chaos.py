"""Chaos benchmark: SIGKILL `publisher run` daemons at each labelled point of the
pipeline, and at random moments with three daemons on one PostgreSQL, then check
the simulator's publish log against the database.

    .venv/bin/python bench/chaos.py --runs-per-point 50 --rounds 100

Starts a private PostgreSQL cluster (or uses PUBLISHER_TEST_DATABASE_URL), an
in-process Graph simulator and media server on loopback, and real daemon
subprocesses with a short lease. Prints, per point: runs (kills), posts,
duplicate publishes, posts lost (ended wrongly) or stuck (claimed, in
publish-sent, or not ended), and the median and worst seconds from a kill to the
takeover of each post the killed daemon held. Exits 1 if anything was duplicated,
lost or stuck.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from publisher.logs import configure_logging  # noqa: E402
from tests.chaos.runner import Plan, run_plan, table  # noqa: E402
from tests.pg import start_cluster  # noqa: E402


@click.command()
@click.option("--runs-per-point", default=50, show_default=True, type=int)
@click.option("--posts-per-run", default=2, show_default=True, type=int)
@click.option("--rounds", default=100, show_default=True, type=int)
@click.option("--round-posts", default=12, show_default=True, type=int)
@click.option("--round-spread", default=3.0, show_default=True, type=float)
@click.option("--lanes", default=2, show_default=True, type=int)
@click.option("--lease", default=5, show_default=True, type=click.IntRange(5))
@click.option("--seed", default=1, show_default=True, type=int)
def main(
    runs_per_point: int,
    posts_per_run: int,
    rounds: int,
    round_posts: int,
    round_spread: float,
    lanes: int,
    lease: int,
    seed: int,
) -> None:
    plan = Plan(
        runs_per_point=runs_per_point,
        posts_per_run=posts_per_run,
        rounds=rounds,
        round_posts=round_posts,
        round_spread_seconds=round_spread,
        lanes=lanes,
        lease_seconds=lease,
        seed=seed,
    )
    # The harness's own servers log at debug; only their problems matter here.
    configure_logging("console", "warning")
    click.echo(f"plan: {plan}")
    cluster = start_cluster()
    workdir = Path(tempfile.mkdtemp(prefix="publisher-chaos-"))
    started = time.monotonic()
    try:
        figures = run_plan(plan, cluster.url, workdir, say=click.echo)
    finally:
        cluster.stop()
    elapsed = time.monotonic() - started
    click.echo(table(figures))
    click.echo(f"elapsed: {elapsed:.0f} s")
    problems = [p for f in figures.values() for p in f.problems]
    for problem in problems[:50]:
        click.echo(f"problem: {problem}")
    if problems:
        click.echo(f"daemon logs kept in {workdir}")
        sys.exit(1)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
